"""The parallel decoder's harmonic bank compiled with numba, for generation: each sample's
amplitudes read from the control frames, masked at Nyquist and folded, and summed over the
harmonics by Clenshaw's recurrence in one pass, instead of (B, K, T) tables of amplitudes and
masks and a torch pass over the note per harmonic (cached on disk by numba, so compiled once
per install). Tested equal to ``ParallelDecoder``'s torch path within float rounding; training
keeps the torch path (it needs gradients)."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from numba import njit

log = logging.getLogger("nsynth")


@njit(cache=True)
def bank_kernel(
    f0: np.ndarray,
    phi: np.ndarray,
    audible: np.ndarray,
    folded: np.ndarray,
    safe: int,
    first: int,
    nyquist: float,
    limit: float,
) -> np.ndarray:
    """sum_k a_k(t) sin((k + 1) phi(t)) for (B, T) float32 f0 (Hz) and float64 phase phi.

    ``audible`` (B, K, Tc) float32: harmonic k's amplitude per control frame; from harmonic
    ``safe`` on it is silenced where (k + 1) f0(t) >= ``nyquist``. ``folded`` (B, K - first, Tc):
    harmonic first + j's folded amplitude, added where nyquist <= (k + 1) f0(t) < ``limit``
    (an empty array: none). Returns (B, T) float64."""
    b_n, t_n = f0.shape
    k_n, tc = audible.shape[1], audible.shape[2]
    scale = np.float32(tc) / np.float32(t_n)
    nyq, lim = np.float32(nyquist), np.float32(limit)
    has_fold = folded.shape[1] > 0
    out = np.empty((b_n, t_n))
    for t in range(t_n):
        # the frames around sample t and its weight between their centres, as torch's
        # F.interpolate(mode="linear", align_corners=False) reads them (in float32), held at the ends
        src = scale * np.float32(t + 0.5) - np.float32(0.5)
        if src < 0:
            src = np.float32(0.0)
        lo = int(src)
        w = src - np.float32(lo)
        hi = lo + 1 if lo < tc - 1 else lo
        v = np.float32(1.0) - w
        for b in range(b_n):
            f = f0[b, t]
            p = phi[b, t]
            two_x = 2.0 * math.cos(p)
            b1 = 0.0
            b2 = 0.0
            for k in range(k_n - 1, -1, -1):
                kf = np.float32(k + 1) * f
                a = v * audible[b, k, lo] + w * audible[b, k, hi]
                if k >= safe and not kf < nyq:
                    a = np.float32(0.0)
                if has_fold and k >= first and kf >= nyq and kf < lim:
                    a = a + (v * folded[b, k - first, lo] + w * folded[b, k - first, hi])
                b1, b2 = np.float64(a) + two_x * b1 - b2, b1
            out[b, t] = b1 * math.sin(p)
    return out


def fused_bank(
    f0: torch.Tensor,
    phi: torch.Tensor,
    audible: torch.Tensor,
    folded: torch.Tensor | None,
    safe: int,
    first: int,
    nyquist: float,
    limit: float,
) -> torch.Tensor:
    """``bank_kernel`` on torch tensors: (B, T) f0 (Hz) and phase (float64), (B, K, Tc) amplitudes
    per control frame and (B, K - first, Tc) folded ones (None: none folds) -> (B, T) float32."""
    f = np.ascontiguousarray(f0.detach().float().numpy())
    a = np.ascontiguousarray(audible.detach().float().numpy())
    if folded is None:
        g = np.zeros((a.shape[0], 0, a.shape[2]), np.float32)
    else:
        g = np.ascontiguousarray(folded.detach().float().numpy())
    p = np.ascontiguousarray(phi.detach().double().numpy())
    args = (f, p, a, g, int(safe), int(first), float(nyquist), float(limit))
    from nsynth.jit import needs_compiling

    if needs_compiling(bank_kernel, args):
        log.info("compiling the harmonic bank kernel (once: later runs load it from numba's cache) ...")
    return torch.from_numpy(bank_kernel(*args)).float()
