"""Training: random crops, Adam with a schedule, gradient clipping, EMA weights, bf16
autocast, checkpoints that resume exactly, validation on held-out instruments, and
DistributedDataParallel under torchrun.

Data order is counter-based: the batch of step s is drawn from ``rng(seed, rank, s)``,
so the data position of a run is its step and resuming needs nothing else.
Files in RUN_DIR: ``config.json`` (resolved, written at start), ``model.safetensors``
(EMA weights, a normal weights file), ``state.safetensors`` (everything to resume:
raw and EMA weights, Adam moments, step, RNG), ``metrics.csv``. All writes are atomic.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from nsynth.config import ModelConfig
from nsynth.data import NoteDataset
from nsynth.errors import NSynthError
from nsynth.files import atomic_path
from nsynth.model import NSynthAutoencoder
from nsynth.mulaw import dequantize, quantize
from nsynth.weights import save_state_dict

STATE_FORMAT = "nsynth-train-state"


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 20_000
    batch_size: int = 8
    crop: int = 6144
    lr: float = 2e-4
    schedule: str = "cosine"  # "magenta" (staircase), "cosine" (warmup + cosine to lr/10), "constant"
    warmup: int = 200
    grad_clip: float = 1.0
    ema_decay: float = 0.9999
    checkpoint_every: int = 1000
    valid_every: int = 1000
    valid_batches: int = 8
    log_every: int = 10
    seed: int = 0
    workers: int = 2
    input_noise: float = 0.0  # std of noise on the decoder's input (network units; a mu-law step is 1/128)
    amp: bool = False  # bf16 autocast
    compile: bool = False

    def lr_at(self, step: int) -> float:
        """Learning rate of step ``step`` (0-based)."""
        if self.schedule == "magenta":  # Magenta's staircase for the full model
            for boundary, value in ((180_000, 2e-5), (150_000, 4e-5), (120_000, 6e-5), (90_000, 1.33e-4)):
                if step >= boundary:
                    return value * self.lr / 2e-4
            return self.lr
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "cosine":
            t = min(1.0, (step - self.warmup) / max(1, self.steps - self.warmup))
            return self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))
        raise ValueError(f"unknown schedule {self.schedule!r}")


# --- data -----------------------------------------------------------------------------


@dataclass
class CodeSet:
    """Notes as 8-bit mu-law codes (exactly what the model sees), plus their pitches."""

    codes: np.ndarray  # (N, T) int8, each note zero-padded to the longest
    lengths: np.ndarray  # (N,) true lengths
    pitch: np.ndarray  # (N,) int64, -1 where unknown
    families: list[str | None]


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nsynth" / "codes"


def load_codes(ds: NoteDataset, min_length: int = 1, progress: bool = True, cache: bool = True) -> CodeSet:
    """Decode every note once to int8 mu-law codes (1 byte per sample), cached on disk."""
    if len(ds) == 0:
        raise NSynthError(f"{ds.name}: no notes to train on")
    key = hashlib.sha1(json.dumps([ds.name, ds.sample_rate, [n.key for n in ds.notes]]).encode()).hexdigest()[:16]
    path = _cache_dir() / f"{key}.npz"
    if cache and path.exists():
        with np.load(path, allow_pickle=False) as z:
            fam = [f or None for f in z["families"].tolist()]
            return CodeSet(z["codes"], z["lengths"], z["pitch"], fam)
    # One preallocated (N, T) array, widened in the rare case of a longer note: per-note
    # arrays would each keep a heap hole of the float decode's size (~4x the codes' memory).
    codes = np.zeros((len(ds), min_length), np.int8)
    lengths = np.zeros(len(ds), np.int64)
    for i in tqdm(range(len(ds)), desc="decoding notes", unit="note", disable=not progress):
        code = (quantize(torch.from_numpy(ds.load(i))) - 128).to(torch.int8).numpy()
        if code.size > codes.shape[1]:
            codes = np.pad(codes, ((0, 0), (0, code.size - codes.shape[1])))
        codes[i, : code.size] = code
        lengths[i] = code.size
    out = CodeSet(
        codes,
        lengths,
        np.array([-1 if n.pitch is None else n.pitch for n in ds.notes]),
        [n.family for n in ds.notes],
    )
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, force=True) as tmp:
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    codes=out.codes,
                    lengths=out.lengths,
                    pitch=out.pitch,
                    families=np.array([f or "" for f in out.families]),
                )
    return out


class CropBatches(torch.utils.data.Dataset):
    """Map-style dataset whose item ``s`` is the whole batch of step ``s``: random crops,
    drawn from a counter-based RNG so any step can be reproduced (exact resume)."""

    def __init__(
        self, data: CodeSet, crop: int, batch_size: int, seed: int, rank: int = 0, start: int = 0, stop: int = 2**62
    ) -> None:
        self.data, self.crop, self.batch_size = data, crop, batch_size
        self.seed, self.rank, self.start, self.stop = seed, rank, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        step = self.start + i
        rng = np.random.default_rng([self.seed, self.rank, step])
        idx = rng.integers(0, len(self.data.codes), self.batch_size)
        out = np.zeros((self.batch_size, self.crop), np.int8)
        for j, n in enumerate(idx):
            room = max(0, int(self.data.lengths[n]) - self.crop)
            off = int(rng.integers(0, room + 1))
            piece = self.data.codes[n, off : off + self.crop]
            out[j, : piece.size] = piece
        audio = dequantize(torch.from_numpy(out).long() + 128)
        return audio, torch.from_numpy(self.data.pitch[idx].astype(np.int64))


# --- state ----------------------------------------------------------------------------


class EMA:
    """Exponential moving average of the trainable weights, with Magenta's warm-up:
    decay_t = min(decay, (1 + t) / (10 + t))."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].lerp_(v.float(), 1 - d)


