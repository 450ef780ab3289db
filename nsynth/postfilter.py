"""Pitch-synchronous postfilter: clean the noise floor between a note's harmonics after generation.

The decoder knows the pitch period P[t] of every sample it writes (the pitch lock's input), so a
render can be averaged with itself whole periods away: what repeats every period (the
harmonics) adds up, what does not (the sampling noise between them) averages out. Codecs do the
same (Opus CELT's pitch post-filter, G.729's long-term postfilter). Here the filter runs offline
on the finished render, zero-phase, and adapts per sample:

- **taps**: x(t + kP[t]) for k = ±1 ... ±K (K = 16 periods each side), Hann-weighted over k,
  read between samples by Lanczos interpolation for fractional P;
- **onsets**: each tap is weighted by how alike the short-time envelope is at the two places
  ((quieter / louder)^2), so an attack is neither copied ahead of its onset nor averaged with
  the silence before it;
- **limit**: the output's energy over 1 ms never exceeds the input's, which removes what the
  onset gate lets through ahead of an attack;
- **voicing**: the filter's strength follows the render's own periodicity at lag P (the
  normalised correlation of x(t) and x(t - P) over ~64 ms): a render that does not repeat at
  P (unvoiced, inharmonic, a wrong period) is left nearly alone.

    y = x + strength * voicing * (comb(x) - x)
"""

from __future__ import annotations

from dataclasses import dataclass

import logging

import numpy as np

from nsynth.dsp import moving_sum

log = logging.getLogger("nsynth")

#: The recommended settings (``Sampling(postfilter=None)`` / ``--postfilter auto`` on pitch-locked
#: models); chosen on held-out programs of another font than the one docs/model-card.md reports on
#: (``scripts/postfilter_sweep.py``).
DEFAULT_STRENGTH = 1.0


@dataclass(frozen=True)
class PostfilterShape:
    """The filter's shape, apart from its strength (see the module docstring).

    Attributes:
        periods: taps on each side, one period apart (Hann-weighted over them).
        envelope_frame: samples of the centred window of the RMS envelope that gates taps across onsets.
        voicing_window: samples over which the periodicity at lag P is measured.
        voicing_low, voicing_high: periodicity (normalised correlation at lag P) at which the
            filter starts to act, and at which it acts fully.
        limit_window: samples of the centred window in which the output's energy is held at
            or below the input's (what is left of a pre-echo before an onset).
    """

    periods: int = 16
    envelope_frame: int = 64
    voicing_window: int = 1024
    voicing_low: float = 0.2
    voicing_high: float = 0.6
    limit_window: int = 16


DEFAULT_SHAPE = PostfilterShape()


