"""A generation step with static shapes and no host synchronisation, for CUDA graphs.

Every tensor the step touches is allocated once: ring buffers, the time index ``t`` (a
device tensor, so ring positions and the conditioning frame are computed on the device),
pre-drawn uniforms and the output buffer. Sampling happens on the device (the same
inverse-CDF rule as the reference). Nothing calls ``.item()``, so on CUDA a chunk of
steps is captured once in a CUDA graph and replayed; on the CPU the same step runs
eagerly, which is how CI checks its exactness.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nsynth.decoders.wavenet import WaveNetDecoder, gate, history_length, pitch_phase, tap_lags
from nsynth.decoders.wavenet import sample_classes
from nsynth.generation.steps import step_weights
from nsynth.mulaw import classes_to_input


class StaticStepDecoder:
    """Args:
    decoder: the trained decoder.
    cond: (B, cond_channels, F) conditioning on the target device.
    n_samples: how many samples will be generated (sizes the output buffers).
    uniforms: (n_samples, B) uniforms for sampling (ignored when teacher-forced or greedy).
    teacher: (B, n_samples) true network inputs for teacher forcing, or None.
    weight_dtype: torch.bfloat16 runs the big products in bf16 (float32 accumulate).
    period: (B, n_samples) pitch periods in samples, for pitch-locked decoders.
    """

    def __init__(
        self,
        decoder: WaveNetDecoder,
        cond: torch.Tensor,
        n_samples: int,
        *,
        uniforms: torch.Tensor | None = None,
        teacher: torch.Tensor | None = None,
        temperature: float = 1.0,
        greedy: bool = False,
        min_p: float = 0.0,
        keep_logits: bool = False,
        weight_dtype: torch.dtype = torch.float32,
        period: torch.Tensor | None = None,
    ) -> None:
        d = decoder
        dev = cond.device
        b = cond.shape[0]
        r, k = d.start.out_channels, d.kernel_size
        self.d, self.k, self.hop, self.b = d, k, d.hop, b
        self.temperature, self.greedy, self.min_p = temperature, greedy, min_p
        self.wdt = weight_dtype
        self.frames = cond.shape[-1]
        w = step_weights(d, cond.float())
        self.w_start, self.b_start = w.w_start.float(), w.b_start.float()
        self.w_skip0, self.b_skip0 = w.w_skip0.float(), w.b_skip0.float()
        self.w_dil = [x.to(weight_dtype).contiguous() for x in w.w_dil]
        self.cond = [c.transpose(0, 1).contiguous() for c in w.cond]  # (F, B, 2R): frame-major
        self.w_rs = [x.to(weight_dtype).contiguous() for x in w.w_rs]
        self.b_rs = [x.float() for x in w.b_rs]
        self.w_out1 = w.w_out1.float()
        self.cond_out = w.cond_out.transpose(0, 1).contiguous()
        self.w_out, self.b_out = w.w_out.float(), w.b_out.float()
        self.queues = [torch.zeros(b, r, (k - 1) * dl, device=dev) for dl in d.dilations]
        self.offsets = [torch.arange(k - 1, device=dev) * dl for dl in d.dilations]
        self.qstart = torch.zeros(b, k - 1, device=dev)
        self.linear = d.upsample == "linear"
        if self.linear:  # per-sample frame pair and weight of the linear upsampling, on the device
            u = ((torch.arange(n_samples, device=dev, dtype=torch.float64) + 0.5) / self.hop - 0.5).clamp(min=0)
            i0 = u.floor().long().clamp(max=self.frames - 1)
            self.frame0, self.frame1 = i0, (i0 + 1).clamp(max=self.frames - 1)
            self.frame_w = torch.where(i0 < self.frames - 1, u - i0, torch.zeros_like(u)).float()
        self.pitch = d.pitch_channels > 0
        if self.pitch:
            if period is None or period.shape != (b, n_samples):
                raise ValueError(f"this decoder is pitch-locked: give period (B, n_samples) = {(b, n_samples)}")
            period = period.to(dev, torch.float32)
            self.lag, self.lag_w = tap_lags(period, d.pitch_taps)  # (taps, B, T)
            self.phase = pitch_phase(period) if d.phase_input else None  # (B, 2, T)
            self.hist = torch.zeros(b, history_length(d.pitch_taps), device=dev)
            self.rows = torch.arange(b, device=dev)
        self.x_in = torch.zeros(b, device=dev)
        self.t = torch.zeros((), dtype=torch.long, device=dev)
        self.uniforms = (uniforms if uniforms is not None else torch.zeros(n_samples, b)).to(dev, torch.float32)
        self.teacher = teacher.to(dev, torch.float32) if teacher is not None else None
        self.classes = torch.zeros(b, n_samples, dtype=torch.long, device=dev)
        self.logits = torch.zeros(b, 256, n_samples, device=dev) if keep_logits else None
        self.n = n_samples
        self.graph: torch.cuda.CUDAGraph | None = None

    def _mm(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.linear(x.to(self.wdt), w).float()

    @torch.no_grad()
    def step(self) -> None:
        """One sample for the whole batch; reads and advances the device time index."""
        d, r = self.d, self.w_start.shape[0]
        t = self.t
        tt = t.view(1)
        if self.linear:
            f0, f1, w = (
                self.frame0.index_select(0, tt),
                self.frame1.index_select(0, tt),
                self.frame_w.index_select(0, tt),
            )

            def cond_at(c: torch.Tensor) -> torch.Tensor:
                return (1.0 - w) * c.index_select(0, f0)[0] + w * c.index_select(0, f1)[0]
        else:
            frame = torch.clamp(t // self.hop, max=self.frames - 1).view(1)

            def cond_at(c: torch.Tensor) -> torch.Tensor:
                return c.index_select(0, frame)[0]

        extra = [self._pitch_inputs(tt)] if self.pitch else []
        taps = torch.cat([self.qstart, self.x_in[:, None]], dim=1)
        h = F.linear(taps, self.w_start, self.b_start)
        self.qstart.copy_(taps[:, 1:])
        s = F.linear(h, self.w_skip0, self.b_skip0)
        last = len(d.dilations) - 1
        for i, q in enumerate(self.queues):
            m = q.shape[-1]
            pos = torch.remainder(t, m).view(1)
            past = q.index_select(2, torch.remainder(pos + self.offsets[i], m)).permute(0, 2, 1).reshape(self.b, -1)
            q.index_copy_(2, pos, h[:, :, None])
            z = self._mm(torch.cat([past, h, *extra], dim=1), self.w_dil[i]) + cond_at(self.cond[i])
            g = gate(z, d.gate_order)
            rs = self._mm(g, self.w_rs[i]) + self.b_rs[i]
            if i < last:
                h = h + rs[:, :r]
            s = s + rs[:, r:]
        y = F.linear(F.relu(s), self.w_out1) + cond_at(self.cond_out)
        logits = F.linear(F.relu(y), self.w_out, self.b_out)
        if self.logits is not None:
            self.logits.index_copy_(2, tt, logits[:, :, None])
        if self.teacher is not None:
            self.x_in.copy_(self.teacher.index_select(1, tt)[:, 0])
        else:
            cls = sample_classes(
                logits, self.uniforms.index_select(0, tt)[0], self.temperature, self.greedy, self.min_p
            )
            self.classes.index_copy_(1, tt, cls[:, None])
            self.x_in.copy_(classes_to_input(cls))
        self.t.add_(1)

    def _pitch_inputs(self, tt: torch.Tensor) -> torch.Tensor:
        """(B, pitch_channels) inputs of step t; records x[t - 1] first (as nsynth.generation.reference.PitchInputs)."""
        size = self.hist.shape[1]
        t = tt[0]
        # x_in is x[t - 1]; at t = 0 it is the zero start input, which must not enter the history.
        slot = torch.remainder(t - 1, size).view(1)
        keep = self.hist.index_select(1, slot)[:, 0]
        self.hist.index_copy_(1, slot, torch.where(t > 0, self.x_in, keep)[:, None])
        parts = []
        for j in range(self.lag.shape[0]):
            n = self.lag[j].index_select(1, tt)[:, 0]
            a = self.hist[self.rows, torch.remainder(t - n, size)]
            c = self.hist[self.rows, torch.remainder(t - n - 1, size)]
            parts.append(a + self.lag_w[j].index_select(1, tt)[:, 0] * (c - a))
        if self.phase is not None:
            parts.extend(self.phase.index_select(2, tt)[:, :, 0].unbind(1))
        return torch.stack(parts, dim=1)

    @torch.no_grad()
    def run(self, n: int, chunk: int = 64) -> None:
        """Advance ``n`` steps: CUDA-graph replays of ``chunk`` steps on CUDA, eager elsewhere."""
        if self.t.device.type != "cuda":
            for _ in range(n):
                self.step()
            return
        full, rest = divmod(n, chunk)
        if full and self.graph is None:
            self.graph = self._capture(chunk)
        for _ in range(full):
            self.graph.replay()
        for _ in range(rest):
            self.step()

    def _capture(self, chunk: int) -> "torch.cuda.CUDAGraph":
        # Capture must not change state: save it, warm up on a side stream, capture, restore.
        saved = [x.clone() for x in self._state()]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                self.step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(chunk):
                self.step()
        for x, v in zip(self._state(), saved):
            x.copy_(v)
        return graph

    def _state(self) -> list[torch.Tensor]:
        out = [*self.queues, self.qstart, self.x_in, self.t, self.classes]
        if self.pitch:
            out.append(self.hist)
        return out + ([self.logits] if self.logits is not None else [])
