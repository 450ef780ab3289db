"""Fused CPU generation for ``WaveNetDecoder``: the whole per-sample loop in one numba kernel.

Eager PyTorch spends most of a small model's step in per-op dispatch (~15 ops per layer).
Here the time loop, each layer's matrix products, the gate, the ring buffers and sampling
run in one compiled function, so a step costs only its arithmetic:

- matrix-vector products work on 4 weight rows at a time (each input load feeds 4 FMAs)
  with the batch innermost, so a block of weight rows is read once per step for all notes;
- the dilated conv's K taps are gathered into one vector: one (2R x KR) product per layer;
  residual and skip convs share their input: one ((R + S) x R) product;
- exp / tanh / sigmoid use a vectorisable polynomial exp (relative error < 1e-7);
- optionally the big weight matrices are bfloat16 (uint16 in memory, widened to float32
  in registers): half the bytes per step for large, memory-bound models;
- wide models (R >= 256) split each product's rows over all cores.

Exactness: with fp32 weights the teacher-forced logits equal the reference cached path
(``nsynth.generation.reference``) to float rounding (tests: <= 1e-4). Sampling uses the same pre-drawn
uniforms and inverse-CDF rule as the reference.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from nsynth.decoders.wavenet import WaveNetDecoder, history_length, pitch_phase, tap_lags
from nsynth.generation.steps import step_weights
from nsynth.jit import needs_compiling

log = logging.getLogger("nsynth")


@intrinsic
def _bits_to_f32(typingctx, x):
    sig = types.float32(types.uint32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


def _f32(x):  # pragma: no cover - replaced by the overload inside compiled code
    return x


@overload(_f32)
def _f32_impl(x):
    if x == types.uint16:  # bfloat16 bits: the high half of a float32
        return lambda x: _bits_to_f32(np.uint32(x) << np.uint32(16))
    return lambda x: np.float32(x)


@njit(fastmath=True, inline="always")
def _exp(x):
    """float32 exp: 2^n * p(r) with r = x - n ln 2; relative error < 1e-7 on [-87, 88]."""
    x = min(max(x, np.float32(-87.0)), np.float32(88.0))
    n = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))
    r = x - n * np.float32(0.693359375) + n * np.float32(2.12194440e-4)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * r * r + r + np.float32(1.0)
    return p * _bits_to_f32(np.uint32((np.int32(n) + np.int32(127)) << np.int32(23)))


@njit(fastmath=True, inline="always")
def _rows4(w, row0, r, x, out, n):
    """out[:, r:r+4] += w[row0+r : row0+r+4, :n] @ x[:, :n].T for every row b of x."""
    q = row0 + r
    for b in range(x.shape[0]):
        a0 = np.float32(0.0)
        a1 = np.float32(0.0)
        a2 = np.float32(0.0)
        a3 = np.float32(0.0)
        for i in range(n):
            xi = x[b, i]
            a0 += _f32(w[q, i]) * xi
            a1 += _f32(w[q + 1, i]) * xi
            a2 += _f32(w[q + 2, i]) * xi
            a3 += _f32(w[q + 3, i]) * xi
        out[b, r] += a0
        out[b, r + 1] += a1
        out[b, r + 2] += a2
        out[b, r + 3] += a3


@njit(fastmath=True, inline="always")
def _mm(w, row0, rows, x, out, n):
    """out[:, :rows] += w[row0:row0+rows, :n] @ x.T (rows a multiple of 4), one core."""
    for r in range(0, rows, 4):
        _rows4(w, row0, r, x, out, n)


@njit(fastmath=True, parallel=True, cache=True)
def _mm_par(w, row0, rows, x, out, n):
    """As ``_mm`` with row blocks spread over all cores."""
    for blk in prange(rows // 4):
        _rows4(w, row0, blk * 4, x, out, n)


@njit(fastmath=True, inline="always")
def _product(w, row0, rows, x, out, n, parallel):
    if parallel:
        _mm_par(w, row0, rows, x, out, n)
    else:
        _mm(w, row0, rows, x, out, n)


class KernelWeights(NamedTuple):
    """What the kernel reads and never writes: a decoder's step weights for one batch
    (``nsynth.generation.steps``, as numpy) plus the batch's conditioning and pitch inputs."""

    hop: int
    k: int  # taps of the dilated convs
    dil: np.ndarray  # (L,) int64 dilations
    qoff: np.ndarray  # (L,) int64 offset of each layer's ring in ``KernelState.queue``
    w_start: np.ndarray  # (R, K)
    b_start: np.ndarray  # (R,)
    w_skip0: np.ndarray  # (S, R)
    b_skip0: np.ndarray  # (S,)
    w_dil: np.ndarray  # (L, 2R, K * R + P) float32, or uint16 bfloat16 bits
    cond: np.ndarray  # (L, B, F, 2R)
    w_rs: np.ndarray  # (L, R + S, R) float32 or bfloat16 bits
    b_rs: np.ndarray  # (L, R + S)
    w_out1: np.ndarray  # (S, S)
    cond_out: np.ndarray  # (B, F, S)
    w_out: np.ndarray  # (256, S)
    b_out: np.ndarray  # (256,)
    gate_sig_first: bool  # sigmoid(first half) * tanh(second half)
    linear: bool  # linear upsampling of the frame conditioning
    parallel: bool  # spread large products over all cores
    pitch_lag: np.ndarray  # (taps, B, T) int64 whole lags of the pitch taps
    pitch_w: np.ndarray  # (taps, B, T) their fractional weights
    phase: np.ndarray  # (B, 2, T) cos/sin of the f0 phase, or (B, 0, 0)