def pitch_postfilter(
    audio: np.ndarray,
    period: np.ndarray,
    strength: float = DEFAULT_STRENGTH,
    *,
    shape: PostfilterShape = DEFAULT_SHAPE,
) -> np.ndarray:
    """Filter one render at the pitch period it was generated with.

    Args:
        audio: (T,) float samples.
        period: (T,) pitch period in samples (>= 1) at every sample, e.g. ``model.period``'s row.
        strength: 0 leaves the audio as it is, 1 applies the filter fully where the render is voiced.
        shape: taps, onset gate and voicing of the filter (windows in samples).
    Returns:
        (T,) float32 filtered audio.
    """
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    p = np.asarray(period, dtype=np.float64).reshape(-1)
    if p.size != x.size:
        raise ValueError(f"period has {p.size} samples, audio {x.size}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"postfilter strength {strength} must be in [0, 1]")
    if strength == 0.0 or x.size < 2:
        return x.astype(np.float32)
    p = np.maximum(p, 1.0)
    comb = _comb(x, p, shape)
    voicing = _voicing(x, p, shape)
    y = x + strength * voicing * (comb - x)
    return (y * _limit(x, y, shape.limit_window)).astype(np.float32)


def _tap_envelope(x: np.ndarray, shape: PostfilterShape) -> np.ndarray:
    """(T,) RMS of x over a centred ``envelope_frame``-sample window: what gates taps across onsets."""
    return np.sqrt(np.maximum(moving_sum(x * x, shape.envelope_frame), 0.0) / shape.envelope_frame)


def _comb(x: np.ndarray, p: np.ndarray, shape: PostfilterShape) -> np.ndarray:
    """(T,) Hann-weighted, onset-gated average of x over taps whole periods away: the compiled
    kernel (``nsynth.postfilter_kernel.comb_kernel``, tested equal to ``_comb_reference``)."""
    from nsynth.jit import needs_compiling
    from nsynth.postfilter_kernel import comb_kernel

    env = _tap_envelope(x, shape)
    args = (np.ascontiguousarray(x, np.float64), np.ascontiguousarray(p, np.float64), env, shape.periods, LANCZOS)
    if needs_compiling(comb_kernel, args):
        log.info("compiling the postfilter kernel (once: later runs load it from numba's cache) ...")
    return comb_kernel(*args)


def _comb_reference(x: np.ndarray, p: np.ndarray, shape: PostfilterShape) -> np.ndarray:
    """``_comb`` in numpy, one tap at a time over the whole signal: the ground truth of the kernel."""
    n = x.size
    t = np.arange(n, dtype=np.float64)
    env = _tap_envelope(x, shape)
    acc, weight = x.copy(), np.ones(n)
    for k in range(1, shape.periods + 1):
        w_time = 0.5 * (1.0 + np.cos(np.pi * k / (shape.periods + 1)))
        for sign in (1.0, -1.0):
            pos = t + sign * k * p
            inside = (pos >= 0) & (pos <= n - 1)
            pos = np.clip(pos, 0, n - 1)
            val = _read(x, pos)
            lo = np.minimum(pos.astype(np.int64), n - 2)
            e_tap = env[lo] + (env[lo + 1] - env[lo]) * (pos - lo)
            gate = (np.minimum(env, e_tap) / np.maximum(np.maximum(env, e_tap), 1e-12)) ** 2
            w = np.where(inside, w_time * gate, 0.0)
            acc += w * val
            weight += w
    return acc / weight


LANCZOS = 6  # half-width of ``_read``'s interpolation kernel


def _read(x: np.ndarray, pos: np.ndarray, a: int = LANCZOS) -> np.ndarray:
    """x at fractional positions ``pos`` (within [0, T - 1]) by Lanczos interpolation over 2a
    samples (normalised weights), which keeps a high note's upper harmonics within ~50 dB where
    linear or cubic interpolation would dull them."""
    n = x.size
    i = np.floor(pos).astype(np.int64)
    f = pos - i
    out, total = np.zeros_like(pos), np.zeros_like(pos)
    for d in range(1 - a, a + 1):
        u = d - f
        w = np.sinc(u) * np.sinc(u / a)
        out += w * x[np.clip(i + d, 0, n - 1)]
        total += w
    return out / total


def _limit(x: np.ndarray, y: np.ndarray, window: int) -> np.ndarray:
    """(T,) gain <= 1 that keeps y's short-time energy at or below x's (no pre-echo before an onset)."""
    ex = moving_sum(x * x, window)
    ey = moving_sum(y * y, window)
    return np.sqrt(np.minimum(1.0, ex / np.maximum(ey, 1e-20)))


def _voicing(x: np.ndarray, p: np.ndarray, shape: PostfilterShape) -> np.ndarray:
    """(T,) in [0, 1]: how periodic x is at lag P around each sample (0: not at all)."""
    n = x.size
    pos = np.arange(n, dtype=np.float64) - p
    lo = np.clip(np.floor(pos).astype(np.int64), 0, n - 2)
    frac = np.clip(pos - lo, 0.0, 1.0)
    lagged = np.where(pos >= 0, x[lo] * (1 - frac) + x[lo + 1] * frac, 0.0)
    xy = moving_sum(x * lagged, shape.voicing_window)
    xx = moving_sum(x * x, shape.voicing_window)
    yy = moving_sum(lagged * lagged, shape.voicing_window)
    corr = xy / np.sqrt(np.maximum(xx * yy, 1e-20))
    span = max(shape.voicing_high - shape.voicing_low, 1e-6)
    return np.clip((corr - shape.voicing_low) / span, 0.0, 1.0)
