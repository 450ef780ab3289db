#!/usr/bin/env python3
"""Teacher-forced loss (cross-entropy, nats per sample) of weights files on held-out sets:
the same seeded random crops for every weights file, so the figures pair up.

    python scripts/heldout_loss.py W1.safetensors [W2 ...] --data fluid/valid musescore/valid ...

Prints one row per weights file, one column per held-out set (and their mean); --json writes
them. The training loop's own held-out figure is this with 8 batches of the live (not EMA)
weights; here it is the weights file as shipped (EMA) and as many batches as asked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import nsynth
from nsynth.data import open_dataset
from nsynth.training.data import CropBatches, load_codes


def heldout_loss(model: nsynth.NSynthAutoencoder, data: Path, crop: int, batch: int, batches: int) -> float:
    """Mean cross-entropy of ``model`` over ``batches`` seeded batches of (batch, crop) crops."""
    codes = load_codes(open_dataset(data), crop, progress=False)
    crops = CropBatches(codes, crop, batch, seed=1234)
    losses = []
    with torch.no_grad():
        for i in range(batches):
            audio, pitch = crops[i]
            losses.append(model.loss(audio, pitch if model.config.pitch_conditioning else None).item())
    return float(np.mean(losses))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path, nargs="+")
    ap.add_argument("--data", type=Path, nargs="+", required=True)
    ap.add_argument("--crop", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--batches", type=int, default=32)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = [str(d) for d in args.data]
    print("weights".ljust(40), *(n[-24:].rjust(24) for n in names), "mean".rjust(8))
    rows = {}
    for w in args.weights:
        model = nsynth.load_model(w).eval()
        losses = [heldout_loss(model, d, args.crop, args.batch_size, args.batches) for d in args.data]
        rows[str(w)] = dict(zip(names, losses), mean=float(np.mean(losses)))
        print(str(w)[-40:].ljust(40), *(f"{v:24.4f}" for v in losses), f"{np.mean(losses):8.4f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
