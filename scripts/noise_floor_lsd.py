#!/usr/bin/env python3
"""What noise floor a log-spectral-distance figure stands for: each held-out note with noise
added that follows its own envelope, at several signal-to-noise ratios, scored with
``nsynth evaluate``'s LSD beside the same notes' sine baseline.

    python scripts/noise_floor_lsd.py DATA_DIR [--limit 22] [--snr 0,10,20,30,40,50] [--json F]

DATA_DIR is an NSynth-layout folder (held-out programs); --limit takes the evenly spaced subset
that ``nsynth evaluate --limit`` takes, so the figures line up with its report. The noise is
white, scaled per 512-sample frame to the input's RMS there less SNR dB (so it fades with the
note, as a decoder's sampling noise does), optionally also put through 8-bit mu-law
(``--mulaw``: the output format's own quantization on top). No model is involved: the table
says where a model whose renders were the input plus such noise would score, e.g. which SNR the
target of 0.5x the sine baseline asks for.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from nsynth.data import open_dataset
from nsynth.evaluate import envelope, lsd, median_f0, sine_baseline
from nsynth.mulaw import dequantize, quantize


def noisy(x: np.ndarray, snr_db: float, rng: np.random.Generator, mulaw: bool) -> np.ndarray:
    """(T,) input plus white noise at ``snr_db`` below its envelope; through mu-law if ``mulaw``."""
    y = (x + envelope(x) * 10 ** (-snr_db / 20) * rng.standard_normal(x.size)).astype(np.float32)
    y = np.clip(y, -1.0, 1.0)
    return dequantize(quantize(torch.from_numpy(y))).numpy() if mulaw else y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--limit", type=int, default=22)
    ap.add_argument("--snr", default="0,10,20,30,40,50", help="Comma-separated SNRs in dB.")
    ap.add_argument("--mulaw", action="store_true", help="Also quantize the noisy input to 8-bit mu-law.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    ds = open_dataset(args.data, 16000).subset(args.limit)
    snrs = [float(s) for s in args.snr.split(",")]
    rng = np.random.default_rng(args.seed)
    sums = dict.fromkeys(snrs, 0.0)
    sine_sum = 0.0
    for i in range(len(ds)):
        x = ds.load(i)
        sine_sum += lsd(x, sine_baseline(x, median_f0(x, 16000), 16000))
        for s in snrs:
            sums[s] += lsd(x, noisy(x, s, rng, args.mulaw))
    n = len(ds)
    sine = sine_sum / n
    rows = [{"snr_db": s, "lsd": sums[s] / n, "of_sine": sums[s] / n / sine} for s in snrs]
    print(
        f"{n} notes of {args.data}; sine baseline {sine:.2f} dB"
        + ("; noisy input through mu-law" if args.mulaw else "")
    )
    print("SNR (dB) | LSD (dB) | of sine")
    for r in rows:
        print(f"{r['snr_db']:8.0f} | {r['lsd']:8.2f} | {r['of_sine']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"notes": n, "sine": sine, "mulaw": args.mulaw, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
