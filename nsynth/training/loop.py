"""The training loop: random crops, Adam with a schedule, gradient clipping, EMA weights,
bf16 autocast, checkpoints that resume exactly, validation on held-out instruments, and
DistributedDataParallel under torchrun.

Data order is counter-based: the batch of step s is drawn from ``rng(seed, rank, s)``,
so the data position of a run is its step and resuming needs nothing else.
Files in RUN_DIR: ``config.json`` (resolved, written at start), ``model.safetensors``
(EMA weights, a normal weights file), ``state.safetensors`` (everything to resume:
raw and EMA weights, Adam moments, step, RNG), ``metrics.csv``. All writes are atomic.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from nsynth.config import ModelConfig
from nsynth.data import NoteDataset
from nsynth.errors import NSynthError, OptionError, RemedyError
from nsynth.files import atomic_path
from nsynth.device import resolve_device
from nsynth.model import Model, autoencoder
from nsynth.training.augment import TrainingLoss
from nsynth.training.recipe import TrainConfig
from nsynth.training.data import CodeSet, CropBatches, load_codes, with_f0
from nsynth.training.distributed import Runtime, check_replicas, runtime
from nsynth.training.metrics import Metrics
from nsynth.training.state import EMA, copy_matching, load_state, save_state
from nsynth.weights import save_state_dict


@dataclass(frozen=True)
class TrainResult:
    step: int
    train_loss: float
    valid_loss: float | None
    samples_per_s: float
    run_dir: str


def train(
    model_config: ModelConfig,
    train_data: NoteDataset,
    run_dir: str | os.PathLike,
    cfg: TrainConfig | None = None,
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
    file (fine-tuning, or continuing the shipped model); of another config, its tensors of
    matching name and shape are copied.
    """
    cfg = cfg or TrainConfig()
    with runtime(device) as rt:
        run = Path(run_dir)
        dev = rt.device(resolve_device(device))
        _check_run(run, resume, rt)
        torch.manual_seed(cfg.seed)
        model = _initial_model(model_config, init_from if not resume else None, dev, log)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=cfg.lr, eps=1e-8)
        ema = EMA(model, cfg.ema_decay)
        start = _resume(run, model, ema, opt, model_config) if resume else 0
        if start >= cfg.steps:
            log(f"already at step {start} of {cfg.steps}")
        parallel = model_config.parallel
        if parallel and cfg.crop % model_config.hop:
            raise NSynthError(f"--crop {cfg.crop}: a parallel decoder trains on whole frames (a multiple of {model_config.hop})")
        if cfg.f0 == "track" and not parallel:
            raise OptionError("f0", "track", "is for a parallel decoder (it trains on whole frames, as f0 is kept)")
        codes = load_codes(train_data, cfg.crop, progress=progress and rt.main, pcm=parallel)
        f0_workers = max(1, cfg.workers)
        if cfg.f0 == "track":
            codes = with_f0(train_data, codes, model_config.hop, progress=progress and rt.main, workers=f0_workers)
        if model_config.pitch_conditioning and (codes.pitch < 0).any():
            log(f"skipping {int((codes.pitch < 0).sum())} notes without a pitch label")
            codes = codes.pitched()
            if len(codes.codes) == 0:
                raise NSynthError(f"{train_data.name}: no note has a pitch, but the model is pitch-conditioned")
        valid_codes = load_codes(valid_data, cfg.crop, progress=False, pcm=parallel) if valid_data is not None else None
        if cfg.f0 == "track" and valid_codes is not None:
            valid_codes = with_f0(valid_data, valid_codes, model_config.hop, progress=False, workers=f0_workers)
        if rt.main:
            _write_config(
                run, model_config, cfg, train_data, valid_data, codes, valid_codes, rt, dev, start, init_from, resume
            )
        result = _loop(model, ema, opt, params, codes, valid_codes, cfg, run, start, rt, dev, progress)
        if rt.world > 1:
            check_replicas(model, run / "replicas.json", rt)
        return result


def _check_run(run: Path, resume: bool, rt: Runtime) -> None:
    if not rt.main:
        return
    state_path = run / "state.safetensors"
    if not resume and state_path.exists():
        raise RemedyError(f"{run}: already holds a training run", "resume", "True", "to continue it")
    if resume and not state_path.exists():
        raise NSynthError(f"{state_path}: no training state to resume from")
    run.mkdir(parents=True, exist_ok=True)


def _initial_model(
    config: ModelConfig, init_from: str | os.PathLike | None, dev: torch.device, log: Callable[[str], None]
) -> Model:
    model = autoencoder(config).to(dev)
    if init_from is None:
        return model
    from nsynth.weights import load_model

    start_model = load_model(init_from)
    if start_model.config == config:
        model.load_state_dict(start_model.state_dict())
        return model
    copied = copy_matching(start_model.state_dict(), model)
    if not copied:
        raise NSynthError(f"{init_from}: no tensor matches the model being trained")
    log(f"{init_from}: another config; copied {len(copied)} of {len(model.state_dict())} tensors")
    return model


def _resume(run: Path, model: Model, ema: EMA, opt: torch.optim.Optimizer, config: ModelConfig) -> int:
    path = run / "state.safetensors"
    info = load_state(path, model, ema, opt)
    if ModelConfig.from_dict(info["model"]) != config:
        raise NSynthError(f"{path}: was trained with another model config; resume with the same preset")
    return int(info["step"])


