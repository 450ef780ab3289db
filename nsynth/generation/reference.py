"""Reference incremental generation for ``WaveNetDecoder`` (the fast-WaveNet queue algorithm).

Each dilated layer keeps a ring buffer of its last (K - 1) * d inputs, so a new sample
costs O(layers) instead of O(receptive field). Conditioning is projected once per frame
for all layers up front. This eager PyTorch path is the ground truth that every faster
backend is tested against; it is itself tested against the teacher-forced forward pass.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from nsynth.decoders import logistic
from nsynth.decoders.wavenet import (
    WaveNetDecoder,
    frame_lerp_index,
    gate,
    history_length,
    pitch_phase,
    sample_classes,
    tap_lags,
)
from nsynth.generation.steps import step_weights
from nsynth.mulaw import classes_to_input


class PitchInputs:
    """Per-step pitch inputs of a pitch-locked decoder: lag taps read from a ring of past inputs.

    Args:
        decoder: a decoder with ``pitch_channels`` > 0.
        period: (B, T) pitch period in samples for every step that will be run.
    """

    def __init__(self, decoder: WaveNetDecoder, period: torch.Tensor) -> None:
        if period is None or period.dim() != 2:
            raise ValueError("this decoder is pitch-locked: give period (B, T) for generation")
        self.taps = decoder.pitch_taps
        self.size = history_length(self.taps)
        self.lag, self.weight = tap_lags(period, self.taps)  # (taps, B, T)
        self.phase = pitch_phase(period).to(period.dtype) if decoder.phase_input else None  # (B, 2, T)
        self.history = torch.zeros(period.shape[0], self.size, device=period.device, dtype=period.dtype)
        self.rows = torch.arange(period.shape[0], device=period.device)

    def step(self, t: int, x: torch.Tensor) -> torch.Tensor:
        """Record x[t - 1] (B,) and return the (B, pitch_channels) inputs of step t."""
        if t > 0:
            self.history[:, (t - 1) % self.size] = x
        parts = []
        for j in range(self.taps):
            n = self.lag[j, :, t]
            a = self.history[self.rows, (t - n) % self.size]
            c = self.history[self.rows, (t - n - 1) % self.size]
            parts.append(a + self.weight[j, :, t] * (c - a))
        out = torch.stack(parts, dim=1) if parts else self.history[:, :0]
        if self.phase is not None:
            out = torch.cat([out, self.phase[:, :, t]], dim=1)
        return out


class CachedDecoder:
    """Incremental state of a batch of B notes for one decoder.

    Args:
        decoder: the trained decoder (its parameters are read, not copied).
        cond: (B, cond_channels, F) frame-rate conditioning.
        period: (B, T) pitch period in samples of each step, for pitch-locked decoders.
    """

    def __init__(self, decoder: WaveNetDecoder, cond: torch.Tensor, period: torch.Tensor | None = None) -> None:
        self.decoder = decoder
        self.pitch = PitchInputs(decoder, period) if decoder.pitch_channels else None
        self.hop = decoder.hop
        self.k = decoder.kernel_size
        self.frames = cond.shape[-1]
        b = cond.shape[0]
        r = decoder.start.out_channels
        dev, dt = cond.device, cond.dtype
        self.w = step_weights(decoder, cond)
        self.queue_start = torch.zeros(b, self.k - 1, device=dev, dtype=dt)
        self.queues = [torch.zeros(b, r, (self.k - 1) * d, device=dev, dtype=dt) for d in decoder.dilations]
        self.t = 0

    @torch.no_grad()
    def step(self, x: torch.Tensor) -> torch.Tensor:
        """Advance one sample.

        Args:
            x: (B,) network input of sample t - 1 (mu-law code / 128; zero at t = 0).
        Returns:
            (B, 256) logits for sample t (mixture parameters (B, 3K) for a logistic head).
        """
        dec, t, k = self.decoder, self.t, self.k
        cond_at = self._cond_at(t)
        extra = [self.pitch.step(t, x)] if self.pitch is not None else []
        r = dec.start.out_channels
        taps = torch.cat([self.queue_start, x[:, None]], dim=1)  # (B, K)
        w = self.w
        h = F.linear(taps, w.w_start, w.b_start)
        self.queue_start = taps[:, 1:]
        s = F.linear(h, w.w_skip0, w.b_skip0)
        last = len(dec.dilations) - 1
        for i, d in enumerate(dec.dilations):
            q = self.queues[i]
            m = q.shape[-1]
            pos = t % m
            idx = [(pos + j * d) % m for j in range(k - 1)]  # h[t-(K-1)d], ..., h[t-d]
            past = q[:, :, idx].permute(0, 2, 1).reshape(q.shape[0], -1)
            q[:, :, pos] = h
            z = F.linear(torch.cat([past, h, *extra], dim=1), w.w_dil[i]) + cond_at(w.cond[i])
            g = gate(z, dec.gate_order)
            rs = F.linear(g, w.w_rs[i], w.b_rs[i])
            if i < last:  # the last residual output feeds nothing
                h = h + rs[:, :r]
            s = s + rs[:, r:]
        y = F.linear(F.relu(s), w.w_out1) + cond_at(w.cond_out)
        self.t += 1
        return dec.head(F.linear(F.relu(y), w.w_out, w.b_out), extra[0] if extra else None)

    def _cond_at(self, t: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """A function taking (B, F, C) frame values to their (B, C) value at sample t."""
        if self.decoder.upsample == "repeat":
            frame = min(t // self.hop, self.frames - 1)
            return lambda c: c[:, frame]
        i0, i1, w = frame_lerp_index(t, self.hop, self.frames)
        return lambda c: (1.0 - w) * c[:, i0] + w * c[:, i1]


def teacher_forced_logits(
    decoder: WaveNetDecoder, x: torch.Tensor, cond: torch.Tensor, period: torch.Tensor | None = None
) -> torch.Tensor:
    """Cached path fed with the true inputs instead of samples.

    Args:
        x: (B, T) network input (mu-law code / 128) of the target samples.
        cond: (B, cond_channels, F).
        period: (B, T) pitch periods, for pitch-locked decoders.
    Returns:
        (B, 256, T), to compare with ``decoder(x[:, None], cond, period)``.
    """
    state = CachedDecoder(decoder, cond, period)
    prev = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
    out = []
    for t in range(x.shape[1]):
        out.append(state.step(prev))
        prev = x[:, t]
    return torch.stack(out, dim=-1)


def generate(
    decoder: WaveNetDecoder,
    cond: torch.Tensor,
    n_samples: int,
    *,
    uniforms: torch.Tensor | None = None,
    temperature: float = 1.0,
    greedy: bool = False,
    min_p: float = 0.0,
    progress: Callable[[int], None] | None = None,
    period: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sample ``n_samples`` classes for each of B notes with the reference cached loop
    (``temperature``, ``greedy`` and ``min_p`` as in ``sample_classes``).

    Args:
        cond: (B, cond_channels, F) with F * hop >= n_samples.
        period: (B, n_samples) pitch periods in samples, for pitch-locked decoders.
        uniforms: (n_samples, B) uniforms in [0, 1) driving the draws (needed unless greedy).
        progress: called with the number of new time steps, every so often.
    Returns:
        (B, n_samples) int64 mu-law classes 0..255; for a decoder with a logistic head, float32
        continuous mu-law values in [-1, 1] (``logistic.draw``; their classes are fed back).
    """
    state = CachedDecoder(decoder, cond, period)
    b = cond.shape[0]
    if uniforms is None:
        if not greedy:
            raise ValueError("sampling needs uniforms (n_samples, B); or use greedy=True")
        uniforms = torch.zeros(n_samples, b)
    uniforms = uniforms.to(cond.device)
    continuous = decoder.output == "logistic"
    out = torch.empty(b, n_samples, dtype=torch.float32 if continuous else torch.long, device=cond.device)
    x = torch.zeros(b, device=cond.device, dtype=cond.dtype)
    for t in range(n_samples):
        if continuous:
            v = logistic.draw(state.step(x), uniforms[t], temperature, greedy)
            out[:, t] = v
            cls = logistic.value_classes(v)
        else:
            cls = sample_classes(state.step(x), uniforms[t], temperature, greedy, min_p)
            out[:, t] = cls
        x = classes_to_input(cls, x.dtype)
        if progress is not None and (t + 1) % 256 == 0:
            progress(256)
    if progress is not None and n_samples % 256:
        progress(n_samples % 256)
    return out
