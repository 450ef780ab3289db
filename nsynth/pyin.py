"""pYIN f0 tracking (Mauch & Dixon 2014) with librosa's parameters and arithmetic, 9-12x
faster than ``librosa.pyin`` on a note and without its import chain (``scripts/bench_pitch.py``).

``librosa.pyin`` cost a command about 3 s on a 2 s note: 1.5-2 s to import ``librosa.core``
(scipy.signal, audio back-ends) and about 1.2 s in its Viterbi, which forms a dense matrix of
path scores over all state pairs on every frame (1,742 states for nsynth's A0-C8 range: 871
pitch bins, voiced and unvoiced). Here the same steps run on numpy and scipy.fft, and the
Viterbi is banded: a pitch moves at most 35.92 octaves/s (at 16 kHz, 7 semitones = 70 bins
either way per 512-sample hop, 14 per 1024), and every transition outside that band has one
and the same log-probability ``log(tiny)``, so for each state the best predecessor outside its
band is a prefix or suffix maximum, found in O(1).
Ties go to the lowest state index as in the dense argmax, so the path is the one librosa finds;
``tests/test_pyin.py`` holds the two to equal f0 and voicing (checked also on 76 real and
rendered notes, at hops 512 and 1024: all equal).

The steps (librosa 0.11 defaults throughout): centred frames of ``frame`` samples; YIN's
cumulative-mean-normalised difference over periods sr/fmax .. sr/fmin with parabolic
refinement; a Beta(2, 18) prior over 100 thresholds and a Boltzmann prior over the troughs
below each; observations on a 0.1-semitone grid of voiced states plus as many unvoiced ones;
a triangular transition over the band, 1 % voicing switches, uniform start.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
from numba import njit

from nsynth.jit import needs_compiling

log = logging.getLogger("nsynth")

THRESHOLDS = 100  # YIN thresholds, 0.01 .. 1
BETA = (2, 18)  # the prior over the thresholds
BOLTZMANN = 2  # the prior over the troughs below a threshold (smaller periods first)
BINS_PER_SEMITONE = 10
MAX_OCTAVES_PER_SECOND = 35.92
SWITCH_PROB = 0.01  # voiced <-> unvoiced per frame
NO_TROUGH_PROB = 0.01
TINY = float(np.finfo(np.float64).tiny)


def pyin(
    audio: np.ndarray, sr: int, fmin: float, fmax: float, frame: int = 2048, hop: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """(T,) float audio -> (f0 (F,) in Hz with NaN where unvoiced, voiced (F,) bool), frames
    centred on sample i * hop (zero-padded by frame // 2 at both ends, so F = 1 + T // hop for an
    even ``frame``); as ``librosa.pyin`` with its defaults. Raises ValueError on bad arguments."""
    y = np.asarray(audio)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.floating) or not np.isfinite(y).all():
        raise ValueError(f"pyin takes finite (T,) float audio, got {y.dtype} {y.shape}")
    if hop < 1 or frame < 3:
        raise ValueError(f"hop {hop} and frame {frame} must be positive (frame at least 3)")
    if not 0 < fmin < fmax <= sr / 2 or sr / fmin >= frame - 1:
        raise ValueError(f"fmin {fmin} / fmax {fmax} do not fit sr {sr} and frame {frame}")
    y = np.pad(y, frame // 2)
    frames = np.lib.stride_tricks.sliding_window_view(y, frame)[::hop].T  # (frame, F), as librosa.util.frame
    min_period = int(np.floor(sr / fmax))
    max_period = min(int(np.ceil(sr / fmin)), frame - 1)
    yin = _cmndf(frames, min_period, max_period)  # (periods, F)
    shifts = _parabolic_shifts(yin)

    bins = int(np.floor(12 * BINS_PER_SEMITONE * np.log2(fmax / fmin))) + 1
    width = round(MAX_OCTAVES_PER_SECOND * 12 * hop / sr) * BINS_PER_SEMITONE + 1  # odd: centred on a bin
    if width > bins:
        raise ValueError(f"a pitch can move over the whole range fmin {fmin} .. fmax {fmax} in one hop of {hop}")
    obs = _observations(yin, shifts, sr, min_period, fmin, bins)  # (2 * bins, F)
    same, switch = _log_transitions(bins, width)
    log_obs = np.ascontiguousarray(np.log(obs + TINY).T)  # (F, 2 * bins)
    log_init = np.log(1.0 / (2 * bins) + TINY)
    args = (log_obs, same, switch, width // 2, float(np.log(TINY)), float(log_init))
    if needs_compiling(viterbi_banded, args):
        log.info("compiling the pitch tracker's kernel (once: later runs load it from numba's cache) ...")
    states = viterbi_banded(*args)
    freqs = fmin * 2 ** (np.arange(bins) / (12 * BINS_PER_SEMITONE))
    voiced = states < bins
    f0 = freqs[states % bins]
    f0[~voiced] = np.nan
    return f0, voiced


def _cmndf(frames: np.ndarray, min_period: int, max_period: int) -> np.ndarray:
    """(frame, F) frames -> (max_period - min_period + 1, F) float64 cumulative-mean-normalised
    difference d'(k) for k = min_period .. max_period (with librosa's operations and dtypes)."""
    import scipy.fft  # 0.2 s, and exactly librosa's FFT (numpy.fft rounds differently)

    n_pad = scipy.fft.next_fast_len(2 * frames.shape[0] - 1, real=True)
    spec = scipy.fft.rfft(frames, n=n_pad, axis=0)
    acf = scipy.fft.irfft(spec.real**2 + spec.imag**2, n=n_pad, axis=0)[: max_period + 1]
    d = np.cumsum(np.square(frames), axis=0)  # energy of the first k samples, overwritten below
    k = slice(1, max_period + 1)
    d[0] = 0
    d[k] = 2 * (acf[0:1] - acf[k]) - d[: k.stop - 1]
    mean = np.cumsum(d[k], axis=0) / np.arange(1, max_period + 1)[:, None]
    den = mean[min_period - 1 : max_period]
    return d[min_period : max_period + 1] / (den + TINY)


def _parabolic_shifts(x: np.ndarray) -> np.ndarray:
    """(P, F) -> (P, F): the vertex offset of the parabola through each point and its two
    neighbours along axis 0; 0 at the ends and where it would move more than one period."""
    out = np.zeros_like(x)
    a = x[2:] + x[:-2] - 2 * x[1:-1]
    b = (x[2:] - x[:-2]) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        out[1:-1] = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a)
    return out


def _beta_probs() -> np.ndarray:
    """(THRESHOLDS,) the Beta prior's mass between consecutive thresholds."""
    from scipy.special import betainc  # loaded with scipy.fft

    return np.diff(betainc(BETA[0], BETA[1], np.linspace(0, 1, THRESHOLDS + 1)))


