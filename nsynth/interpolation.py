"""Between two notes: latent interpolation, morphs, and the audio-domain crossfade they are heard against.

Rule for notes of different lengths: the shorter one is padded with silence to the longer
one's length before encoding, so every output has the longer length and no audio of either
note is lost.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from nsynth.errors import NSynthError
from nsynth.generation.options import Sampling

if TYPE_CHECKING:
    from nsynth.api import NotePitch
    from nsynth.model import NSynthAutoencoder

# The model, torch and librosa are imported where they are used: ``alphas`` and ``crossfade``
# (the command line's output names and checks) need none of them.

AUTO = "auto"  # as nsynth.pitch.AUTO
log = logging.getLogger("nsynth")

CURVES = ("linear", "ease", "hold")


def alphas(steps: int) -> np.ndarray:
    """``steps`` mixing weights from 0 (pure A) to 1 (pure B), evenly spaced."""
    if steps < 2:
        raise NSynthError(f"steps must be at least 2, got {steps}")
    return np.linspace(0.0, 1.0, steps)


def morph_curve(frames: int, curve: str = "linear") -> np.ndarray:
    """(frames,) mixing weight of B per embedding frame, from 0 at the start to 1 at the end.

    linear: evenly; ease: smoothstep 3x^2 - 2x^3 (slow at both ends); hold: A for the first
    third, a linear move in the middle third, B for the last third.
    """
    if curve not in CURVES:
        raise NSynthError(f"unknown curve {curve!r}; choose one of {CURVES}")
    x = np.linspace(0.0, 1.0, frames) if frames > 1 else np.ones(1)
    if curve == "ease":
        return 3 * x**2 - 2 * x**3
    if curve == "hold":
        return np.clip((x - 1 / 3) * 3, 0.0, 1.0)
    return x


def morph_embeddings(za: np.ndarray, zb: np.ndarray, curve: str = "linear") -> np.ndarray:
    """(F, D) embeddings whose frame f is (1 - a_f) za[f] + a_f zb[f] with a = morph_curve."""
    a = morph_curve(za.shape[0], curve)[:, None]
    return ((1 - a) * za + a * zb).astype(np.float32)


def crossfade(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """The audio-domain baseline: (1 - alpha) a + alpha b, the shorter padded with silence."""
    n = max(a.size, b.size)
    return ((1 - alpha) * np.pad(a, (0, n - a.size)) + alpha * np.pad(b, (0, n - b.size))).astype(np.float32)


SOURCES = ("a", "b")


def _pair(
    m: NSynthAutoencoder, a: np.ndarray, b: np.ndarray, sr: int | None, names: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Both notes at the model rate, the shorter padded with silence to the longer one's length."""
    from nsynth.api import _at_model_rate

    a, b = _at_model_rate(m, a, sr, names[0]), _at_model_rate(m, b, sr, names[1])
    n = max(a.size, b.size)
    return np.pad(a, (0, n - a.size)), np.pad(b, (0, n - b.size))


def pair_pitch(
    a: np.ndarray,
    b: np.ndarray,
    *,
    sr: int | None = None,
    pitch: int | str | None = AUTO,
    pitch_from: str = "a",
    model: NSynthAutoencoder | None = None,
    follow_f0: bool | None = None,
    names: tuple[str, str] = ("A", "B"),
) -> NotePitch:
    """The pitch ``interpolate`` and ``morph`` play notes A and B at, resolved once (pass it on as their ``pitch``).

    ``pitch``: a MIDI number or note name, or 'auto': estimated from note ``pitch_from`` ("a"
    or "b"), whose f0 curve then leads a pitch-locked model's period (see ``nsynth.api.resolve_f0``).
    """
    from nsynth.api import _model, note_pitch

    m = _model(model)
    k = _source(pitch_from)
    pair = _pair(m, a, b, sr, names)
    return note_pitch(pair[k], pitch, follow_f0, model=m, name=names[k])


def _source(pitch_from: str) -> int:
    source = str(pitch_from).lower()
    if source not in SOURCES:
        raise NSynthError(f"pitch_from {pitch_from!r}: choose 'a' or 'b'")
    return SOURCES.index(source)


