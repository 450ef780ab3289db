"""The WaveNet decoder of NSynth (Magenta's ``h512_bo16`` decoder scopes).

Causal, locally conditioned on frame-rate features. Given the network input x (the
mu-law code / 128 of each sample), logits[t] depend on x[t - receptive_field ... t - 1]
and on the conditioning frame t // hop:

    h  = start(shift_right(x))                       causal conv, kernel K
    s  = skip_start(h)
    for each layer i (dilation d_i):
        z = dilated_i(h) + cond_i(c)[frame]          (B, 2R, T), cond is a time-varying bias
        g = gate(z)                                  tanh/sigmoid of the two halves
        h = h + res_i(g);  s = s + skip_i(g)
    logits = out(relu(out1(relu(s)) + cond_out(c)[frame]))

The last layer's residual conv feeds nothing; it is kept (frozen) so Magenta's weights map 1:1.
The head is S -> S -> 256, as in Magenta's graph.

Options beyond Magenta's graph (off in the ``magenta`` and ``nsynth`` presets):

- ``upsample="linear"``: the frame conditioning is interpolated between frame centres
  (``torch.nn.functional.interpolate``, ``align_corners=False``) instead of held for a hop.
- Pitch lock: given the pitch period P[t] in samples (sample_rate / f0), every layer also
  gets ``pitch_taps`` taps of the network's own past input one period back,
  x(t - P - j) fractionally (linearly) interpolated, and with ``phase_input`` cos/sin of
  the f0 phase 2 pi sum_{u <= t} 1 / P[u]. These ``pitch_channels`` audio-rate inputs enter
  each layer through a (2R x pitch_channels) 1x1 conv, added like the conditioning:

        z = dilated_i(h) + cond_i(c)[t] + pitch_i(p)[t]

  The lags are clamped to >= 1 sample, so logits[t] still depend only on x[< t].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nsynth.config import causal_receptive_field, cycle_dilations
from nsynth.decoders import logistic

N_CLASSES = 256
MAX_PERIOD = 2048.0  # longest pitch period in samples (f0 >= 7.8 Hz at 16 kHz)


def tap_offsets(taps: int) -> list[int]:
    """Offsets j of the lag taps P + j, centred on P: 1 -> [0], 3 -> [-1, 0, 1]."""
    return list(range(-(taps // 2), taps - taps // 2))


def history_length(taps: int) -> int:
    """Past inputs a cached decoder must keep for its lag taps."""
    return int(MAX_PERIOD) + taps + 2


def tap_lags(period: torch.Tensor, taps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) periods -> integer lags (taps, B, T) int64 and weights (taps, B, T).

    Tap j reads (1 - w) * x[t - n] + w * x[t - n - 1] with n = floor(L), w = L - n and
    L = clamp(P + j, 1, MAX_PERIOD + taps): never x[t] or later.
    """
    if taps == 0:
        return period.new_zeros((0, *period.shape), dtype=torch.long), period.new_zeros((0, *period.shape))
    lags = torch.stack([(period + j).clamp(1.0, MAX_PERIOD + taps) for j in tap_offsets(taps)])
    n = lags.floor()
    return n.long(), lags - n


def pitch_phase(period: torch.Tensor) -> torch.Tensor:
    """(B, T) periods -> (B, 2, T) cos/sin of the phase 2 pi sum_{u <= t} 1 / P[u] (float64 sum)."""
    cycles = torch.cumsum(1.0 / period.double(), dim=-1)
    angle = (2 * torch.pi * (cycles - cycles.floor())).float()
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


def lag_taps(x: torch.Tensor, period: torch.Tensor, taps: int) -> torch.Tensor:
    """Network input (B, T) and periods (B, T) -> (B, taps, T) interpolated past inputs."""
    b, t = x.shape
    n, w = tap_lags(period, taps)
    pad = history_length(taps)
    xp = F.pad(x, (pad, 0))
    pos = torch.arange(t, device=x.device) + pad
    out = []
    for j in range(taps):
        a = torch.gather(xp, 1, (pos - n[j]))
        c = torch.gather(xp, 1, (pos - n[j] - 1))
        out.append(a + w[j] * (c - a))
    return torch.stack(out, dim=1)