def _observations(
    yin: np.ndarray, shifts: np.ndarray, sr: int, min_period: int, fmin: float, bins: int
) -> np.ndarray:
    """(P, F) CMNDF and shifts -> (2 * bins, F) observation probabilities: voiced states get each
    trough's probability at its pitch bin; unvoiced states share 1 - the voiced total."""
    thresholds = np.linspace(0, 1, THRESHOLDS + 1)
    beta = _beta_probs()
    probs_at = np.zeros_like(yin)
    below = yin[1:-1] < yin[:-2]
    trough = np.zeros(yin.shape, bool)
    trough[1:-1] = below & (yin[1:-1] <= yin[2:])
    trough[0] = yin[0] < yin[1]
    trough[-1] = yin[-1] < yin[-2]
    for i in range(yin.shape[1]):
        (where,) = np.nonzero(trough[:, i])
        if where.size == 0:
            continue
        heights = yin[where, i]
        under = np.less.outer(heights, thresholds[1:])  # (troughs, thresholds)
        prior = _boltzmann(np.cumsum(under, axis=0) - 1, np.count_nonzero(under, axis=0), under.shape)
        prior[~under] = 0
        p = prior.dot(beta)
        lowest = np.argmin(heights)
        p[lowest] += NO_TROUGH_PROB * np.sum(beta[: np.count_nonzero(~under[lowest, :])])
        probs_at[where, i] = p

    period, col = np.nonzero(probs_at)  # troughs with a probability, by period then frame
    f0 = sr / (min_period + period + shifts[period, col])
    # an f0 above fmax lands on bin ``bins``, the first unvoiced state, overwritten below
    b = np.clip(np.round(12 * BINS_PER_SEMITONE * np.log2(f0 / fmin)), 0, bins).astype(int)
    obs = np.zeros((2 * bins, yin.shape[1]))
    obs[b, col] = probs_at[period, col]  # the last of two troughs in one bin wins
    voiced = np.clip(np.sum(obs[:bins, :], axis=0, keepdims=True), 0, 1)
    obs[bins:, :] = (1 - voiced) / bins
    return obs


