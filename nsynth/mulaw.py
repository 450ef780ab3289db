"""8-bit mu-law companding, exactly as Magenta's ``wavenet/utils.py`` defines it.

Codes are signed integers q in [-128, 127]; classes (softmax indices) are q + 128.
The model sees q / 128 (Magenta's ``rescale_inputs``), for encoder and decoder alike.
"""

from __future__ import annotations

import math

import numpy as np
import torch

MU = 255


def mu_law_encode(x: torch.Tensor) -> torch.Tensor:
    """Float audio (any shape) -> signed codes q in [-128, 127], same dtype as ``x``.

    ``floor(sign(x) * ln(1 + 255|x|) / ln(256) * 128)``; inputs outside [-1, 1) are
    clipped, which is the same as clamping q (x = 1 would give the invalid code 128).
    Computed as Magenta's graph does, in the input's float precision (float32 unless x is
    float64) and as ``log(1 + 255|x|)``, not ``log1p``: for |x| below epsilon / 255 the sum
    rounds to 1 and the code is 0, where ``log1p`` would give -1 for tiny negative samples
    (which resampling and decays produce).
    """
    xf = x if x.dtype == torch.float64 else x.to(torch.float32)
    y = torch.sign(xf) * torch.log(1.0 + MU * torch.abs(xf)) / math.log1p(MU)
    return torch.floor(y * 128).clamp_(-128, 127).to(x.dtype)


def mu_law_decode(q: torch.Tensor) -> torch.Tensor:
    """Signed codes -> float32 audio: ``(q + 0.5) * 2 / 256`` expanded; q = 0 maps to exactly 0.

    Computed in float64 and rounded once, so each value is the float32 nearest the exact
    one. Magenta's TF float32 ``pow`` lands up to one float32 step away on some codes.
    """
    q = q.to(torch.float64)
    out = mu_law_expand((q + 0.5) * 2.0 / (MU + 1))
    return torch.where(q == 0, torch.zeros_like(out), out).to(torch.float32)


def mu_law_expand(y: torch.Tensor) -> torch.Tensor:
    """Companded values y in [-1, 1] (any shape) -> audio, in float64: the inverse of the
    companding, ``sign(y) / 255 * (256^|y| - 1)``."""
    y = y.to(torch.float64)
    return torch.sign(y) / MU * torch.expm1(torch.abs(y) * math.log1p(MU))


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Float audio -> class indices 0..255 (int64)."""
    return mu_law_encode(x).long() + 128


def dequantize(classes: torch.Tensor) -> torch.Tensor:
    """Class indices 0..255 -> float32 audio."""
    return mu_law_decode(classes - 128)


def classes_to_input(classes: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Class indices 0..255 -> the network input of those samples: (class - 128) / 128."""
    return (classes.to(dtype) - 128.0) / 128.0


def audio_to_input(x: torch.Tensor) -> torch.Tensor:
    """Float audio -> the value the network sees: mu_law(x) / 128."""
    return mu_law_encode(x.to(torch.float32)) / 128.0


def max_roundtrip_error(x: np.ndarray) -> float:
    """Largest |x - decode(encode(x))| over ``x`` (a diagnostic used by tests and docs)."""
    t = torch.as_tensor(x, dtype=torch.float32)
    return float((mu_law_decode(mu_law_encode(t)) - t.clamp(-1, 1)).abs().max())