def _save_state(
    path: Path, model: torch.nn.Module, ema: EMA, opt: torch.optim.Optimizer, step: int, meta: dict
) -> None:
    tensors = {f"param/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema/{k}": v.cpu().contiguous() for k, v in ema.shadow.items()})
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    for name, p in zip(names, [p for p in model.parameters() if p.requires_grad]):
        for slot, value in opt.state.get(p, {}).items():
            tensors[f"opt/{name}/{slot}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng/torch"] = torch.get_rng_state()
    info = {"format": STATE_FORMAT, "step": step, **meta}
    with atomic_path(path, force=True) as tmp:
        save_file(tensors, str(tmp), metadata={"info": json.dumps(info)})


def _load_state(path: Path, model: torch.nn.Module, ema: EMA, opt: torch.optim.Optimizer) -> dict:
    try:
        with safe_open(str(path), framework="pt") as f:
            info = json.loads((f.metadata() or {}).get("info", "{}"))
            if info.get("format") != STATE_FORMAT:
                raise NSynthError(f"{path}: not an nsynth training state")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except NSynthError:
        raise
    except Exception as e:
        raise NSynthError(f"{path}: cannot read training state ({str(e).splitlines()[0][:120]})") from None
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("param/")}, strict=True)
    dev = next(model.parameters()).device
    ema.shadow = {k[4:]: v.to(dev) for k, v in tensors.items() if k.startswith("ema/")}
    for name, p in model.named_parameters():
        slots = {k.rsplit("/", 1)[1]: v for k, v in tensors.items() if k.startswith(f"opt/{name}/")}
        if slots:
            opt.state[p] = {s: (v if s == "step" else v.to(dev)) for s, v in slots.items()}
    torch.set_rng_state(tensors["rng/torch"])
    return info


# --- the loop -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainResult:
    step: int
    train_loss: float
    valid_loss: float | None
    samples_per_s: float
    run_dir: str


