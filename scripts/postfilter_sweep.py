"""Choose the pitch postfilter's settings: render notes once, then score many filter settings on them.

    python scripts/postfilter_sweep.py DATA/valid --limit 44 --cache renders.npz [--checkpoint W]

The notes are reconstructed the way ``nsynth evaluate`` does (its ``render``: default sampling,
the period along each input's f0 curve, seed 0, batches of 8) with the postfilter off; the
renders, inputs and periods are kept in ``--cache`` so the sweep can be rerun for free. Every
setting is scored with evaluate's multi-resolution LSD against the input, beside the unfiltered
render and the sine baseline; per family too. Choose settings on one set of notes and report
them on another (the shipped settings were tuned on MuseScore's held-out programs;
docs/model-card.md reports on FluidR3's).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from collections import defaultdict
from pathlib import Path

import numpy as np

from nsynth.data import open_dataset
from nsynth.evaluate import lsd, median_f0, render, sine_baseline
from nsynth.generation.options import Sampling
from nsynth.postfilter import DEFAULT_SHAPE, pitch_postfilter
from nsynth.weights import load_model


def renders(args: argparse.Namespace) -> dict[str, list]:
    if args.cache and args.cache.exists():
        with np.load(args.cache, allow_pickle=False) as z:
            n = int(z["n"])
            return {
                "x": [z[f"x{i}"] for i in range(n)],
                "y": [z[f"y{i}"] for i in range(n)],
                "per": [z[f"p{i}"] for i in range(n)],
                "family": list(z["family"]),
                "sine": [float(v) for v in z["sine"]],
            }
    model = load_model(args.checkpoint)
    sr = model.config.sample_rate
    ds = open_dataset(args.data, sr).subset(args.limit)
    out: dict[str, list] = defaultdict(list)
    for start in range(0, len(ds), 8):
        idx = list(range(start, min(len(ds), start + 8)))
        r = render(model, ds, idx, Sampling(seed=args.seed, progress=True).for_model(model).shifted(start))
        for i, x, y, per, track in zip(idx, r.inputs, r.raw, r.periods, r.tracks):
            out["x"].append(x)
            out["y"].append(y)
            out["per"].append(per)
            out["family"].append(ds.notes[i].family or "unknown")
            out["sine"].append(lsd(x, sine_baseline(x, median_f0(x, sr, track), sr)))
        print(f"rendered {len(out['x'])} of {len(ds)}", flush=True)
    if args.cache:
        arrays = {f"{k}{i}": v for k, key in (("x", "x"), ("y", "y"), ("p", "per")) for i, v in enumerate(out[key])}
        np.savez(args.cache, n=len(out["x"]), family=np.array(out["family"]), sine=np.array(out["sine"]), **arrays)
    return dict(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--limit", type=int, default=44)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strength", default="1")
    ap.add_argument("--voicing", default="0.2:0.6", help="low:high pairs, comma-separated")
    ap.add_argument("--periods", default=str(DEFAULT_SHAPE.periods), help="taps on each side, comma-separated values")
    ap.add_argument("--families", action="store_true", help="print per-family figures of each setting")
    ap.add_argument("--notes", action="store_true", help="print each note's figures (sine, unfiltered, each setting)")
    args = ap.parse_args()
    r = renders(args)
    sine = np.array(r["sine"])
    raw = np.array([lsd(x, y) for x, y in zip(r["x"], r["y"])])
    fams = sorted(set(r["family"]))

    def row(name: str, d: np.ndarray) -> None:
        fam = {f: float(np.mean([v for v, g in zip(d, r["family"]) if g == f])) for f in fams}
        worse_than_sine = [f for f in fams if fam[f] > np.mean([s for s, g in zip(sine, r["family"]) if g == f])]
        print(
            f"{name:34} {d.mean():7.2f} {d.mean() / sine.mean():6.3f}x {np.median(d):7.2f}"
            f" {int((d < raw).sum()):4d}/{len(d)}  families worse than sine: {','.join(worse_than_sine) or '-'}"
        )
        if args.families:
            print("    " + "  ".join(f"{f} {v:.1f}" for f, v in fam.items()))

    print(f"{len(raw)} notes; sine baseline {sine.mean():.2f} dB")
    print(f"{'setting':34} {'LSD':>7} {'x sine':>7} {'median':>7} better")
    row("unfiltered", raw)
    pairs = [tuple(float(v) for v in p.split(":")) for p in args.voicing.split(",")]
    for s, (lo, hi), k in itertools.product(
        [float(v) for v in args.strength.split(",")], pairs, [int(v) for v in args.periods.split(",")]
    ):
        shape = dataclasses.replace(DEFAULT_SHAPE, voicing_low=lo, voicing_high=hi, periods=k)
        d = np.array([lsd(x, pitch_postfilter(y, p, s, shape=shape)) for x, y, p in zip(r["x"], r["y"], r["per"])])
        row(f"strength {s:g}, {k} periods, voicing {lo:g}:{hi:g}", d)
        if args.notes:
            for i in range(len(d)):
                print(f"    note {i:3d} {r['family'][i]:12} sine {sine[i]:6.2f}  unfiltered {raw[i]:6.2f}  filtered {d[i]:6.2f}")


if __name__ == "__main__":
    main()