class KernelState(NamedTuple):
    """What the kernel carries from one step to the next, plus its scratch buffers."""

    x_in: np.ndarray  # (B,) network input of the next step (sample t - 1)
    queue: np.ndarray  # (sum of ring lengths, B, R): every layer's past inputs
    qstart: np.ndarray  # (B, K - 1) the start conv's past inputs
    hist: np.ndarray  # (B, history) past inputs for the pitch taps
    pin: np.ndarray  # (B, P) this step's pitch inputs
    h: np.ndarray  # (B, R)
    xcat: np.ndarray  # (B, K * R + P) gathered taps and pitch inputs
    z: np.ndarray  # (B, 2R)
    g: np.ndarray  # (B, R)
    rs: np.ndarray  # (B, R + S)
    skip: np.ndarray  # (B, S)
    y: np.ndarray  # (B, S)
    logits: np.ndarray  # (B, 256)


@njit(fastmath=True, cache=True)
def _step(t, frame, frame1, cond_w0, cond_w1, w, st):
    """One time step for the whole batch; ``st.logits`` (B, 256) is written in place.

    ``st.pin`` (B, P) holds the step's pitch inputs (P = 0 for decoders without pitch lock);
    they follow the gathered taps in ``xcat``, as the pitch weights follow the taps in ``w_dil``.
    """
    k = w.k
    x_in, queue, qstart, h, xcat, z, g, rs, skip, y = (
        st.x_in,
        st.queue,
        st.qstart,
        st.h,
        st.xcat,
        st.z,
        st.g,
        st.rs,
        st.skip,
        st.y,
    )
    batch = x_in.shape[0]
    n_layers = w.dil.shape[0]
    r_ch = h.shape[1]
    s_ch = skip.shape[1]
    n_pitch = st.pin.shape[1]
    for b in range(batch):  # start conv over [x[t-K+1] ... x[t]]
        for r in range(r_ch):
            acc = w.b_start[r] + w.w_start[r, k - 1] * x_in[b]
            for j in range(k - 1):
                acc += w.w_start[r, j] * qstart[b, j]
            h[b, r] = acc
        for j in range(k - 2):
            qstart[b, j] = qstart[b, j + 1]
        qstart[b, k - 2] = x_in[b]
        for s in range(s_ch):
            skip[b, s] = w.b_skip0[s]
    _mm(w.w_skip0, 0, s_ch, h, skip, r_ch)
    for layer in range(n_layers):
        d = w.dil[layer]
        m = (k - 1) * d
        pos = t % m
        base = w.qoff[layer]
        for b in range(batch):
            for j in range(k - 1):  # h[t-(K-1)d] ... h[t-d], then h[t]
                slot = base + (pos + j * d) % m
                for c in range(r_ch):
                    xcat[b, j * r_ch + c] = queue[slot, b, c]
            for c in range(r_ch):
                xcat[b, (k - 1) * r_ch + c] = h[b, c]
                queue[base + pos, b, c] = h[b, c]
            for j in range(n_pitch):
                xcat[b, k * r_ch + j] = st.pin[b, j]
            for c in range(2 * r_ch):
                z[b, c] = cond_w0 * w.cond[layer, b, frame, c] + cond_w1 * w.cond[layer, b, frame1, c]
        _product(w.w_dil[layer], 0, 2 * r_ch, xcat, z, k * r_ch + n_pitch, w.parallel)
        # sigmoid(s) = 1 / (1 + e^-s), tanh(u) = (1 - e^-2u) / (1 + e^-2u); branch-free loops vectorise
        sig_off = 0 if w.gate_sig_first else r_ch
        tanh_off = r_ch - sig_off
        one = np.float32(1.0)
        for b in range(batch):
            zb = z[b]
            gb = g[b]
            for c in range(r_ch):
                e2 = _exp(np.float32(-2.0) * zb[tanh_off + c])
                gb[c] = ((one - e2) / (one + e2)) / (one + _exp(-zb[sig_off + c]))
        last = layer == n_layers - 1
        row0 = r_ch if last else 0  # the last residual output feeds nothing: skip rows only
        for b in range(batch):
            for c in range(row0, r_ch + s_ch):
                rs[b, c - row0] = w.b_rs[layer, c]
        _product(w.w_rs[layer], row0, r_ch + s_ch - row0, g, rs, r_ch, w.parallel)
        for b in range(batch):
            if not last:
                for c in range(r_ch):
                    h[b, c] += rs[b, c]
            for s in range(s_ch):
                skip[b, s] += rs[b, r_ch - row0 + s]
    for b in range(batch):
        for s in range(s_ch):
            skip[b, s] = max(skip[b, s], np.float32(0.0))
            y[b, s] = cond_w0 * w.cond_out[b, frame, s] + cond_w1 * w.cond_out[b, frame1, s]
    _mm(w.w_out1, 0, s_ch, skip, y, s_ch)
    for b in range(batch):
        for s in range(s_ch):
            y[b, s] = max(y[b, s], np.float32(0.0))
        for c in range(256):
            st.logits[b, c] = w.b_out[c]
    _mm(w.w_out, 0, 256, y, st.logits, s_ch)


