"""The NSynth temporal encoder (Engel et al. 2017, Magenta's ``ae_*`` scopes).

Non-causal dilated convolutions over the raw (mu-law scaled) waveform, a 1x1 bottleneck
to ``latent_dim`` channels and average pooling with window = stride = ``hop``:
one embedding per ``hop`` samples.

Length rule: the input length must be a multiple of ``hop``. Callers with other lengths
pad the end with zeros (silence) to the next multiple (``pad_to_hop``), so no audio is lost
and ``frames = ceil(T / hop)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nsynth.config import cycle_dilations


class TemporalEncoder(nn.Module):
    """Waveform (B, 1, T) -> embeddings (B, latent_dim, T // hop)."""

    def __init__(
        self,
        *,
        layers: int = 30,
        width: int = 128,
        kernel_size: int = 3,
        dilation_cycle: int = 10,
        latent_dim: int = 16,
        hop: int = 512,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"encoder kernel_size must be odd (centred 'SAME' conv), got {kernel_size}")
        self.hop = hop
        self.dilations = cycle_dilations(layers, dilation_cycle)
        half = (kernel_size - 1) // 2
        self.start = nn.Conv1d(1, width, kernel_size, padding=half)
        self.dilated = nn.ModuleList(
            nn.Conv1d(width, width, kernel_size, dilation=d, padding=d * half) for d in self.dilations
        )
        self.res = nn.ModuleList(nn.Conv1d(width, width, 1) for _ in self.dilations)
        self.bottleneck = nn.Conv1d(width, latent_dim, 1)

    def forward_prepool(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T) -> bottleneck output before pooling, (B, latent_dim, T)."""
        h = self.start(x)
        for dilated, res in zip(self.dilated, self.res):
            h = h + res(F.relu(dilated(F.relu(h))))
        return self.bottleneck(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T) with T a multiple of hop -> (B, latent_dim, T // hop)."""
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"encoder input must be (B, 1, T), got {tuple(x.shape)}")
        if x.shape[-1] % self.hop:
            raise ValueError(f"encoder input length {x.shape[-1]} is not a multiple of hop {self.hop}")
        return F.avg_pool1d(self.forward_prepool(x), self.hop)


def pad_to_hop(x: torch.Tensor, hop: int) -> torch.Tensor:
    """Zero-pad the last dimension up to the next multiple of ``hop`` (at least one hop)."""
    t = x.shape[-1]
    target = max(hop, -(-t // hop) * hop)
    return F.pad(x, (0, target - t)) if target != t else x