def upsample_frames(c: torch.Tensor, hop: int, t: int, mode: str) -> torch.Tensor:
    """(B, C, F) frame values -> (B, C, t) per sample, F * hop >= t.

    "repeat" holds frame f over samples [f * hop, (f + 1) * hop); "linear" interpolates
    between frame centres f * hop + (hop - 1) / 2, holding the first and last frame's value
    outside them (sample t reads frames i0 = floor(u), min(i0 + 1, F - 1) with weight
    u - i0, u = max(0, (t + 0.5) / hop - 0.5)).
    """
    if mode == "repeat":
        return c.repeat_interleave(hop, dim=-1)[..., :t]
    return F.interpolate(c, size=c.shape[-1] * hop, mode="linear", align_corners=False)[..., :t]


def frame_lerp_index(t: int, hop: int, frames: int) -> tuple[int, int, float]:
    """Frames and weight that ``upsample_frames(..., "linear")`` uses for sample t."""
    u = max(0.0, (t + 0.5) / hop - 0.5)
    i0 = min(int(u), frames - 1)
    return i0, min(i0 + 1, frames - 1), u - i0 if i0 < frames - 1 else 0.0


def gate(z: torch.Tensor, order: str) -> torch.Tensor:
    """Gated activation of (B, 2R, ...) -> (B, R, ...)."""
    a, b = z.chunk(2, dim=1)
    if order == "tanh_sigmoid":
        return torch.tanh(a) * torch.sigmoid(b)
    return torch.sigmoid(a) * torch.tanh(b)