def _encode_pair(
    m: NSynthAutoencoder,
    a: np.ndarray,
    b: np.ndarray,
    sr: int | None,
    pitch: int | str | NotePitch | None,
    pitch_from: str,
    follow_f0: bool | None,
    names: tuple[str, str],
) -> tuple[np.ndarray, np.ndarray, int, NotePitch]:
    """Both notes at the model rate, padded to one length n, encoded: (za, zb, n, their pitch)."""
    from nsynth.api import NotePitch, note_pitch
    from nsynth.generation.render import encode_audio

    k = _source(pitch_from)
    a, b = _pair(m, a, b, sr, names)
    if not isinstance(pitch, NotePitch):
        pitch = note_pitch((a, b)[k], pitch, follow_f0, model=m, name=names[k])
    log.info("encoding %s and %s ...", *names)
    za, zb = encode_audio(m, [a, b])
    return za, zb, a.size, pitch


def interpolate(
    a: np.ndarray,
    b: np.ndarray,
    steps: int = 5,
    *,
    sr: int | None = None,
    pitch: int | str | NotePitch | None = AUTO,
    pitch_from: str = "a",
    model: NSynthAutoencoder | None = None,
    sampling: Sampling | None = None,
    follow_f0: bool | None = None,
    names: tuple[str, str] = ("A", "B"),
) -> list[np.ndarray]:
    """Generate ``steps`` notes whose embeddings are (1 - alpha) * z_A + alpha * z_B.

    Every step samples with the same random draws, so the steps differ only by their
    embedding, not by sampling noise.

    Args:
        a, b: (T_a,), (T_b,) audio at ``sr`` (default: the model rate).
        pitch: a MIDI number or note name ('C4') for every step, 'auto' (estimated from note
            ``pitch_from``), or a ``NotePitch`` from ``pair_pitch``.
        pitch_from: "a" or "b": the note whose pitch 'auto' estimates.
        follow_f0: whether a pitch-locked model's period follows that note's f0 curve (default:
            when ``pitch`` is 'auto'; see ``nsynth.api.resolve_f0``).
        names: what messages call A and B (e.g. their file names).
    Returns:
        ``steps`` float32 arrays (max(T_a, T_b),) at the model rate, alpha = 0 first.
    """
    from nsynth.api import _midis, _model
    from nsynth.generation.render import generate_audio

    m = _model(model)
    weights = alphas(steps)
    za, zb, n, p = _encode_pair(m, a, b, sr, pitch, pitch_from, follow_f0, names)
    zs = [((1 - w) * za + w * zb).astype(np.float32) for w in weights]
    pitches, lengths, f0 = _midis(m, [p] * steps), [n] * steps, [p.f0] * steps
    return generate_audio(m, zs, pitches, lengths, sampling=sampling, f0=f0, draws=[0] * steps)


def morph(
    a: np.ndarray,
    b: np.ndarray,
    curve: str = "linear",
    *,
    sr: int | None = None,
    pitch: int | str | NotePitch | None = AUTO,
    pitch_from: str = "a",
    model: NSynthAutoencoder | None = None,
    sampling: Sampling | None = None,
    follow_f0: bool | None = None,
    names: tuple[str, str] = ("A", "B"),
) -> np.ndarray:
    """One note whose timbre moves from A to B over its length: frame f of its embedding mixes
    z_A[f] and z_B[f] by ``morph_curve(frames, curve)[f]``.

    Args: as ``interpolate``; ``curve``: "linear", "ease" or "hold".
    Returns:
        (max(T_a, T_b),) float32 at the model rate.
    """
    from nsynth.api import _midis, _model
    from nsynth.generation.render import generate_audio

    m = _model(model)
    morph_curve(1, curve)  # rejects an unknown curve before any work
    za, zb, n, p = _encode_pair(m, a, b, sr, pitch, pitch_from, follow_f0, names)
    z = morph_embeddings(za, zb, curve)
    return generate_audio(m, [z], _midis(m, [p]), [n], sampling=sampling, f0=[p.f0])[0]