def _boltzmann(k: np.ndarray, n: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """P(k) of the truncated geometric prior on 0 .. n - 1, (troughs, thresholds); 0 outside it
    (scipy.stats.boltzmann.pmf's formula, so its roundings)."""
    n = np.broadcast_to(n, shape)
    ok = (n > 0) & (k >= 0) & (k <= n - 1)
    out = np.zeros(shape)
    if ok.any():
        lam, kk, nn = np.full(int(ok.sum()), BOLTZMANN), k[ok], n[ok]
        fact = (1 - np.exp(-lam)) / (1 - np.exp(-lam * nn))
        out[ok] = np.clip(fact * np.exp(-lam * kk), 0, 1)
    return out


@functools.lru_cache(maxsize=4)
def _log_transitions(bins: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The in-band log transition probabilities, (bins, width) each: [i, d] from bin i to bin
    i + d - width // 2, within voicing (``same``) and across it (``switch``); -inf off the grid.
    Built as librosa does (a triangle per row, normalised over the row, times the 2 x 2 voicing
    switch) so that the numbers are its numbers."""
    assert width % 2 == 1 and width <= bins
    half = width // 2
    w = 2 * np.arange(1, half + 2, dtype=np.float64) / (width + 1.0)  # scipy.signal's symmetric triangle
    tri = np.concatenate([w, w[:-1][::-1]])
    local = np.zeros((bins, bins))
    row = np.pad(tri, ((bins - width) // 2, bins - width - (bins - width) // 2))
    for i in range(bins):
        r = np.roll(row, bins // 2 + i + 1)
        r[min(bins, i + half + 1) :] = 0
        r[: max(0, i - half)] = 0
        local[i] = r
    local /= local.sum(axis=1, keepdims=True)
    keep = 1 - SWITCH_PROB
    stay = np.array([[keep, 1.0 - keep], [1.0 - keep, keep]])  # librosa.sequence.transition_loop(2, keep)
    same, switch = np.full((bins, width), -np.inf), np.full((bins, width), -np.inf)
    for d in range(width):
        i = np.arange(max(0, half - d), min(bins, bins + half - d))
        same[i, d] = np.log(stay[0, 0] * local[i, i + d - half] + TINY)
        switch[i, d] = np.log(stay[0, 1] * local[i, i + d - half] + TINY)
    return same, switch


@njit(cache=True)
def viterbi_banded(
    log_obs: np.ndarray, same: np.ndarray, switch: np.ndarray, half: int, log_off: float, log_init: float
) -> np.ndarray:  # pragma: no cover (compiled)
    """The most likely state path (F,) of ``log_obs`` (F, 2B): states 0..B-1 voiced bins, B..2B-1
    unvoiced; a move from bin i to bin j with |i - j| <= ``half`` has log-probability
    same/switch[i, j - i + half], any other ``log_off``. Equal to the dense Viterbi's argmax path,
    lowest index first on ties."""
    steps, states = log_obs.shape
    b = states // 2
    ptr = np.zeros((steps, states), np.int64)
    value = log_obs[0] + log_init
    new = np.empty(states)
    off = np.empty(states)
    # first index of the maximum of off[] over [0, e) (prefix) and [s, b) (suffix), per half
    pre = np.empty((2, b + 1), np.int64)
    suf = np.empty((2, b + 1), np.int64)
    for t in range(1, steps):
        for i in range(states):
            off[i] = value[i] + log_off
        for h in range(2):
            base = h * b
            pre[h, 0] = -1
            for e in range(1, b + 1):
                p = pre[h, e - 1]
                pre[h, e] = base + e - 1 if p < 0 or off[base + e - 1] > off[p] else p
            suf[h, b] = -1
            for s in range(b - 1, -1, -1):
                q = suf[h, s + 1]
                suf[h, s] = base + s if q < 0 or off[base + s] >= off[q] else q
        for j in range(states):
            bj = j % b
            voiced_j = j < b
            lo, hi = max(0, bj - half), min(b - 1, bj + half)
            best, arg = -np.inf, -1
            # predecessors in state order: voiced below the band, in it, above it; then unvoiced
            for h in range(2):
                k = pre[h, lo]
                if k >= 0 and off[k] > best:
                    best, arg = off[k], k
                table = same if (h == 0) == voiced_j else switch
                for bi in range(lo, hi + 1):
                    v = value[h * b + bi] + table[bi, bj - bi + half]
                    if v > best:
                        best, arg = v, h * b + bi
                k = suf[h, hi + 1]
                if k >= 0 and off[k] > best:
                    best, arg = off[k], k
            ptr[t, j] = arg
            new[j] = log_obs[t, j] + best
        value[:] = new
    path = np.empty(steps, np.int64)
    path[-1] = np.argmax(value)
    for t in range(steps - 2, -1, -1):
        path[t] = ptr[t + 1, path[t + 1]]
    return path