@njit(fastmath=False, cache=True)
def _sample(logits, u, temperature, greedy, min_p, p):
    """Inverse-CDF draw from softmax(logits / temperature) with uniform u, classes below
    min_p times the most likely one left out (as the reference)."""
    best = 0
    for c in range(256):
        if logits[c] > logits[best]:
            best = c
    if greedy:
        return best
    inv_t = np.float32(1.0) / np.float32(temperature)
    total = np.float32(0.0)
    for c in range(256):
        p[c] = np.exp((logits[c] - logits[best]) * inv_t)
        if p[c] < min_p:
            p[c] = np.float32(0.0)
        total += p[c]
    target = np.float32(u) * total
    acc = np.float32(0.0)
    for c in range(256):
        acc += p[c]
        if acc > target:
            return c
    return best


@njit(nogil=True, cache=True)
def _run(t0, n, teacher, uniforms, temperature, greedy, min_p, out_classes, out_logits, w, st):
    """Steps t0 ... t0 + n - 1: teacher-forced where ``teacher`` (B, n) is given, else sampled."""
    batch = out_classes.shape[0]
    frames = w.cond.shape[2]
    hop = w.hop
    p = np.zeros(256, np.float32)
    taps = w.pitch_lag.shape[0]
    hist, pin, x_in = st.hist, st.pin, st.x_in
    size = hist.shape[1]
    for i in range(n):
        t = t0 + i
        if w.linear:  # as nsynth.decoders.wavenet.frame_lerp_index
            u = max(0.0, (t + 0.5) / hop - 0.5)
            frame = min(int(u), frames - 1)
            frame1 = min(frame + 1, frames - 1)
            w1 = np.float32(u - frame) if frame < frames - 1 else np.float32(0.0)
            w0 = np.float32(1.0) - w1
        else:
            frame = min(t // hop, frames - 1)
            frame1 = frame
            w0 = np.float32(1.0)
            w1 = np.float32(0.0)
        if pin.shape[1] > 0:  # pitch inputs, as nsynth.generation.reference.PitchInputs
            for b in range(batch):
                if t > 0:
                    hist[b, (t - 1) % size] = x_in[b]
                for j in range(taps):
                    lag = w.pitch_lag[j, b, t]
                    a = hist[b, (t - lag) % size]
                    c = hist[b, (t - lag - 1) % size]
                    pin[b, j] = a + w.pitch_w[j, b, t] * (c - a)
                for j in range(w.phase.shape[1]):
                    pin[b, taps + j] = w.phase[b, j, t]
        _step(t, frame, frame1, w0, w1, w, st)
        for b in range(batch):
            if out_logits.shape[0] > 0:
                for c in range(256):
                    out_logits[b, c, i] = st.logits[b, c]
            if teacher.shape[0] > 0:
                x_in[b] = teacher[b, i]
                out_classes[b, i] = -1
            else:
                cls = _sample(st.logits[b], uniforms[i, b], temperature, greedy, min_p, p)
                out_classes[b, i] = cls
                x_in[b] = (np.float32(cls) - np.float32(128.0)) / np.float32(128.0)


def _weights(w: torch.Tensor, bf16: bool) -> np.ndarray:
    w = w.detach().float().cpu().contiguous()
    if bf16:
        return w.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16).copy()
    return w.numpy().copy()


