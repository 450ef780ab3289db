#!/usr/bin/env python3
"""A parallel model's weights with another number of filtered-noise bands, as a starting point
for training (``nsynth train --init-from OUT``): every tensor is copied, and the control net's
noise outputs (weights and biases of ``decoder.control.out``'s last ``noise_bands`` rows,
pre-activations of log-like gains) are linearly interpolated from the old band centres to the
new ones, so the new model starts with the old one's noise spectrum sampled on a finer grid.

    python scripts/resample_noise_bands.py IN.safetensors OUT.safetensors --noise-bands 129 [--force]

IN may also be a shipped model's name (``parallel``).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from nsynth.model import autoencoder
from nsynth.weights import load_model, save_model


def resample_rows(rows: torch.Tensor, n: int) -> torch.Tensor:
    """(B_old, ...) band rows, band i at frequency i / (B_old - 1) of Nyquist -> (n, ...) rows
    at j / (n - 1), linearly interpolated."""
    old = np.linspace(0.0, 1.0, rows.shape[0])
    new = np.linspace(0.0, 1.0, n)
    flat = rows.reshape(rows.shape[0], -1).double().numpy()
    out = np.stack([np.interp(new, old, flat[:, c]) for c in range(flat.shape[1])], axis=1)
    return torch.from_numpy(out).to(rows.dtype).reshape(n, *rows.shape[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--noise-bands", type=int, required=True)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    old = load_model(args.inp)
    if not old.config.parallel:
        raise SystemExit(f"{args.inp}: not a parallel model")
    cfg = old.config.replace(decoder={"noise_bands": args.noise_bands})
    new = autoencoder(cfg, old.recommended)
    src, dst = old.state_dict(), new.state_dict()
    k_old = 1 + old.config.decoder.harmonics
    for name, t in dst.items():
        s = src[name]
        if s.shape == t.shape:
            t.copy_(s)
        elif name.startswith("decoder.control.out."):
            t[:k_old].copy_(s[:k_old])
            t[k_old:].copy_(resample_rows(s[k_old:], args.noise_bands))
        else:
            raise SystemExit(f"{name}: shape {tuple(s.shape)} -> {tuple(t.shape)}, which this script does not map")
    save_model(new, args.out, force=args.force)
    print(f"{args.out}: noise bands {old.config.decoder.noise_bands} -> {args.noise_bands}")


if __name__ == "__main__":
    main()
