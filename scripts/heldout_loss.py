#!/usr/bin/env python3
"""Teacher-forced loss (cross-entropy, nats per sample) of weights files on held-out sets:
the same seeded random crops for every weights file, so the figures pair up.

    python scripts/heldout_loss.py W1.safetensors [W2 ...] --data fluid/valid musescore/valid ...

Prints one row per weights file, one column per held-out set (and their mean); --json writes
them. The training loop's own held-out figure is this with 8 batches of the live (not EMA)
weights; here it is the weights file as shipped (EMA) and as many batches as asked.

``--draws T`` also reports, one step ahead and teacher-forced, how far a draw at temperature T
lands from the true sample: the share of draws off the true mu-law class, their mean distance in
classes, and the signal-to-noise ratio of the drawn audio against the crops (dB: the crops' power
over the expected squared error of a draw). It is the sampling noise a free-running render
starts from before any of its own errors feed back; ``scripts/noise_floor_lsd.py`` says what LSD
a given SNR costs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import nsynth
from nsynth.data import open_dataset
from nsynth.decoders import logistic
from nsynth.mulaw import dequantize, quantize
from nsynth.training.data import CropBatches, load_codes


DRAWS = 4  # Monte Carlo draws per sample for a continuous (logistic) head


def heldout_scores(
    model: nsynth.NSynthAutoencoder, data: Path, crop: int, batch: int, batches: int, temperature: float | None = None
) -> dict[str, float]:
    """Over ``batches`` seeded batches of (batch, crop) crops, one teacher-forced pass each: the
    mean cross-entropy (``loss``); with ``temperature``, also the draws at it: the share off the
    true class (``off``), the mean distance in classes (``classes``) and the SNR of the drawn
    audio (``snr_db``)."""
    codes = load_codes(open_dataset(data), crop, progress=False)
    crops = CropBatches(codes, crop, batch, seed=1234)
    classes = torch.arange(256, dtype=torch.float32)
    values = dequantize(torch.arange(256))  # (256,) the audio value of each class
    losses = []
    off = dist = err = power = 0.0
    with torch.no_grad():
        for i in range(batches):
            audio, pitch = crops[i]
            logits = model(audio, pitch if model.config.pitch_conditioning else None)  # (B, 256, T)
            target = quantize(audio)  # (B, T) classes
            losses.append(model.nll(logits, audio).item())  # = model.loss, from the same pass
            if temperature is None:
                continue
            if model.decoder.output == "logistic":  # continuous draws: DRAWS of them per sample
                b, c, t = logits.shape
                flat = logits.transpose(1, 2).reshape(b * t, c)
                g = torch.Generator().manual_seed(i)
                for _ in range(DRAWS):
                    v = logistic.draw(flat, torch.rand(b * t, generator=g), temperature).view(b, t)
                    cls = logistic.value_classes(v)
                    off += float((cls != target).float().mean()) / DRAWS
                    dist += float((cls - target).abs().float().mean()) / DRAWS
                    err += float(((logistic.value_audio(v) - audio) ** 2).mean()) / DRAWS
                power += float((audio**2).mean())
                continue
            probs = torch.softmax(logits / temperature, 1)
            off += float((1 - probs.gather(1, target[:, None])[:, 0]).mean())
            dist += float((probs * (classes[None, :, None] - target[:, None]).abs()).sum(1).mean())
            err += float((probs * (values[None, :, None] - audio[:, None]) ** 2).sum(1).mean())
            power += float((audio**2).mean())
    scores = {"loss": float(np.mean(losses))}
    if temperature is not None:
        scores.update(off=off / batches, classes=dist / batches, snr_db=10 * float(np.log10(power / err)))
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path, nargs="+")
    ap.add_argument("--data", type=Path, nargs="+", required=True)
    ap.add_argument("--crop", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--batches", type=int, default=32)
    ap.add_argument("--draws", type=float, default=None, metavar="T", help="Also score draws at temperature T.")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = [str(d) for d in args.data]
    print("weights".ljust(40), *(n[-24:].rjust(24) for n in names), "mean".rjust(8))
    rows = {}
    for w in args.weights:
        model = nsynth.load_model(w).eval()
        scores = [heldout_scores(model, d, args.crop, args.batch_size, args.batches, args.draws) for d in args.data]
        losses = [r["loss"] for r in scores]
        rows[str(w)] = dict(zip(names, losses), mean=float(np.mean(losses)))
        print(str(w)[-40:].ljust(40), *(f"{v:24.4f}" for v in losses), f"{np.mean(losses):8.4f}", flush=True)
        if args.draws is not None:
            draws = [{k: v for k, v in r.items() if k != "loss"} for r in scores]
            rows[str(w)]["draws"] = dict(zip(names, draws), temperature=args.draws)
            for name, r in zip(names, draws):
                print(
                    f"  draws at T = {args.draws} on {name}: {100 * r['off']:.1f} % off the true class,"
                    f" {r['classes']:.2f} classes on average, SNR {r['snr_db']:.1f} dB",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