def add_frame_bias(z: torch.Tensor, c: torch.Tensor, hop: int) -> torch.Tensor:
    """z (B, C, T) + c (B, C, F) repeated over each hop (nearest upsampling), F * hop >= T."""
    b, ch, t = z.shape
    if t % hop == 0 and c.shape[-1] == t // hop:
        return (z.view(b, ch, t // hop, hop) + c.unsqueeze(-1)).view(b, ch, t)
    return z + c.repeat_interleave(hop, dim=-1)[..., :t]


def sample_classes(
    logits: torch.Tensor,
    u: torch.Tensor,
    temperature: float = 1.0,
    greedy: bool = False,
    min_p: float = 0.0,
) -> torch.Tensor:
    """(B, 256) logits -> (B,) class indices: argmax (greedy), or the inverse-CDF draw of
    uniforms u (B,) from softmax(logits / temperature), temperature > 0, where classes less
    likely than ``min_p`` times the most likely one are left out (0: none). Every backend uses
    this same rule; whether to be greedy is decided by the caller (``Sampling.greedy``)."""
    if greedy:
        return logits.argmax(dim=-1)
    if not temperature > 0:
        raise ValueError(f"temperature {temperature} must be > 0 when not greedy")
    z = (logits.float() - logits.float().amax(dim=-1, keepdim=True)) / temperature
    p = torch.exp(z)
    if min_p > 0:
        p = torch.where(p < min_p, torch.zeros_like(p), p)
    cdf = torch.cumsum(p, dim=-1)
    target = (u.float() * cdf[:, -1])[:, None]
    return torch.searchsorted(cdf, target, right=True)[:, 0].clamp_(max=255)


class WaveNetDecoder(nn.Module):
    """Network input (B, 1, T) + conditioning (B, cond_channels, F) -> logits (B, 256, T)."""

    def __init__(
        self,
        *,
        layers: int = 30,
        residual_channels: int = 512,
        skip_channels: int = 256,
        kernel_size: int = 3,
        dilation_cycle: int = 10,
        cond_channels: int = 16,
        hop: int = 512,
        gate_order: str = "tanh_sigmoid",
        upsample: str = "repeat",
        pitch_taps: int = 0,
        phase_input: bool = False,
        output: str = "softmax",
        mixtures: int = 1,
    ) -> None:
        super().__init__()
        r, s, k = residual_channels, skip_channels, kernel_size
        self.kernel_size = k
        self.hop = hop
        self.gate_order = gate_order
        self.upsample = upsample
        self.pitch_taps = pitch_taps
        self.phase_input = phase_input
        self.pitch_channels = pitch_taps + 2 * int(phase_input)
        self.output = output
        self.mixtures = mixtures
        self.dilations = cycle_dilations(layers, dilation_cycle)
        self.start = nn.Conv1d(1, r, k)
        self.skip_start = nn.Conv1d(r, s, 1)
        self.dilated = nn.ModuleList(nn.Conv1d(r, 2 * r, k, dilation=d) for d in self.dilations)
        self.cond = nn.ModuleList(nn.Conv1d(cond_channels, 2 * r, 1) for _ in self.dilations)
        self.res = nn.ModuleList(nn.Conv1d(r, r, 1) for _ in self.dilations)
        self.skip = nn.ModuleList(nn.Conv1d(r, s, 1) for _ in self.dilations)
        self.out1 = nn.Conv1d(s, s, 1)
        self.cond_out = nn.Conv1d(cond_channels, s, 1)
        if output == "logistic":
            self.out = nn.Conv1d(s, logistic.head_channels(mixtures, pitch_taps), 1)
            logistic.init_head(self.out, mixtures, pitch_taps, tap_offsets(pitch_taps).index(0) if pitch_taps else None)
        else:
            self.out = nn.Conv1d(s, N_CLASSES, 1)
        if self.pitch_channels:
            self.pitch = nn.ModuleList(nn.Conv1d(self.pitch_channels, 2 * r, 1, bias=False) for _ in self.dilations)
        # The last residual output feeds nothing: frozen, so it gets no gradient (as in Magenta)
        # and data-parallel training does not wait for one.
        self.res[-1].requires_grad_(False)

    @property
    def receptive_field(self) -> int:
        """logits[t] depend on inputs x[t - receptive_field ... t - 1]."""
        return causal_receptive_field(self.kernel_size, self.dilations)

    def pitch_inputs(self, x: torch.Tensor, period: torch.Tensor) -> torch.Tensor:
        """Network input (B, T) and periods (B, T) -> (B, pitch_channels, T): lag taps, then cos/sin."""
        parts = []
        if self.pitch_taps:
            parts.append(lag_taps(x, period, self.pitch_taps))
        if self.phase_input:
            parts.append(pitch_phase(period).to(x.dtype))
        return torch.cat(parts, dim=1)

    def _add_cond(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if self.upsample == "repeat":
            return add_frame_bias(z, c, self.hop)
        return z + upsample_frames(c, self.hop, z.shape[-1], self.upsample)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, period: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits.

        Args:
            x: (B, 1, T) network input (mu-law code / 128) of the *target* samples.
            cond: (B, cond_channels, F) frame-rate conditioning, F * hop >= T.
            period: (B, T) pitch period in samples, for pitch-locked decoders.
        Returns:
            (B, 256, T) logits; logits[..., t] predict sample t from samples < t. With
            ``output="logistic"``: (B, 3K, T) mixture parameters (``nsynth.decoders.logistic``).
        """
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"decoder input must be (B, 1, T), got {tuple(x.shape)}")
        if cond.shape[-1] * self.hop < x.shape[-1]:
            raise ValueError(f"{cond.shape[-1]} conditioning frames cannot cover {x.shape[-1]} samples")
        pitch_in = None
        if self.pitch_channels:
            if period is None or period.shape != (x.shape[0], x.shape[-1]):
                got = None if period is None else tuple(period.shape)
                want = (x.shape[0], x.shape[-1])
                raise ValueError(f"this decoder is pitch-locked: give period (B, T) = {want}, got {got}")
            pitch_in = self.pitch_inputs(x[:, 0], period)
        k = self.kernel_size
        x = F.pad(x, (1, 0))[..., :-1]  # shift right: sample t sees only x[< t]
        h = self.start(F.pad(x, (k - 1, 0)))
        s = self.skip_start(h)
        for i, d in enumerate(self.dilations):
            z = self._add_cond(self.dilated[i](F.pad(h, ((k - 1) * d, 0))), self.cond[i](cond))
            if pitch_in is not None:
                z = z + self.pitch[i](pitch_in)
            g = gate(z, self.gate_order)
            if i < len(self.dilations) - 1:
                h = h + self.res[i](g)
            s = s + self.skip[i](g)
        y = self._add_cond(self.out1(F.relu(s)), self.cond_out(cond))
        return self.head(self.out(F.relu(y)), pitch_in)

    def head(self, raw: torch.Tensor, pitch_in: torch.Tensor | None) -> torch.Tensor:
        """The out conv's output (B, C, ...) -> logits (softmax), or mixture parameters (B, 3K, ...)
        located by the lag taps, the first ``pitch_taps`` channels of ``pitch_in`` (B, P, ...)."""
        if self.output != "logistic":
            return raw
        taps = pitch_in[:, : self.pitch_taps] if pitch_in is not None and self.pitch_taps else None
        return logistic.mixture(raw, taps, self.mixtures)
