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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

N_CLASSES = 256


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
    ) -> None:
        super().__init__()
        r, s, k = residual_channels, skip_channels, kernel_size
        self.kernel_size = k
        self.hop = hop
        self.gate_order = gate_order
        self.dilations = [2 ** (i % dilation_cycle) for i in range(layers)]
        self.start = nn.Conv1d(1, r, k)
        self.skip_start = nn.Conv1d(r, s, 1)
        self.dilated = nn.ModuleList(nn.Conv1d(r, 2 * r, k, dilation=d) for d in self.dilations)
        self.cond = nn.ModuleList(nn.Conv1d(cond_channels, 2 * r, 1) for _ in self.dilations)
        self.res = nn.ModuleList(nn.Conv1d(r, r, 1) for _ in self.dilations)
        self.skip = nn.ModuleList(nn.Conv1d(r, s, 1) for _ in self.dilations)
        self.out1 = nn.Conv1d(s, s, 1)
        self.cond_out = nn.Conv1d(cond_channels, s, 1)
        self.out = nn.Conv1d(s, N_CLASSES, 1)
        # The last residual output feeds nothing: frozen, so it gets no gradient (as in Magenta)
        # and data-parallel training does not wait for one.
        self.res[-1].requires_grad_(False)

    @property
    def receptive_field(self) -> int:
        """logits[t] depend on inputs x[t - receptive_field ... t - 1]."""
        return (self.kernel_size - 1) * (1 + sum(self.dilations)) + 1

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits.

        Args:
            x: (B, 1, T) network input (mu-law code / 128) of the *target* samples.
            cond: (B, cond_channels, F) frame-rate conditioning, F * hop >= T.
        Returns:
            (B, 256, T) logits; logits[..., t] predict sample t from samples < t.
        """
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"decoder input must be (B, 1, T), got {tuple(x.shape)}")
        if cond.shape[-1] * self.hop < x.shape[-1]:
            raise ValueError(f"{cond.shape[-1]} conditioning frames cannot cover {x.shape[-1]} samples")
        k = self.kernel_size
        x = F.pad(x, (1, 0))[..., :-1]  # shift right: sample t sees only x[< t]
        h = self.start(F.pad(x, (k - 1, 0)))
        s = self.skip_start(h)
        for i, d in enumerate(self.dilations):
            z = add_frame_bias(self.dilated[i](F.pad(h, ((k - 1) * d, 0))), self.cond[i](cond), self.hop)
            g = gate(z, self.gate_order)
            if i < len(self.dilations) - 1:
                h = h + self.res[i](g)
            s = s + self.skip[i](g)
        y = add_frame_bias(self.out1(F.relu(s)), self.cond_out(cond), self.hop)
        return self.out(F.relu(y))
