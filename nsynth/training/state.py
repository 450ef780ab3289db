"""The train-state file (``state.safetensors``): everything a run needs to resume exactly.

Like the weights file it is safetensors (never a pickle), carries its format name and
version in its metadata, and is loaded strictly: every tensor of the model, of its EMA
shadow and of Adam's moments must be there with the right shape, and nothing else.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from nsynth import digest
from nsynth.errors import CheckpointError, NSynthError
from nsynth.files import atomic_path, fsync_file

STATE_FORMAT = "nsynth-train-state"
STATE_VERSION = 2  # 2: carries a checksum (required); 1: before checksums (or before the version was recorded)
log = logging.getLogger("nsynth")


def previous_path(path: Path) -> Path:
    """Where a save keeps the state it replaces: ``state.prev.safetensors`` beside ``state.safetensors``."""
    return path.with_name(path.stem + ".prev" + path.suffix)


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


def _trainable(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def save_state(path: Path, model: torch.nn.Module, ema: EMA, opt: torch.optim.Optimizer, step: int, meta: dict) -> None:
    """Write raw and EMA weights, Adam's state, the RNG and ``step`` (plus ``meta``) atomically."""
    tensors = {f"param/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema/{k}": v.cpu().contiguous() for k, v in ema.shadow.items()})
    for name, p in _trainable(model):
        for slot, value in opt.state.get(p, {}).items():
            tensors[f"opt/{name}/{slot}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng/torch"] = torch.get_rng_state()
    path = Path(path)
    info = {"format": STATE_FORMAT, "version": STATE_VERSION, "step": step, **meta}
    metadata = {"info": json.dumps(info)}
    metadata[digest.KEY] = digest.digest(tensors, metadata)
    _keep_previous(path)
    with atomic_path(path, force=True) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        fsync_file(tmp)


def _keep_previous(path: Path) -> None:
    """Keep the state about to be replaced as ``previous_path(path)``: linked, then renamed over
    the older one, so some good state is on disk at every moment."""
    if not path.exists():
        return
    prev = previous_path(path)
    tmp = prev.with_name(f".{prev.name}.{os.getpid()}.tmp")
    try:
        os.link(path, tmp)
        os.replace(tmp, prev)
    except OSError:  # a file system without hard links: no previous copy, the atomic write still holds
        if tmp.exists():
            tmp.unlink()


def _read(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            info = json.loads(meta.get("info", "{}"))
            if not isinstance(info, dict) or info.get("format") != STATE_FORMAT:
                raise CheckpointError(f"{path}: not an nsynth training state{_previous_hint(path)}")
            version = info.get("version", 1)
            if version not in (1, STATE_VERSION):
                raise CheckpointError(f"{path}: training state version {version}; this nsynth reads 1-{STATE_VERSION}")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except NSynthError:
        raise
    except Exception as e:
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: cannot read training state ({reason}){_previous_hint(path)}") from None
    recorded = meta.get(digest.KEY)
    if recorded is None and version == 1:
        log.warning("note: %s: carries no checksum (state version 1); resumed unverified", path)
    elif recorded is None:
        raise CheckpointError(f"{path}: damaged (a version-{version} state without its checksum){_previous_hint(path)}")
    else:
        reason = digest.mismatch(recorded, digest.digest(tensors, meta))
        if reason:
            raise CheckpointError(f"{path}: {reason}{_previous_hint(path)}")
    return info, tensors


def _previous_hint(path: Path) -> str:
    """What to do when ``path`` is damaged: the previous state a save kept, where it exists."""
    prev = previous_path(path)
    if not prev.exists():
        return ""
    return f"; the state before it is kept as {prev.name}: move it over {path.name} to resume from there"


def load_state(path: Path, model: torch.nn.Module, ema: EMA, opt: torch.optim.Optimizer) -> dict:
    """Restore what ``save_state`` wrote into ``model``, ``ema`` and ``opt``; returns its info
    (``step``, ``model`` config, ``train`` config). Any missing, extra or misshapen tensor is an error."""
    info, tensors = _read(Path(path))
    own = model.state_dict()
    expected = {f"param/{k}" for k in own} | {f"ema/{k}" for k in own} | {"rng/torch"}
    opt_keys = {k for k in tensors if k.startswith("opt/")}
    trainable = {n for n, _ in _trainable(model)}
    stray = {k for k in opt_keys if k[4:].rsplit("/", 1)[0] not in trainable}
    missing, extra = sorted(expected - tensors.keys()), sorted((tensors.keys() - expected - opt_keys) | stray)
    if missing or extra:
        what = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
        raise NSynthError(f"{path}: does not fit this model ({what}); resume with the same preset")
    for k, v in own.items():
        for prefix in ("param/", "ema/"):
            if tensors[prefix + k].shape != v.shape:
                raise NSynthError(
                    f"{path}: {prefix + k} has shape {tuple(tensors[prefix + k].shape)}, not {tuple(v.shape)}"
                )
    model.load_state_dict({k: tensors[f"param/{k}"] for k in own}, strict=True)
    dev = next(model.parameters()).device
    ema.shadow = {k: tensors[f"ema/{k}"].to(dev) for k in own}
    for name, p in _trainable(model):
        slots = {k.rsplit("/", 1)[1]: v for k, v in tensors.items() if k.startswith(f"opt/{name}/")}
        if slots:
            opt.state[p] = {s: (v if s == "step" else v.to(dev)) for s, v in slots.items()}
    torch.set_rng_state(tensors["rng/torch"])
    return info


def copy_matching(source: dict[str, torch.Tensor], model: torch.nn.Module) -> list[str]:
    """Copy the tensors of ``source`` whose name and shape match ``model``'s; returns their names."""
    own = model.state_dict()
    hits = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    with torch.no_grad():
        for k, v in hits.items():
            own[k].copy_(v)
    return sorted(hits)