def _write_config(
    run, model_config, cfg, train_data, valid_data, codes, valid_codes, rt, dev, start, init_from, resume
):
    resolved = {
        "model": model_config.to_dict(),
        "train": dataclasses.asdict(cfg),
        "train_data": train_data.name,
        "valid_data": valid_data.name if valid_data else None,
        "n_train": int(len(codes.codes)),
        "n_valid": int(len(valid_codes.codes)) if valid_codes else 0,
        "world_size": rt.world,
        "device": str(dev),
        "torch": torch.__version__,
        "resumed_from": start,
        "init_from": str(init_from) if init_from is not None and not resume else _previous_init(run),
    }
    with atomic_path(run / "config.json", force=True) as tmp:
        tmp.write_text(json.dumps(resolved, indent=1))


def _loop(
    model: Model,
    ema: EMA,
    opt: torch.optim.Optimizer,
    params: list[torch.nn.Parameter],
    codes: CodeSet,
    valid_codes: CodeSet | None,
    cfg: TrainConfig,
    run: Path,
    start: int,
    rt: Runtime,
    dev: torch.device,
    progress: bool,
) -> TrainResult:
    config = model.config
    align = config.hop if config.parallel else 1
    objective = TrainingLoss(model, cfg.input_noise, cfg.self_feed, cfg.plateaus, cfg.lsd_loss)
    net = rt.wrap(objective, dev)
    step_fn = torch.compile(net) if cfg.compile else net
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.amp)

    def loss_of(batch: tuple[torch.Tensor, ...], fn: Callable[..., torch.Tensor]) -> torch.Tensor:
        """The mean loss of a batch (audio, pitch[, f0]) on ``dev`` under ``fn``: the augmented
        objective, or the plain model's loss."""
        audio, pitch, *f0 = (t.to(dev, non_blocking=True) for t in batch)
        with amp:
            return fn(audio, pitch if config.pitch_conditioning else None, *f0)

    def validate() -> float:
        model.eval()
        torch.manual_seed(1234)  # the same noise at every validation
        vb = CropBatches(valid_codes, cfg.crop, cfg.batch_size, seed=1234, align=align)
        with torch.no_grad():
            losses = [
                loss_of(vb[i], model.loss).item() for i in range(cfg.valid_batches)
            ]
        model.train()
        return float(np.mean(losses))

    def checkpoint(step: int, valid_loss: float | None) -> None:
        if not rt.main:
            return
        save_state(
            run / "state.safetensors",
            model,
            ema,
            opt,
            step,
            {"model": config.to_dict(), "train": dataclasses.asdict(cfg)},
        )
        note = {"step": str(step), "valid_loss": "" if valid_loss is None else f"{valid_loss:.5f}"}
        save_state_dict(
            ema.shadow,
            config,
            run / "model.safetensors",
            force=True,
            metadata={**note, "preset_note": "EMA weights from nsynth train"},
        )

    loader = torch.utils.data.DataLoader(
        CropBatches(
            codes, cfg.crop, cfg.batch_size, cfg.seed, rt.rank, start=start, stop=cfg.steps,
            rooms=cfg.rooms, level_db=cfg.level_db, align=align,
        ),
        batch_size=None,
        shuffle=False,
        num_workers=cfg.workers,
        pin_memory=dev.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if cfg.workers else None,
    )
    metrics = Metrics(run, start) if rt.main else None
    model.train()
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        desc="training",
        unit="step",
        disable=not progress or not rt.main,
        dynamic_ncols=True,
    )
    t0 = time.perf_counter() - (metrics.seconds_before if metrics else 0.0)
    window_t, window_n = time.perf_counter(), 0
    loss_val, valid_loss, sps = float("nan"), None, 0.0
    step = start
    for batch in loader:
        audio = batch[0]
        for group in opt.param_groups:
            group["lr"] = cfg.lr_at(step)
        torch.manual_seed(_step_seed(cfg.seed, rt.rank, step))  # the step's own draws (the parallel decoder's noise): exact resume
        loss = loss_of(batch, step_fn)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        ema.update(model, step)
        step += 1
        window_n += audio.numel() * rt.world
        if step % cfg.log_every == 0 or step == cfg.steps:
            loss_val = loss.item()
            now = time.perf_counter()
            sps, window_t, window_n = window_n / (now - window_t), now, 0
            bar.set_postfix(loss=f"{loss_val:.3f}", samples_s=f"{sps:,.0f}")
            fresh = None
            if valid_codes is not None and (step % cfg.valid_every == 0 or step == cfg.steps):
                fresh = valid_loss = validate()
            if metrics is not None:
                metrics.log(step, now - t0, loss_val, cfg.lr_at(step - 1), sps, fresh)
        bar.update(1)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint(step, valid_loss)
            rt.barrier()
    bar.close()
    if metrics is not None:
        metrics.close()
    if step == start and rt.main and not (run / "model.safetensors").exists():
        checkpoint(step, None)
    return TrainResult(step, loss_val, valid_loss, sps, str(run))


def _previous_init(run: Path) -> str | None:
    """The ``init_from`` a resumed run started from, as its config.json recorded it."""
    try:
        return json.loads((run / "config.json").read_text()).get("init_from")
    except (OSError, ValueError):
        return None


def _step_seed(seed: int, rank: int, step: int) -> int:
    """The global torch seed of training step ``step`` on ``rank``: any step's random draws can be redone."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint64)[0] >> 1)
