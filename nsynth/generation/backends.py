"""Choosing and running a generation backend.

- ``reference``: the eager cached loop (``nsynth.generation.reference``), the ground truth.
- ``fast``: on CPU the fused numba kernel (``nsynth.generation.fast_cpu``), with the batch split
  over cores for narrow models and the rows of each product split for wide ones; on CUDA
  the static step replayed as CUDA graphs (``nsynth.generation.cuda_graph``).
- ``auto``: ``fast`` where it applies, else ``reference``.

Precision ``bf16`` keeps the large weight matrices in bfloat16; ``auto`` uses it for wide
models (R >= 256), where generation is memory-bound, and fp32 otherwise.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numba
import numpy as np
import torch

from nsynth.decoders.wavenet import WaveNetDecoder
from nsynth.errors import OptionError
from nsynth.generation.options import BACKENDS, PRECISIONS, Sampling
from nsynth.generation.reference import generate as reference_generate

CHUNK = 1024  # samples per kernel call: progress updates between calls


def resolve_backend(decoder: WaveNetDecoder, device: torch.device, backend: str = "auto") -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if decoder.output == "logistic":  # the fast kernels implement the softmax head only
        if backend == "fast":
            raise OptionError("backend", "fast", "this model's logistic output runs on the reference backend only")
        return "reference"
    if backend != "auto":
        return backend
    r, s = decoder.start.out_channels, decoder.skip_start.out_channels
    return "fast" if device.type == "cuda" or (r % 4 == 0 and s % 4 == 0) else "reference"


def use_bf16(decoder: WaveNetDecoder, precision: str = "auto") -> bool:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    return precision == "bf16" or (precision == "auto" and decoder.start.out_channels >= 256)


def generate_classes(
    decoder: WaveNetDecoder,
    cond: torch.Tensor,
    n_samples: int,
    uniforms: torch.Tensor,
    sampling: Sampling,
    *,
    progress: Callable[[int], None] | None = None,
    period: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generate (B, n_samples) mu-law classes with the backend ``sampling`` chooses.

    Args:
        cond: (B, cond_channels, F) conditioning on the model's device.
        uniforms: (n_samples, B) uniforms in [0, 1): the same draws for every backend.
        sampling: resolved options (``Sampling.for_model``): backend, precision, and how each
            value is drawn; its seed is not used (the uniforms are the draws).
        period: (B, n_samples) pitch periods in samples, for pitch-locked decoders.
    """
    sampling.check_resolved()
    device = cond.device
    name = resolve_backend(decoder, device, sampling.backend)
    bf16 = use_bf16(decoder, sampling.precision)
    # how each class is drawn: the same keywords on every backend
    draw = dict(temperature=sampling.temperature, greedy=sampling.greedy, min_p=sampling.min_p)
    if name == "reference":
        return reference_generate(decoder, cond, n_samples, uniforms=uniforms, progress=progress, period=period, **draw)
    if device.type == "cuda":
        from nsynth.generation.cuda_graph import StaticStepDecoder

        state = StaticStepDecoder(
            decoder,
            cond,
            n_samples,
            uniforms=uniforms,
            weight_dtype=torch.bfloat16 if bf16 else torch.float32,
            period=period,
            **draw,
        )
        for start in range(0, n_samples, CHUNK):
            n = min(CHUNK, n_samples - start)
            state.run(n)
            if progress is not None:
                torch.cuda.synchronize(device)
                progress(n)
        return state.classes
    return _fast_cpu(decoder, cond, n_samples, uniforms, bf16, draw, progress, period)


def _fast_cpu(decoder, cond, n_samples, uniforms, bf16, draw, progress, period) -> torch.Tensor:
    from nsynth.generation.fast_cpu import FastCPUDecoder

    b = cond.shape[0]
    wide = decoder.start.out_channels >= 256
    threads = numba.get_num_threads()
    # Narrow models: independent halves of the batch on separate cores (no per-step sync).
    # Wide models: one kernel whose products spread over the cores.
    parts = 1 if wide or b < 2 else min(threads, b)
    bounds = np.linspace(0, b, parts + 1).astype(int)
    kernels = [
        FastCPUDecoder(
            decoder,
            cond[lo:hi],
            None if period is None else period[lo:hi],
            bf16=bf16,
            parallel=wide and threads > 1,
        )
        for lo, hi in zip(bounds[:-1], bounds[1:])
    ]
    u = uniforms.detach().float().cpu().numpy()
    out = np.zeros((b, n_samples), np.int64)
    # numba's parallel regions must start from the main thread: one part runs right here.
    with ThreadPoolExecutor(max_workers=max(1, parts - 1)) as pool:
        for start in range(0, n_samples, CHUNK):
            n = min(CHUNK, n_samples - start)
            args = [
                (kern, u[start : start + n, lo:hi], lo, hi) for kern, lo, hi in zip(kernels, bounds[:-1], bounds[1:])
            ]
            jobs = [pool.submit(k.run, n, uniforms=uu, **draw) for k, uu, _, _ in args[1:]]
            kern, uu, lo, hi = args[0]
            out[lo:hi, start : start + n] = kern.run(n, uniforms=uu, **draw)[0]
            for job, (_, _, lo, hi) in zip(jobs, args[1:]):
                out[lo:hi, start : start + n] = job.result()[0]
            if progress is not None:
                progress(n)
    return torch.from_numpy(out)