def _f(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().float().cpu().numpy())


class FastCPUDecoder:
    """Prepared weights and state of the fused kernel for one decoder and a batch's conditioning.

    Args:
        decoder: the trained decoder.
        cond: (B, cond_channels, F) frame-rate conditioning.
        period: (B, T) pitch period in samples of every step to be run, for pitch-locked decoders.
        bf16: keep the dilated/residual/skip weights in bfloat16 (tolerance: docs/generation.md, Precision).
        parallel: spread large products over all cores (default: for R >= 256).
    """

    def __init__(
        self,
        decoder: WaveNetDecoder,
        cond: torch.Tensor,
        period: torch.Tensor | None = None,
        *,
        bf16: bool = False,
        parallel: bool | None = None,
    ) -> None:
        d = decoder
        r, s, k = d.start.out_channels, d.skip_start.out_channels, d.kernel_size
        if r % 4 or s % 4:
            raise ValueError(f"the fast CPU kernel needs channel counts divisible by 4 (R={r}, S={s})")
        b = cond.shape[0]
        dil = np.array(d.dilations, np.int64)
        lens = (k - 1) * dil
        sw = step_weights(d, cond.detach().float().cpu())
        pitch_lag = np.zeros((0, b, 0), np.int64)
        pitch_w = np.zeros((0, b, 0), np.float32)
        phase = np.zeros((b, 0, 0), np.float32)
        history = 1
        self.steps = None  # how many steps the pitch inputs cover (None: unlimited)
        if d.pitch_channels:
            if period is None or period.dim() != 2 or period.shape[0] != b:
                raise ValueError("this decoder is pitch-locked: give period (B, T) for generation")
            period = period.detach().float().cpu()
            lag, lag_w = tap_lags(period, d.pitch_taps)
            pitch_lag, pitch_w = lag.numpy().copy(), lag_w.numpy().copy()
            if d.phase_input:
                phase = pitch_phase(period).numpy().copy()
            history = history_length(d.pitch_taps)
            self.steps = period.shape[1]
        self.weights = KernelWeights(
            hop=d.hop,
            k=k,
            dil=dil,
            qoff=np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64),
            w_start=_f(sw.w_start),
            b_start=_f(sw.b_start),
            w_skip0=_f(sw.w_skip0),
            b_skip0=_f(sw.b_skip0),
            w_dil=np.stack([_weights(x, bf16) for x in sw.w_dil]),
            cond=np.ascontiguousarray(np.stack([_f(c) for c in sw.cond])),
            w_rs=np.stack([_weights(x, bf16) for x in sw.w_rs]),
            b_rs=np.stack([_f(x) for x in sw.b_rs]),
            w_out1=_f(sw.w_out1),
            cond_out=_f(sw.cond_out),
            w_out=_f(sw.w_out),
            b_out=_f(sw.b_out),
            gate_sig_first=d.gate_order == "sigmoid_tanh",
            linear=d.upsample == "linear",
            parallel=(r >= 256 and numba.get_num_threads() > 1) if parallel is None else bool(parallel),
            pitch_lag=pitch_lag,
            pitch_w=pitch_w,
            phase=phase,
        )
        self.state = KernelState(
            x_in=np.zeros(b, np.float32),
            queue=np.zeros((int(lens.sum()), b, r), np.float32),
            qstart=np.zeros((b, k - 1), np.float32),
            hist=np.zeros((b, history), np.float32),
            pin=np.zeros((b, d.pitch_channels), np.float32),
            h=np.zeros((b, r), np.float32),
            xcat=np.zeros((b, k * r + d.pitch_channels), np.float32),
            z=np.zeros((b, 2 * r), np.float32),
            g=np.zeros((b, r), np.float32),
            rs=np.zeros((b, r + s), np.float32),
            skip=np.zeros((b, s), np.float32),
            y=np.zeros((b, s), np.float32),
            logits=np.zeros((b, 256), np.float32),
        )
        self.batch = b
        self.t = 0
        # Compile (or load from numba's on-disk cache) here, once, rather than in the first of
        # several threads that run parts of a batch; compiling takes tens of seconds: say so.
        if self.needs_compiling():
            log.info("compiling the CPU generation kernel (once: later runs load it from numba's cache) ...")
        self.run(0)

    def needs_compiling(self) -> bool:
        """Whether running the kernel compiles it (``nsynth.jit.needs_compiling``)."""
        return needs_compiling(_run, self._args(0))

    def run(
        self,
        n: int,
        *,
        teacher: np.ndarray | None = None,
        uniforms: np.ndarray | None = None,
        temperature: float = 1.0,
        greedy: bool = False,
        min_p: float = 0.0,
        keep_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Generate the next ``n`` samples (calls continue where the last one stopped).

        Args:
            teacher: (B, n) true network inputs of these samples (teacher forcing), or None to sample.
            uniforms: (n, B) uniforms in [0, 1) for sampling.
        Returns:
            classes (B, n) int64 (-1 when teacher-forced), and logits (B, 256, n) if ``keep_logits``.
        """
        if self.steps is not None and self.t + n > self.steps:
            raise ValueError(f"the pitch periods cover {self.steps} steps, not {self.t + n}")
        args = self._args(n, teacher, uniforms, temperature, greedy, min_p, keep_logits)
        _run(*args)
        self.t += n
        return args[7], args[8]

    def _args(
        self,
        n: int,
        teacher: np.ndarray | None = None,
        uniforms: np.ndarray | None = None,
        temperature: float = 1.0,
        greedy: bool = False,
        min_p: float = 0.0,
        keep_logits: bool = False,
    ) -> tuple:
        """``_run``'s arguments for the next ``n`` steps (as ``run``); outputs: classes [7], logits [8]."""
        b = self.batch
        classes = np.zeros((b, n), np.int64)
        logits = np.zeros((b, 256, n) if keep_logits else (0, 256, 0), np.float32)
        teach = np.zeros((0, 0), np.float32) if teacher is None else np.ascontiguousarray(teacher, np.float32)
        uni = np.zeros((n, b), np.float32) if uniforms is None else np.ascontiguousarray(uniforms, np.float32)
        if not greedy and teacher is None and not temperature > 0:
            raise ValueError(f"temperature {temperature} must be > 0 when not greedy")
        return (
            self.t,
            n,
            teach,
            uni,
            float(max(temperature, 1e-6)),
            greedy,
            np.float32(min_p),
            classes,
            logits,
            self.weights,
            self.state,
        )
