#!/usr/bin/env python3
"""A starting point for training a variant of a parallel model (``nsynth train --init-from OUT``
with ``--model-config`` giving the same overrides): the model with decoder fields changed, every
tensor of matching name and shape copied from IN, and

- the control net's noise outputs, where ``noise_bands`` changes, linearly interpolated from the
  old band centres to the new ones (rows of ``decoder.control.out``: pre-activations of log-like
  gains), so the variant starts with IN's noise spectrum sampled on the new grid;
- where ``harmonic_noise`` is turned on, its rows of ``decoder.control.out`` with zero weights,
  an even distribution and an amplitude pre-activation of ``--locked-bias`` (-3: -55 dB, some
  30 dB under the harmonics; at the built -5, -94 dB, it moved the loss too little to get a
  gradient: measured, still at -95 to -110 dB after 1,000 steps), the rest as IN;
- where ``jitter_cents`` is turned on, its rows (each harmonic's share in the jittered bank and
  the depth) with zero weights and their built biases: 5 % of each harmonic jittered, at half
  the depth, the same for every note;
- where ``alias_limit`` is turned on (> 0.5), its row (the folded harmonics' gain, the last)
  with zero weights and its built bias: the folded harmonics at 0.7 % of the amplitude (-43 dB),
  the rest as IN;
- with ``--fresh-filter``, the WaveNet filter as built (its output conv zero: the identity), so
  that filters of different shapes or conditioning start from the same place.

    python scripts/derive_init.py IN OUT [--decoder KEY=VALUE ...] [--fresh-filter] [--locked-bias -3]
        [--seed 0] [--force]

IN may be a shipped model's name (``parallel``). VALUE is read as JSON where it parses (64,
"input" needs no quotes: a bare word is a string).
"""

from __future__ import annotations

import argparse
import json

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


def value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--decoder", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--fresh-filter", action="store_true")
    ap.add_argument("--seed", type=int, default=0, help="for the tensors made as built")
    ap.add_argument("--locked-bias", type=float, default=-3.0, help="harmonic_noise's starting amplitude, pre-sigmoid")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    old = load_model(args.inp)
    if not old.config.parallel:
        raise SystemExit(f"{args.inp}: not a parallel model")
    changes = dict((k, value(v)) for k, v in (item.split("=", 1) for item in args.decoder))
    new = autoencoder(old.config.replace(decoder=changes), old.recommended)
    src, dst = old.state_dict(), new.state_dict()
    k_old = 1 + old.config.decoder.harmonics
    same_harmonics = k_old == 1 + new.config.decoder.harmonics
    bands_old, bands_new = old.config.decoder.noise_bands, new.config.decoder.noise_bands
    locked_old, locked_new = (k_old if m.config.decoder.harmonic_noise else 0 for m in (old, new))
    jitter_old, jitter_new = (k_old if m.config.decoder.jitter_cents else 0 for m in (old, new))
    alias_old, alias_new = (1 if m.config.decoder.folds else 0 for m in (old, new))
    copied, fresh = 0, []
    with torch.no_grad():
        for name, t in dst.items():
            s = src.get(name)
            if args.fresh_filter and name.startswith("decoder.filter."):
                fresh.append(name)
            elif s is not None and s.shape == t.shape:
                t.copy_(s)
                copied += 1
            elif s is not None and name.startswith("decoder.control.out.") and same_harmonics:
                t[:k_old].copy_(s[:k_old])
                t[k_old : k_old + bands_new].copy_(resample_rows(s[k_old : k_old + bands_old], bands_new))
                lo_new, lo_old = k_old + bands_new, k_old + bands_old  # where the locked rows start
                if locked_new and locked_old:
                    t[lo_new : lo_new + locked_new].copy_(s[lo_old : lo_old + locked_old])
                elif locked_new:
                    t[lo_new : lo_new + locked_new].zero_()  # weights, and the distribution's biases: even
                    if name.endswith(".bias"):
                        t[lo_new] = args.locked_bias
                end_new, end_old = t.shape[0] - alias_new, s.shape[0] - alias_old  # where the jitter rows end
                if jitter_new and jitter_old:
                    t[end_new - jitter_new : end_new].copy_(s[end_old - jitter_old : end_old])
                elif jitter_new and name.endswith(".weight"):
                    t[end_new - jitter_new : end_new].zero_()  # each frame's shares and depth their built biases
                if alias_new and alias_old:
                    t[-1].copy_(s[-1])
                elif alias_new and name.endswith(".weight"):
                    t[-1].zero_()  # the gain its built bias in every frame
                copied += 1
            else:
                fresh.append(name)
    save_model(new, args.out, force=args.force)
    print(f"{args.out}: {changes or 'same config'}; {copied} tensors from {args.inp}, {len(fresh)} as built")
    for name in fresh:
        print(f"  as built: {name}")


if __name__ == "__main__":
    main()