def _dist_env() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def train(
    model_config: ModelConfig,
    train_data: NoteDataset,
    run_dir: str | os.PathLike,
    cfg: TrainConfig = TrainConfig(),
    *,
    valid_data: NoteDataset | None = None,
    resume: bool = False,
    init_from: str | os.PathLike | None = None,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train ``model_config`` on ``train_data``, writing checkpoints to ``run_dir``.

    Under ``torchrun`` (RANK / WORLD_SIZE set) it trains data-parallel: NCCL on CUDA,
    gloo on CPU; rank 0 writes the files. ``init_from`` starts a new run from a weights
    file of the same config (fine-tuning, or continuing the shipped model).
    """
    rank, world, local = _dist_env()
    owns_group = world > 1 and not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device != "cpu" and torch.cuda.is_available() else "gloo")
    try:
        return _train(
            model_config,
            train_data,
            run_dir,
            cfg,
            valid_data,
            resume,
            init_from,
            device,
            progress,
            log,
            rank,
            world,
            local,
        )
    finally:
        if owns_group:  # tear down before exit: a live gloo group can abort the process at shutdown
            dist.barrier()
            dist.destroy_process_group()


def _train(
    model_config: ModelConfig,
    train_data: NoteDataset,
    run_dir: str | os.PathLike,
    cfg: TrainConfig,
    valid_data: NoteDataset | None,
    resume: bool,
    init_from: str | os.PathLike | None,
    device: str,
    progress: bool,
    log: Callable[[str], None],
    rank: int,
    world: int,
    local: int,
) -> TrainResult:
    from nsynth.generation import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    run = Path(run_dir)
    state_path, model_path = run / "state.safetensors", run / "model.safetensors"
    if rank == 0:
        if not resume and state_path.exists():
            raise NSynthError(f"{run}: already holds a training run; use --resume to continue it")
        if resume and not state_path.exists():
            raise NSynthError(f"{state_path}: no training state to resume from")
        run.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(cfg.seed)
    model = NSynthAutoencoder(model_config).to(dev)
    if init_from is not None and not resume:
        from nsynth.weights import load_model

        start_model = load_model(init_from)
        if start_model.config == model_config:
            model.load_state_dict(start_model.state_dict())
        else:
            copied = _copy_matching(start_model.state_dict(), model)
            if not copied:
                raise NSynthError(f"{init_from}: no tensor matches the model being trained")
            log(f"{init_from}: another config; copied {len(copied)} of {len(model.state_dict())} tensors")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, eps=1e-8)
    ema = EMA(model, cfg.ema_decay)
    start = 0
    if resume:
        info = _load_state(state_path, model, ema, opt)
        if ModelConfig.from_dict(info["model"]) != model_config:
            raise NSynthError(f"{state_path}: was trained with another model config; resume with the same preset")
        start = int(info["step"])
    if start >= cfg.steps:
        log(f"already at step {start} of {cfg.steps}")

    pitched = model_config.pitch_conditioning
    codes = load_codes(train_data, cfg.crop, progress=progress and rank == 0)
    if pitched and (codes.pitch < 0).any():
        keep = codes.pitch >= 0
        log(f"skipping {int((~keep).sum())} notes without a pitch label")
        codes = CodeSet(
            codes.codes[keep], codes.lengths[keep], codes.pitch[keep], [f for f, k in zip(codes.families, keep) if k]
        )
        if len(codes.codes) == 0:
            raise NSynthError(f"{train_data.name}: no note has a pitch, but the model is pitch-conditioned")
    valid_codes = load_codes(valid_data, cfg.crop, progress=False) if valid_data is not None else None

    if rank == 0:
        resolved = {
            "model": model_config.to_dict(),
            "train": dataclasses.asdict(cfg),
            "train_data": train_data.name,
            "valid_data": valid_data.name if valid_data else None,
            "n_train": int(len(codes.codes)),
            "n_valid": int(len(valid_codes.codes)) if valid_codes else 0,
            "world_size": world,
            "device": str(dev),
            "torch": torch.__version__,
            "resumed_from": start,
            "init_from": str(init_from) if init_from is not None and not resume else _previous_init(run),
        }
        with atomic_path(run / "config.json", force=True) as tmp:
            tmp.write_text(json.dumps(resolved, indent=1))

    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    step_fn = torch.compile(net) if cfg.compile else net
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.amp)

    def loss_of(audio: torch.Tensor, pitch: torch.Tensor, fn: torch.nn.Module, noise: float = 0.0) -> torch.Tensor:
        with amp:
            logits = fn(audio, pitch if pitched else None, None, noise)
        return torch.nn.functional.cross_entropy(logits.float(), quantize(audio))

    def validate() -> float | None:
        if valid_codes is None:
            return None
        model.eval()
        vb = CropBatches(valid_codes, cfg.crop, cfg.batch_size, seed=1234)
        with torch.no_grad():
            losses = [loss_of(a.to(dev), p.to(dev), model).item() for a, p in (vb[i] for i in range(cfg.valid_batches))]
        model.train()
        return float(np.mean(losses))

    batches = CropBatches(codes, cfg.crop, cfg.batch_size, cfg.seed, rank, start=start, stop=cfg.steps)
    loader = torch.utils.data.DataLoader(
        batches,
        batch_size=None,
        shuffle=False,
        num_workers=cfg.workers,
        pin_memory=dev.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if cfg.workers else None,
    )
    metrics_path = run / "metrics.csv"
    board = None
    seconds_before = 0.0  # training wall time of the segments before this resume
    if rank == 0:
        seconds_before = _truncate_metrics(metrics_path, start)
        board = _tensorboard(run)

    def checkpoint(step: int, valid_loss: float | None) -> None:
        if rank != 0:
            return
        meta = {"model": model_config.to_dict(), "train": dataclasses.asdict(cfg)}
        _save_state(state_path, model, ema, opt, step, meta)
        save_state_dict(
            ema.shadow,
            model_config,
            model_path,
            overwrite=True,
            metadata={
                "step": str(step),
                "valid_loss": "" if valid_loss is None else f"{valid_loss:.5f}",
                "preset_note": "EMA weights from nsynth train",
            },
        )

    model.train()
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        desc="training",
        unit="step",
        disable=not progress or rank != 0,
        dynamic_ncols=True,
    )
    t0, window_t, window_n = time.perf_counter() - seconds_before, time.perf_counter(), 0
    loss_val, valid_loss, sps = float("nan"), None, 0.0
    step = start
    for audio, pitch in loader:
        audio, pitch = audio.to(dev, non_blocking=True), pitch.to(dev, non_blocking=True)
        for group in opt.param_groups:
            group["lr"] = cfg.lr_at(step)
        loss = loss_of(audio, pitch, step_fn, cfg.input_noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        ema.update(model, step)
        step += 1
        window_n += audio.numel() * world
        if step % cfg.log_every == 0 or step == cfg.steps:
            loss_val = loss.item()
            now = time.perf_counter()
            sps, window_t, window_n = window_n / (now - window_t), now, 0
            bar.set_postfix(loss=f"{loss_val:.3f}", samples_s=f"{sps:,.0f}")
            fresh = None
            if valid_codes is not None and (step % cfg.valid_every == 0 or step == cfg.steps):
                fresh = valid_loss = validate()
            if rank == 0:
                _append_metrics(metrics_path, step, now - t0, loss_val, cfg.lr_at(step - 1), sps, fresh)
                if board is not None:
                    board.add_scalar("loss/train", loss_val, step)
                    board.add_scalar("samples_per_s", sps, step)
                    if fresh is not None:
                        board.add_scalar("loss/valid", fresh, step)
        bar.update(1)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint(step, valid_loss)
            if world > 1:
                dist.barrier()
    bar.close()
    if board is not None:
        board.close()
    if step == start and rank == 0 and not model_path.exists():
        checkpoint(step, None)
    if world > 1:
        _check_replicas(model, run / "replicas.json", rank, world)
    return TrainResult(step, loss_val, valid_loss, sps, str(run))


def _previous_init(run: Path) -> str | None:
    """The ``init_from`` a resumed run started from, as its config.json recorded it."""
    try:
        return json.loads((run / "config.json").read_text()).get("init_from")
    except (OSError, ValueError):
        return None


def _copy_matching(source: dict[str, torch.Tensor], model: torch.nn.Module) -> list[str]:
    """Copy the tensors of ``source`` whose name and shape match ``model``'s; returns their names."""
    own = model.state_dict()
    hits = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    with torch.no_grad():
        for k, v in hits.items():
            own[k].copy_(v)
    return sorted(hits)


def _tensorboard(run: Path):
    """A TensorBoard writer in RUN_DIR/tb when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run / "tb"))


def _check_replicas(model: torch.nn.Module, path: Path, rank: int, world: int) -> None:
    """All ranks must hold the same weights after data-parallel training: compare a
    checksum of every parameter across ranks; rank 0 records them in ``replicas.json``."""
    with torch.no_grad():
        flat = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
        pos = torch.arange(1, flat.numel() + 1, dtype=torch.float64)
        mine = torch.stack([flat.sum(), (flat * pos).sum(), flat.abs().max()]).to(next(model.parameters()).device)
    sums = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(sums, mine)
    values = [s.cpu().tolist() for s in sums]
    if rank == 0:
        path.write_text(json.dumps({"world_size": world, "checksums": values}))
    if any(v != values[0] for v in values):
        raise RuntimeError(f"data-parallel replicas diverged: {values}")


_FIELDS = ["step", "seconds", "loss", "lr", "samples_per_s", "valid_loss"]


def _truncate_metrics(path: Path, step: int) -> float:
    """Keep only rows up to ``step`` (rows past the last checkpoint of a killed run go).

    Returns the last kept row's ``seconds``, so a resumed run's clock continues from it.
    """
    if not path.exists():
        return 0.0
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with atomic_path(path, force=True) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, _FIELDS)
            w.writeheader()
            w.writerows(rows)
    return float(rows[-1]["seconds"]) if rows else 0.0


def _append_metrics(
    path: Path, step: int, seconds: float, loss: float, lr: float, sps: float, valid: float | None
) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, _FIELDS)
        if new:
            w.writeheader()
        w.writerow(
            {
                "step": step,
                "seconds": f"{seconds:.2f}",
                "loss": f"{loss:.5f}",
                "lr": f"{lr:.3g}",
                "samples_per_s": f"{sps:.0f}",
                "valid_loss": "" if valid is None else f"{valid:.5f}",
            }
        )
