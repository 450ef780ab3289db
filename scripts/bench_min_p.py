#!/usr/bin/env python3
"""Fused CPU kernel speed with min-p off and on, interleaved in one run (one thread, the shipped
model, T = 0.5; the best of 4 timed runs of 8,000 steps each):

    NUMBA_NUM_THREADS=1 python scripts/bench_min_p.py
"""

import time

import numpy as np
import torch

import nsynth
from nsynth.generation.fast_cpu import FastCPUDecoder

STEPS = 8000


def main() -> None:
    torch.set_num_threads(1)
    model = nsynth.load_model()
    for b in (1, 8):
        with torch.no_grad():
            cond = model.conditioning(torch.randn(b, 16, 40), torch.full((b,), 60))
        period = torch.full((b, 40 * 512), 16000 / 261.6)
        u = np.random.default_rng(0).random((STEPS, b)).astype(np.float32)
        best = {0.0: float("inf"), 0.1: float("inf")}
        for _ in range(4):
            for min_p in best:
                kernel = FastCPUDecoder(model.decoder, cond, period)
                kernel.run(100, uniforms=u[:100], temperature=0.5, min_p=min_p)  # warm up
                start = time.perf_counter()
                kernel.run(STEPS, uniforms=u, temperature=0.5, min_p=min_p)
                best[min_p] = min(best[min_p], time.perf_counter() - start)
        rate = {min_p: STEPS * b / t for min_p, t in best.items()}
        print(
            f"batch {b}: min-p 0 {rate[0.0]:,.0f} samples/s, min-p 0.1 {rate[0.1]:,.0f} samples/s,"
            f" ratio {rate[0.1] / rate[0.0]:.3f}"
        )


if __name__ == "__main__":
    main()
