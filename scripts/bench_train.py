#!/usr/bin/env python3
"""Training throughput on this machine: samples/s of a full training step (forward, loss,
backward, Adam) for presets, batch x crop shapes, thread counts and torch.compile.

    python scripts/bench_train.py [--presets mini,pitched] [--shapes 8x4096,4x8192,16x2048]
                                  [--threads 1] [--compile] [--steps 6] [--profile]

Every configuration runs in this one process, one after another, so the printed ratios
(against the first row) compare like with like on a shared, noisy machine. ``--profile``
prints where the time of one step goes (torch.profiler, top operators).
"""

from __future__ import annotations

import argparse
import time

import torch

from nsynth.config import get_preset
from nsynth.model import NSynthAutoencoder


def step_rate(preset: str, batch: int, crop: int, steps: int, compile_: bool) -> float:
    torch.manual_seed(0)
    model = NSynthAutoencoder(get_preset(preset)).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    fn = torch.compile(model) if compile_ else model
    audio = (torch.rand(batch, crop) * 2 - 1) * 0.3
    pitch = torch.randint(24, 96, (batch,))

    def one() -> None:
        loss = torch.nn.functional.cross_entropy(fn(audio, pitch), model_targets(audio))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):  # warm-up (and compilation)
        one()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return steps * batch * crop / (time.perf_counter() - t0)


def model_targets(audio: torch.Tensor) -> torch.Tensor:
    from nsynth.mulaw import quantize

    return quantize(audio)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="mini,pitched")
    ap.add_argument("--shapes", default="8x4096")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--compile", action="store_true", help="Also time each configuration under torch.compile.")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for preset in args.presets.split(","):
            for shape in args.shapes.split(","):
                b, c = (int(v) for v in shape.split("x"))
                for comp in [False, True] if args.compile else [False]:
                    rate = step_rate(preset, b, c, args.steps, comp)
                    rows.append((f"{preset} {b}x{c} threads={threads}{' compiled' if comp else ''}", rate))
                    print(f"{rows[-1][0]:45s} {rate:9,.0f} samples/s  {rate / rows[0][1]:5.2f}x", flush=True)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        preset = args.presets.split(",")[-1]
        b, c = (int(v) for v in args.shapes.split(",")[0].split("x"))
        model = NSynthAutoencoder(get_preset(preset)).train()
        audio = (torch.rand(b, c) * 2 - 1) * 0.3
        pitch = torch.randint(24, 96, (b,))
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            loss = torch.nn.functional.cross_entropy(model(audio, pitch), model_targets(audio))
            loss.backward()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
