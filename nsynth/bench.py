"""Generation and encoding throughput, measured in one run so ratios are meaningful.

For each preset and batch size: ``naive`` (recompute the receptive field every step, a
short run), ``reference`` (eager cached loop) and ``fast`` (fused CPU kernel / CUDA
graphs), in samples/s (summed over the batch), and the encoder's speed as a multiple of
real time. Presets are randomly initialised (speed does not depend on the weights); a weights
file given instead of a preset is timed with its own config.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from nsynth.generation.backends import generate_classes, use_bf16
from nsynth.generation.render import encode_audio
from nsynth.generation.options import Sampling
from nsynth.generation.reference import CachedDecoder
from nsynth.postfilter import pitch_postfilter
from nsynth.weights import build_model, load_model


@dataclass
class Row:
    preset: str
    batch: int
    backend: str
    samples_per_s: float | None
    device: str
    realtime_factor: float | None = None
    precision: str | None = None
    steps: int | None = None

    def as_json(self) -> dict:
        d = asdict(self)
        return {k: v for k, v in d.items() if v is not None}


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _period(model, b: int, steps: int) -> torch.Tensor | None:
    """(b, steps) periods of middle C for pitch-locked models, else None."""
    return model.period(torch.full((b,), 60), steps)


def _naive(model, cond, steps: int) -> None:
    """Each sample from a full forward pass over its receptive field (what no-cache generation costs)."""
    dec = model.decoder
    rf = dec.receptive_field
    b = cond.shape[0]
    x = torch.zeros(b, 1, rf, device=cond.device)
    c = cond[..., :1].expand(-1, -1, -(-rf // dec.hop))
    period = _period(model, b, rf)
    for _ in range(steps):
        logits = dec(x, c, period)[..., -1]
        nxt = (logits.argmax(-1).float() - 128) / 128
        x = torch.cat([x[..., 1:], nxt[:, None, None]], dim=-1)


def _reference(model, cond, steps: int) -> None:
    state = CachedDecoder(model.decoder, cond, _period(model, cond.shape[0], steps))
    x = torch.zeros(cond.shape[0], device=cond.device)
    for _ in range(steps):
        x = (state.step(x).argmax(-1).float() - 128) / 128


def _postfilter_row(preset: str, sr: int, dev: str, repeats: int) -> Row:
    """The pitch postfilter on 4 s notes at MIDI 36, 60 and 96 (low notes read few taps, high
    notes many): samples/s over the three, best of ``repeats``."""
    rng = np.random.default_rng(0)
    t = np.arange(4 * sr) / sr
    notes = []
    for midi in (36, 60, 96):
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        x = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, int(0.45 * sr // f0) + 1)) * 0.2
        notes.append((x + rng.normal(0, 0.01, t.size), np.full(t.size, sr / f0)))
    dt = min(_timed(lambda: [pitch_postfilter(x, p) for x, p in notes]) for _ in range(repeats))
    n = sum(x.size for x, _ in notes)
    return Row(preset, 1, "postfilter", n / dt, dev, realtime_factor=n / sr / dt, precision="fp64")


class _Rows(list):
    """The rows measured so far; each is said as it comes (``log``), so a long bench is never silent."""

    def __init__(self, log: Callable[[str], None] | None) -> None:
        super().__init__()
        self.log = log

    def say(self, message: str) -> None:
        if self.log:
            self.log(message)

    def append(self, row: Row) -> None:
        super().append(row)
        rate = f"{row.samples_per_s:,.0f} samples/s" if row.backend != "encoder" else f"{row.realtime_factor:.1f}x real time"
        self.say(f"  {row.preset} batch {row.batch} {row.backend}: {rate}")

    def extend(self, rows) -> None:
        for r in rows:
            self.append(r)


def _encoder_row(preset: str, model, device: torch.device, repeats: int) -> Row:
    """The encoder on 8 notes of 4 s of noise, one at a time as ``encode_audio`` runs them on a
    CPU: best of ``repeats``, as a multiple of real time."""
    sr = model.config.sample_rate
    with torch.inference_mode():
        notes = list((torch.rand(8, 4 * sr) * 2 - 1).numpy())
        encode_audio(model, notes[:1])
        _sync(device)
        dt = min(_timed(lambda: (encode_audio(model, notes), _sync(device))) for _ in range(repeats))
    return Row(preset, 8, "encoder", 8 * 4.0 * sr / dt, str(device), realtime_factor=8 * 4.0 / dt)


def _parallel_rows(preset: str, model, batches: list[int], device: torch.device, repeats: int) -> list[Row]:
    """A parallel model's one-pass synthesis of 4 s notes at middle C (samples/s summed over the
    batch, best of ``repeats``): what ``generate_audio`` runs for it."""
    cfg, dev = model.config, str(device)
    n = 4 * cfg.sample_rate
    rows = []
    with torch.inference_mode():
        for b in batches:
            emb = torch.randn(b, cfg.latent_dim, -(-n // cfg.hop), device=device)
            pitch = torch.full((b,), 60, device=device)
            gen = torch.Generator(device=device).manual_seed(0)
            model.synthesize(emb, pitch, generator=gen)  # warm-up
            _sync(device)
            dt = min(_timed(lambda: (model.synthesize(emb, pitch, generator=gen), _sync(device))) for _ in range(repeats))
            samples = b * emb.shape[-1] * cfg.hop
            rows.append(Row(preset, b, "parallel", samples / dt, dev, precision="fp32", steps=emb.shape[-1] * cfg.hop))
    return rows


def bench(
    presets: list[str],
    batches: list[int],
    device: torch.device,
    seconds: float = 1.0,
    precision: str = "auto",
    naive: bool = True,
    repeats: int = 3,
    log: Callable[[str], None] | None = None,
) -> list[Row]:
    """Measure every (preset, batch, backend): the best of ``repeats`` runs of about
    ``seconds`` each, since a shared machine only ever slows a run down (``naive`` only at
    batch 1, once, and for at least its 2-sample probe)."""
    rows = _Rows(log)
    dev = str(device)
    for preset in presets:
        rows.say(f"{preset}: timing ...")
        torch.manual_seed(0)
        if preset.endswith(".safetensors"):  # a weights file: its own config (a shipped model's folding, say)
            model, preset = load_model(preset).to(device).eval(), Path(preset).name
        else:
            model = build_model(preset).to(device).eval()
        rows.append(_encoder_row(preset, model, device, repeats))
        if model.parallel:
            rows.extend(_parallel_rows(preset, model, batches, device, repeats))
            continue
        bf16 = use_bf16(model.decoder, precision)
        prec = "bf16" if bf16 else "fp32"
        with torch.inference_mode():
            rows.append(_postfilter_row(preset, model.config.sample_rate, dev, repeats))
            for b in batches:
                cond = model.conditioning(
                    torch.randn(b, model.config.latent_dim, 200, device=device),
                    torch.full((b,), 60, device=device) if model.config.pitch_conditioning else None,
                )

                def rate(fn, probe: int, warmup: int = 2, reps: int = repeats) -> tuple[float, int]:
                    fn(model, cond, warmup)  # warm-up (and JIT compile)
                    _sync(device)
                    t = _timed(lambda: (fn(model, cond, probe), _sync(device)))
                    n = max(probe, min(int(probe * seconds / max(t, 1e-6)), 64000))
                    t = min(_timed(lambda: (fn(model, cond, n), _sync(device))) for _ in range(reps))
                    return b * n / t, n

                if naive and b == 1:  # minutes per second of audio: batch 1 only
                    sps, n = rate(_naive, 2, warmup=1, reps=1)
                    rows.append(Row(preset, b, "naive", sps, dev, precision="fp32", steps=n))
                sps, n = rate(_reference, 8)
                rows.append(Row(preset, b, "reference", sps, dev, precision="fp32", steps=n))

                def fast(m, c, steps):
                    u = torch.rand(steps, c.shape[0], device=c.device)
                    period = _period(m, c.shape[0], steps)
                    generate_classes(
                        m.decoder, c, steps, u, Sampling(backend="fast", precision=precision).for_model(m), period=period
                    )

                sps, n = rate(fast, 32)
                rows.append(Row(preset, b, "fast", sps, dev, precision=prec, steps=n))
    return list(rows)


def table(rows: list[Row]) -> str:
    """A text table with ratios measured in the same run: a fast row's to its reference row, a
    parallel row's to the first sample-by-sample preset's fast row at the same batch."""
    ref = {(r.preset, r.batch): r.samples_per_s for r in rows if r.backend == "reference"}
    fast: dict[int, tuple[str, float]] = {}
    for r in rows:
        if r.backend == "fast":
            fast.setdefault(r.batch, (r.preset, r.samples_per_s))
    lines = [
        f"{'preset':8} {'batch':>5} {'backend':10} {'precision':9} {'samples/s':>12} {'x realtime':>10} {'ratio':>8}"
    ]
    notes = set()
    for r in rows:
        if r.backend == "encoder":
            lines.append(
                f"{r.preset:8} {r.batch:5d} {'encoder':10} {'fp32':9} {'':>12} {r.realtime_factor:10.1f} {'':>8}"
            )
            continue
        ratio = ""
        if r.backend == "fast" and (r.preset, r.batch) in ref:
            ratio = f"{r.samples_per_s / ref[(r.preset, r.batch)]:8.1f}"
            notes.add("ratio of a fast row: fast / reference of its preset")
        elif r.backend == "parallel" and r.batch in fast:
            ratio = f"{r.samples_per_s / fast[r.batch][1]:8.1f}"
            notes.add(f"ratio of a parallel row: parallel / {fast[r.batch][0]} fast at its batch")
        sps = f"{r.samples_per_s:12,.0f}" if r.samples_per_s >= 10 else f"{r.samples_per_s:12.2f}"
        lines.append(
            f"{r.preset:8} {r.batch:5d} {r.backend:10} {r.precision or '':9} {sps} "
            f"{r.samples_per_s / 16000:10.2f} {ratio:>8}"
        )
    return "\n".join(lines + sorted(notes))
