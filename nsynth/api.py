"""The public Python API: encode, decode and reconstruct notes (numpy in, numpy out).

Every function takes an optional ``model``; without one, the packaged default model is
loaded (once per process). Audio is (T,) float; embeddings are (frames, latent_dim).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from nsynth.audio import resample
from nsynth.errors import NSynthError
from nsynth.generation import encode_audio, generate_audio
from nsynth.generation.options import Sampling
from nsynth.model import NSynthAutoencoder
from nsynth.pitch import AUTO, estimate_pitch, f0_frames, f0_track, note_f0, note_name, parse_pitch
from nsynth.weights import load_model

log = logging.getLogger("nsynth")


@functools.lru_cache(maxsize=1)
def _default_model() -> NSynthAutoencoder:
    return load_model(None)


def _model(model: NSynthAutoencoder | None) -> NSynthAutoencoder:
    return model if model is not None else _default_model()


def _at_model_rate(model: NSynthAutoencoder, audio: np.ndarray, sr: int | None, name: str = "audio") -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise NSynthError(f"{name}: must be a non-empty mono (T,) array, got shape {audio.shape}")
    if not np.isfinite(audio).all():
        raise NSynthError(f"{name}: contains NaN or infinite samples")
    rate = model.config.sample_rate
    return resample(audio, sr, rate) if sr is not None and sr != rate else audio


def encode(audio: np.ndarray, sr: int | None = None, *, model: NSynthAutoencoder | None = None) -> np.ndarray:
    """(T,) audio at ``sr`` (default: the model rate) -> (ceil(T' / hop), latent_dim) float32.

    T' is the length at the model rate; the end is zero-padded to a whole frame.
    """
    m = _model(model)
    return encode_audio(m, _at_model_rate(m, audio, sr))[0]


def resolve_pitch(
    audio: np.ndarray,
    pitch: int | str | None,
    *,
    model: NSynthAutoencoder | None = None,
    name: str = "audio",
    track: np.ndarray | None = None,
) -> int | None:
    """The MIDI pitch to condition on: ``pitch`` (a MIDI number or note name, see
    ``nsynth.pitch.parse_pitch``) if given, estimated when 'auto'/None, and None for models
    without pitch conditioning. ``audio`` (T,) is at the model rate; ``track``: its
    ``f0_track`` at the model's hop, when the caller has it (no second pYIN pass)."""
    m = _model(model)
    p = parse_pitch(AUTO if pitch is None else pitch)
    if not m.config.pitch_conditioning:
        return None
    if p == AUTO:
        sr = m.config.sample_rate
        if track is None:
            log.info("estimating the pitch of %s ...", name)
            midi = estimate_pitch(audio, sr, name).midi
        else:  # the caller ran pYIN (and said so)
            midi = estimate_pitch(audio, sr, name, track=track, hop=m.config.hop).midi
        log.info("%s: pitch %d (estimated: %s; give a pitch to override)", name, midi, note_name(midi))
        return midi
    return p


def resolve_f0(
    audio: np.ndarray,
    pitch: int | str | None,
    follow_f0: bool | None = None,
    *,
    model: NSynthAutoencoder | None = None,
    track: np.ndarray | None = None,
    midi: int | None = None,
) -> np.ndarray | None:
    """The f0 curve (frames,) in Hz that a pitch-locked model's period follows, or None to follow the MIDI pitch.

    ``follow_f0`` None: the audio's own f0 curve (pYIN per frame) when ``pitch`` is 'auto'/None,
    the MIDI pitch when one is given; True/False: always/never the audio's curve. None also
    for models without pitch lock and for audio with no voiced frame. For a parallel model,
    whose harmonics sit exactly on the curve, it is ``nsynth.pitch.note_f0`` around the note's
    MIDI pitch (``midi``, the caller's ``resolve_pitch``, or else resolved here): to 0.25 cent
    and free of pYIN's octave errors. ``audio`` is at the model rate; ``track`` as in
    ``resolve_pitch``.
    """
    m = _model(model)
    p = parse_pitch(AUTO if pitch is None else pitch)
    if not _follows_f0(m, p, follow_f0):
        return None
    sr, hop = m.config.sample_rate, m.config.hop
    if m.parallel:
        if track is None:
            track = f0_track(audio, sr, hop)  # one pYIN pass for the pitch and the curve
        if midi is None:
            if f0_frames(audio, sr, hop, track=track) is None:
                return None  # nothing voiced (as for any model)
            midi = resolve_pitch(audio, p, model=m, track=track)
        return note_f0(audio, sr, midi, hop, track=track)
    return f0_frames(audio, sr, hop, track=track)


def _follows_f0(m: NSynthAutoencoder, pitch: int | str, follow_f0: bool | None) -> bool:
    """Whether the period follows the audio's f0 curve: by default when the pitch is 'auto'."""
    return m.pitch_locked and (pitch == AUTO if follow_f0 is None else follow_f0)


@dataclass(frozen=True)
class NotePitch:
    """A note's pitch, resolved once (``note_pitch``) and carried to the decoder as it is.

    midi: the MIDI pitch the decoder is conditioned on (None: the model takes none).
    f0: (frames,) f0 curve in Hz that a pitch-locked model's period follows (None: ``midi``'s).
    """

    midi: int | None
    f0: np.ndarray | None = None


def note_pitch(
    audio: np.ndarray,
    pitch: int | str | None = AUTO,
    follow_f0: bool | None = None,
    *,
    model: NSynthAutoencoder | None = None,
    name: str = "audio",
) -> NotePitch:
    """``resolve_pitch`` and ``resolve_f0`` of (T,) ``audio`` at the model rate, as one ``NotePitch``.

    Functions that take a pitch also take its ``NotePitch``: resolve a note once (e.g. to report
    a note whose pitch cannot be found, or to write the pitch found in a manifest) and pass it on."""
    m = _model(model)
    p = parse_pitch(AUTO if pitch is None else pitch)
    # both need pYIN: one pass gives the pitch and the curve
    both = p == AUTO and m.config.pitch_conditioning and _follows_f0(m, p, follow_f0)
    track = None
    if both:
        log.info("estimating the pitch of %s ...", name)
        track = f0_track(audio, m.config.sample_rate, m.config.hop)
    midi = resolve_pitch(audio, p, model=m, name=name, track=track)
    return NotePitch(midi, resolve_f0(audio, p, follow_f0, model=m, track=track, midi=midi))


def _midis(m: NSynthAutoencoder, pitches: Sequence[NotePitch]) -> list[int] | None:
    """The MIDI pitches to condition on (None for a model without pitch conditioning)."""
    if not m.config.pitch_conditioning:
        return None
    if any(p.midi is None for p in pitches):
        raise NSynthError("this model is pitch-conditioned: every note needs a MIDI pitch")
    return [int(p.midi) for p in pitches]


def decode(
    embeddings: np.ndarray,
    pitch: int | str | None = None,
    *,
    model: NSynthAutoencoder | None = None,
    length: int | None = None,
    sampling: Sampling | None = None,
    f0: np.ndarray | None = None,
) -> np.ndarray:
    """(frames, latent_dim) embeddings (+ pitch: MIDI number or note name) -> (length,) audio at the model rate.

    ``length`` defaults to frames * hop samples. ``f0``: a (frames,) f0 curve in Hz for a
    pitch-locked model's period (e.g. ``f0_frames`` of the audio encoded), else the pitch's.
    """
    m = _model(model)
    if pitch is not None:
        pitch = parse_pitch(pitch, auto=False)
    elif m.config.pitch_conditioning:
        raise NSynthError("this model is pitch-conditioned: give a pitch (a MIDI number or a note name such as C4)")
    return generate_audio(
        m,
        [embeddings],
        None if pitch is None else [pitch],
        None if length is None else [length],
        sampling=sampling,
        f0=None if f0 is None else [f0],
    )[0]


def reconstruct(
    audio: np.ndarray | Sequence[np.ndarray],
    sr: int | None = None,
    pitch: int | str | NotePitch | Sequence[int | str | NotePitch] | None = AUTO,
    *,
    model: NSynthAutoencoder | None = None,
    sampling: Sampling | None = None,
    follow_f0: bool | None = None,
) -> list[np.ndarray]:
    """Encode and re-synthesise notes as one batch; each output has its input's length
    (at the model rate). ``pitch``: one value for all notes, or one per note: a MIDI number,
    a note name ('C4'), 'auto' (estimated) or a ``NotePitch`` already resolved (used as it is).
    ``follow_f0``: whether a pitch-locked model's period follows each note's own f0 curve
    (default: where its pitch is 'auto'; see ``resolve_f0``)."""
    m = _model(model)
    notes = [_at_model_rate(m, a, sr) for a in ([audio] if isinstance(audio, np.ndarray) else audio)]
    pitches = list(pitch) if isinstance(pitch, (list, tuple)) else [pitch] * len(notes)
    if len(pitches) != len(notes):
        raise NSynthError(f"{len(pitches)} pitches for {len(notes)} notes")
    resolved = [p if isinstance(p, NotePitch) else note_pitch(a, p, follow_f0, model=m) for a, p in zip(notes, pitches)]
    log.info("encoding %d note%s ...", len(notes), "s" * (len(notes) > 1))
    return generate_audio(
        m,
        encode_audio(m, notes),
        _midis(m, resolved),
        [a.size for a in notes],
        sampling=sampling,
        f0=[r.f0 for r in resolved],
    )
