"""Latent interpolation between two notes.

Rule for notes of different lengths: the shorter one is padded with silence to the
longer one's length before encoding, so every output has the longer length and no audio
of either note is lost.
"""

from __future__ import annotations

import numpy as np

from nsynth.api import _at_model_rate, _model, resolve_f0, resolve_pitch
from nsynth.generation import encode_audio, generate_audio
from nsynth.model import NSynthAutoencoder


def alphas(steps: int) -> np.ndarray:
    """``steps`` mixing weights from 0 (pure A) to 1 (pure B), evenly spaced."""
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    return np.linspace(0.0, 1.0, steps)


def interpolate(
    a: np.ndarray,
    b: np.ndarray,
    steps: int = 5,
    *,
    sr: int | None = None,
    pitch: int | str | None = "auto",
    model: NSynthAutoencoder | None = None,
    temperature: float | None = None,
    greedy: bool = False,
    seed: int | None = 0,
    backend: str = "auto",
    precision: str = "auto",
    progress: bool = True,
    follow_f0: bool | None = None,
) -> list[np.ndarray]:
    """Generate ``steps`` notes whose embeddings are (1 - alpha) * z_A + alpha * z_B.

    Args:
        a, b: (T_a,), (T_b,) audio at ``sr`` (default: the model rate).
        pitch: MIDI pitch for every step; 'auto' estimates A's pitch.
        follow_f0: whether a pitch-locked model's period follows A's f0 curve (default: when
            ``pitch`` is 'auto'; see ``nsynth.api.resolve_f0``).
    Returns:
        ``steps`` float32 arrays (max(T_a, T_b),) at the model rate, alpha = 0 first.
    """
    m = _model(model)
    a, b = _at_model_rate(m, a, sr), _at_model_rate(m, b, sr)
    n = max(a.size, b.size)
    a, b = np.pad(a, (0, n - a.size)), np.pad(b, (0, n - b.size))
    p = resolve_pitch(a, pitch, model=m, name="A")
    curve = resolve_f0(a, pitch, follow_f0, model=m)
    za, zb = encode_audio(m, [a, b])
    zs = [((1 - w) * za + w * zb).astype(np.float32) for w in alphas(steps)]
    return generate_audio(
        m,
        zs,
        None if p is None else [p] * steps,
        [n] * steps,
        temperature=temperature,
        greedy=greedy,
        seed=seed,
        backend=backend,
        precision=precision,
        progress=progress,
        f0=[curve] * steps,
    )
