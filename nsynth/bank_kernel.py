"""The parallel decoder's harmonic bank and its filter's time-varying FIR compiled with numba,
for generation. The bank: each sample's amplitudes read from the control frames, masked at
Nyquist and folded, and summed over the harmonics by Clenshaw's recurrence in one pass, instead
of (B, K, T) tables of amplitudes and masks and a torch pass over the note per harmonic. The
FIR: each sample's taps read from the folded steps and applied in the same pass, instead of a
(B, 71, T) table of coefficients and two einsums over strided windows. Cached on disk by numba,
so compiled once per install. Tested equal to ``ParallelDecoder``'s torch path within float
rounding; training keeps the torch path (it needs gradients)."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from numba import njit

log = logging.getLogger("nsynth")


@njit(cache=True)
def _between(t: int, scale: np.float32, frames: int) -> tuple[int, int, np.float32, np.float32]:
    """The frames around output sample t and their weights (lo, hi, 1 - w, w), as torch's
    ``F.interpolate(mode="linear", align_corners=False)`` reads them (in float32), held at the
    ends; ``scale`` is frames / samples."""
    src = scale * np.float32(t + 0.5) - np.float32(0.5)
    if src < 0:
        src = np.float32(0.0)
    lo = int(src)
    w = src - np.float32(lo)
    hi = lo + 1 if lo < frames - 1 else lo
    return lo, hi, np.float32(1.0) - w, w


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
        lo, hi, v, w = _between(t, scale, tc)
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
    return torch.from_numpy(_run(bank_kernel, args, "the harmonic bank kernel")).float()


@njit(cache=True)
def fir_kernel(harm: np.ndarray, noise: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """The parallel filter's output (before its level): for (B, T) float32 ``harm`` and ``noise``
    and (B, 2 (2 D + 1) + 1, N) float32 coefficients per folded step (N dividing T), each read at
    sample t by linear interpolation between step centres (as ``bank_kernel`` reads its frames),
    y(t) = sum_d c_d(t) harm(t + d - D) + sum_d c_(2 D + 1 + d)(t) noise(t + d - D) + c_last(t),
    zero beyond the ends. Returns (B, T) float32."""
    b_n, t_n = harm.shape
    rows, n = coef.shape[1], coef.shape[2]
    k = (rows - 1) // 2
    d_half = (k - 1) // 2
    scale = np.float32(n) / np.float32(t_n)
    out = np.empty((b_n, t_n), np.float32)
    for t in range(t_n):
        lo, hi, v, w = _between(t, scale, n)
        for b in range(b_n):
            acc = v * coef[b, rows - 1, lo] + w * coef[b, rows - 1, hi]
            for d in range(k):
                j = t + d - d_half
                if j < 0 or j >= t_n:
                    continue
                ch = v * coef[b, d, lo] + w * coef[b, d, hi]
                cn = v * coef[b, k + d, lo] + w * coef[b, k + d, hi]
                acc += ch * harm[b, j] + cn * noise[b, j]
            out[b, t] = acc
    return out


def fused_fir(harm: torch.Tensor, noise: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """``fir_kernel`` on torch tensors: (B, T), (B, T), (B, 2 (2 D + 1) + 1, N) -> (B, T) float32."""
    args = tuple(np.ascontiguousarray(x.detach().float().numpy()) for x in (harm, noise, coef))
    return torch.from_numpy(_run(fir_kernel, args, "the filter's FIR kernel"))


def _run(kernel, args: tuple, what: str) -> np.ndarray:
    """``kernel(*args)``, saying first when this call compiles it (``nsynth.jit.needs_compiling``)."""
    from nsynth.jit import needs_compiling

    if needs_compiling(kernel, args):
        log.info(f"compiling {what} (once: later runs load it from numba's cache) ...")
    return kernel(*args)
