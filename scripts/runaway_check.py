#!/usr/bin/env python3
"""How often free-running generation runs away on decaying notes: each note reconstructed with
several seeds, a runaway being an output more than 6 dB louder than its input ever is
(``nsynth.evaluate.runaway``), e.g. a DC drift or noise where the input has died away. A render
is also counted as stuck where some quarter second of it has a mean beyond +-0.3 (full scale
1): the decoder has locked onto a constant.

    python scripts/runaway_check.py DATA_DIR [--checkpoint W.safetensors] [--seeds 4] [--families ...]

DATA_DIR is an NSynth-layout folder (held-out programs). Takes every note of the given families
at the pitches in --pitches (default: MIDI 34, 46, 58 and 70), all seeds of a note in one batch.
Prints one line per note and the total; --json writes them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import nsynth
from nsynth.data import open_dataset
from nsynth.evaluate import lsd, runaway, windows
from nsynth.generation import encode_audio, generate_audio
from nsynth.pitch import f0_frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--families", default="mallet,keyboard,guitar,bass")
    ap.add_argument("--pitches", default="34,46,58,70")
    ap.add_argument("--velocity", type=int, default=100)
    ap.add_argument("--temperature", type=float, default=None)
    ap.add_argument("--min-p", type=float, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    model = nsynth.load_model(args.checkpoint)
    sr, hop = model.config.sample_rate, model.config.hop
    ds = open_dataset(args.data, sr)
    families = set(args.families.split(","))
    pitches = {int(p) for p in args.pitches.split(",")}
    chosen = [
        i for i, n in enumerate(ds.notes) if n.family in families and n.pitch in pitches and n.velocity == args.velocity
    ]
    sampling = nsynth.Sampling(seed=0, temperature=args.temperature, min_p=args.min_p, progress=False)
    rows, total, stuck = [], 0, 0
    for i in chosen:
        x = ds.load(i)
        note = ds.notes[i]
        enc = encode_audio(model, x) * args.seeds  # encoded once; one batch row per seed
        # batch row k draws its own uniforms, so the rows are the seeds
        curve = f0_frames(x, sr, hop) if model.pitch_locked else None
        ys = generate_audio(
            model,
            enc,
            [note.pitch] * args.seeds,
            [x.size] * args.seeds,
            sampling=sampling,
            f0=None if curve is None else [curve] * args.seeds,
        )
        dists = [lsd(x, y) for y in ys]
        runaways = sum(runaway(x, y) for y in ys)
        levels = [largest_offset(y, sr // 4) for y in ys]
        n_stuck = sum(v > STUCK for v in levels)
        total += runaways
        stuck += n_stuck
        rows.append({"key": note.key, "runaways": runaways, "stuck": n_stuck, "lsd": dists, "offset": levels})
        print(
            f"{note.key:36} {runaways}/{args.seeds} runaways, {n_stuck} stuck   LSD {np.round(dists, 1).tolist()}"
            f"   largest offset {np.round(levels, 2).tolist()}",
            flush=True,
        )
    n = len(chosen) * args.seeds
    print(f"total: {total} of {n} renders ran away ({100 * total / max(n, 1):.1f} %), {stuck} stuck on a constant")
    if args.json:
        args.json.write_text(
            json.dumps({"checkpoint": str(args.checkpoint), "total": total, "stuck": stuck, "n": n, "notes": rows})
        )


STUCK = 0.3  # a quarter second whose mean is beyond this (full scale 1): stuck on a constant (seen: 0.45-0.53)


def largest_offset(y: np.ndarray, window: int) -> float:
    """Largest |mean| of ``y`` (T,) over windows of ``window`` samples."""
    return float(np.abs(windows(y, window).mean(axis=1)).max())


if __name__ == "__main__":
    main()
