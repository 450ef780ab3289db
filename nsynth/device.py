"""Where models run: the one rule for ``--device`` (auto, cpu, cuda[:N])."""

from __future__ import annotations

import torch

from nsynth.errors import OptionError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise OptionError("device", device, "no CUDA GPU is available (use cpu or auto)")
    if device != "cpu" and not device.startswith("cuda"):
        raise OptionError("device", device, "unknown device: use auto, cpu or cuda")
    return torch.device(device)
