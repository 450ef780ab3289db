"""Small numpy signal helpers shared by the postfilter and the evaluation (no torch)."""

from __future__ import annotations

import numpy as np


def envelope(audio: np.ndarray, frame: int = 512) -> np.ndarray:
    """(T,) -> (T,) RMS over ``frame``-sample frames, linearly interpolated between frame centres."""
    n = audio.size
    rms = np.sqrt(np.mean(np.pad(audio, (0, -n % frame)).reshape(-1, frame) ** 2, axis=1))
    return np.interp(np.arange(n), np.arange(rms.size) * frame + frame / 2, rms)


def moving_sum(a: np.ndarray, window: int) -> np.ndarray:
    """(T,) sums of ``a`` over a centred window of ``window`` samples (shorter at the ends)."""
    c = np.concatenate([[0.0], np.cumsum(a)])
    n = a.size
    half = window // 2
    hi = np.minimum(np.arange(n) + window - half, n)
    lo = np.maximum(np.arange(n) - half, 0)
    return c[hi] - c[lo]
