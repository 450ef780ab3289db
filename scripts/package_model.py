#!/usr/bin/env python3
"""Package a training run's EMA weights as the model shipped inside nsynth.

    python scripts/package_model.py RUN_DIR [--status prototype|release] [--note "..."]

RUN_DIR may also be a run's EMA weights file whose folder is gone (its samples and seconds then
come from its own metadata where it has them, plus --prior-record). Copies
RUN_DIR/model.safetensors to nsynth/weights/<DEFAULT_WEIGHTS> (the default of every command),
adding the training record from RUN_DIR (config.json, last metrics row) to the file's metadata.
``--status prototype`` makes the CLI say so when the default is used.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from nsynth.weights import DEFAULT_WEIGHTS, load_model, read_info, save_model

ROOT = Path(__file__).resolve().parents[1]


def training_seconds(rows: list[dict]) -> float:
    """Training wall time from metrics rows. Runs resumed before the clock was carried over
    restart ``seconds`` at each resume; those segments are added up."""
    total, prev = 0.0, 0.0
    for r in rows:
        s = float(r["seconds"])
        if s < prev:
            total += prev
        prev = s
    return total + prev


def run_record(run_dir: Path, step: int) -> tuple[int, float]:
    """(samples seen, training wall seconds) of ``run_dir`` up to ``step``."""
    run = json.loads((run_dir / "config.json").read_text())
    with open(run_dir / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    return step * run["train"]["batch_size"] * run["train"]["crop"], training_seconds(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--status", default="prototype", choices=["prototype", "release"])
    ap.add_argument("--note", default="")
    ap.add_argument("--preset", default="pitched", help="The preset the run trained (recorded).")
    ap.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="Recommended sampling temperature (the default of every command).",
    )
    ap.add_argument(
        "--min-p",
        type=float,
        default=None,
        help="Recommended min-p truncation of sampling (the default of every command).",
    )
    ap.add_argument(
        "--prior",
        type=Path,
        action="append",
        default=[],
        metavar="RUN_DIR:STEP",
        help="An earlier run this one started from (--init-from its EMA weights at STEP): its samples"
        " and wall time up to STEP are added to the record. Repeat for a chain, oldest first.",
    )
    ap.add_argument(
        "--prior-record",
        action="append",
        default=[],
        metavar="SAMPLES:SECONDS",
        help="Samples and training wall seconds of an earlier stage whose run folder is gone (from the"
        " metadata of the weights it left, or the training log): added to the record. Repeatable.",
    )
    ap.add_argument("--status-note", default="", help="What the CLI tells users of a prototype default model.")
    ap.add_argument("--heldout", default="", help="Held-out figures to record (nsynth evaluate's, in one line).")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "nsynth" / "weights" / DEFAULT_WEIGHTS)
    args = ap.parse_args()
    # RUN_DIR, or a run's EMA weights file whose folder is gone: its record is then only what the
    # file itself says (step, validation loss, samples and seconds if packaged before) plus --prior-record
    bare = args.run_dir.is_file()
    src = args.run_dir if bare else args.run_dir / "model.safetensors"
    model = load_model(src)
    info = read_info(src)
    step = int(info.metadata.get("step", "0") or 0)
    if bare:
        run, rows = {}, []
        valid = [{"valid_loss": info.metadata["valid_loss"]}] if info.metadata.get("valid_loss") else []
        if not args.prior_record and not info.metadata.get("samples_seen"):
            print(f"warning: {src} has no run folder and no --prior-record: its record says 0 samples, 0 s")
    else:
        run = json.loads((args.run_dir / "config.json").read_text())
        with open(args.run_dir / "metrics.csv") as f:  # rows past the weights' step (a run killed after it) left out
            rows = [r for r in csv.DictReader(f) if not step or int(r["step"]) <= step]
        valid = [r for r in rows if r.get("valid_loss")]
    last = rows[-1] if rows else {}
    meta = {
        "preset": args.preset,
        "status": args.status,
        "note": args.note,
        "step": info.metadata.get("step", ""),
        "train_loss": last.get("loss", ""),
        "valid_loss": valid[-1]["valid_loss"] if valid else "",
        # a bare file packaged before carries its own record
        "samples_seen": str(step * run["train"]["batch_size"] * run["train"]["crop"])
        if run
        else info.metadata.get("samples_seen", "0"),
        "wall_seconds": f"{training_seconds(rows):.0f}" if run else info.metadata.get("wall_seconds", "0"),
        "device": run.get("device", ""),
        "train_data": run.get("train_data", ""),
        "init_from": run.get("init_from") or "",
    }
    priors = []  # (samples, seconds) of each earlier stage
    for prior in args.prior:
        run_dir, step = str(prior).rsplit(":", 1)
        priors.append(run_record(Path(run_dir), int(step)))
        meta["init_from"] += f" (after {run_dir} to step {step})"
    for record in args.prior_record:
        try:
            samples, seconds = (float(v) for v in record.split(":"))
            if not (math.isfinite(samples) and math.isfinite(seconds) and samples >= 0 and seconds >= 0):
                raise ValueError
        except ValueError:
            ap.error(f"--prior-record {record!r}: expected SAMPLES:SECONDS, two numbers >= 0")
        priors.append((int(samples), seconds))
    for samples, seconds in priors:
        meta["samples_seen"] = str(int(meta["samples_seen"]) + samples)
        meta["wall_seconds"] = f"{float(meta['wall_seconds']) + seconds:.0f}"
    if args.status_note:
        meta["status_note"] = args.status_note
    if args.heldout:
        meta["heldout"] = args.heldout
    if args.temperature is not None:
        meta["temperature"] = f"{args.temperature:g}"
    if args.min_p is not None:
        meta["min_p"] = f"{args.min_p:g}"
    save_model(model, args.output, force=True, metadata=meta)
    print(f"{args.output}: {meta}")


if __name__ == "__main__":
    main()
