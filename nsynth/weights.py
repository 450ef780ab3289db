"""The weights file: one ``.safetensors`` holding tensors, the model config and a format version.

Loading never unpickles anything: safetensors stores raw tensors and a JSON header only.
Loading is strict: missing, unexpected or mis-shaped tensors are an error naming them.
Every file written records a SHA-256 of its tensors and metadata (``nsynth.digest``); loading
verifies it before the model is built, so a damaged file is refused, never used. Files of format
version 1 (written before checksums) load with a one-line note that they carry none.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from nsynth import digest
from nsynth.config import ModelConfig, Recommended, get_preset
from nsynth.errors import CheckpointError, NoDefaultModelError
from nsynth.files import atomic_path, fsync_file
from nsynth.model import Model, NSynthAutoencoder, autoencoder

FORMAT = "nsynth-weights"
FORMAT_VERSION = 2  # 2: the file carries a checksum (required); 1: written before checksums
DEFAULT_WEIGHTS = "parallel.safetensors"
log = logging.getLogger("nsynth")


@dataclass(frozen=True)
class WeightsInfo:
    """What a weights file says about itself."""

    path: str
    config: ModelConfig
    format_version: int
    metadata: dict[str, str]
    n_parameters: int
    recommended: Recommended
    checksum: str | None  # the recorded ``sha256:...``, None in a version-1 file


def build_model(preset: str = "mini", **overrides) -> Model:
    """A randomly initialised model of a named preset, with optional config overrides.

    ``encoder=`` and ``decoder=`` take dicts of field overrides, e.g.
    ``build_model("mini", decoder={"layers": 4})``.
    """
    return autoencoder(get_preset(preset).replace(**overrides))


def save_model(
    model: Model,
    path: str | os.PathLike,
    *,
    force: bool = False,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write ``model`` (weights + config + format version + its recommended sampling settings,
    where not the defaults) atomically to ``path``; ``metadata`` adds to them."""
    meta = model.recommended.metadata() if model.recommended != Recommended() else {}
    save_state_dict(model.state_dict(), model.config, path, force=force, metadata={**meta, **(metadata or {})})


def save_state_dict(
    state: dict[str, torch.Tensor],
    config: ModelConfig,
    path: str | os.PathLike,
    *,
    force: bool = False,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write a model's tensors (e.g. EMA weights during training) as a weights file."""
    tensors = {
        k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).contiguous()
        for k, v in state.items()
    }
    meta = {k: v for k, v in (metadata or {}).items() if k != digest.KEY}
    meta.update(format=FORMAT, format_version=str(FORMAT_VERSION), config=json.dumps(config.to_dict()))
    meta[digest.KEY] = digest.digest(tensors, meta)
    with atomic_path(path, force=force) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
        fsync_file(tmp)


def default_weights_path() -> Path | None:
    """The weights file shipped inside the package, or None if this install has none."""
    p = Path(str(resources.files("nsynth") / "weights" / DEFAULT_WEIGHTS))
    return p if p.is_file() else None


def shipped_models() -> list[str]:
    """The names of the weights files shipped inside the package (``load_model("pitched")``)."""
    folder = Path(str(resources.files("nsynth") / "weights"))
    return sorted(f.stem for f in folder.glob("*.safetensors")) if folder.is_dir() else []


def _resolve(path: str | os.PathLike | None) -> Path:
    if path is None:
        p = default_weights_path()
        if p is None:
            raise NoDefaultModelError()
        return p
    p = Path(path)
    if not p.exists() and p.name == str(path) and not p.suffix:  # a bare name: a shipped model
        shipped = Path(str(resources.files("nsynth") / "weights" / f"{p.name}.safetensors"))
        if shipped.is_file():
            return shipped
        names = ", ".join(shipped_models()) or "none in this install"
        raise CheckpointError(f"{p}: no such file, nor a shipped model (shipped: {names})")
    if not p.exists():
        raise CheckpointError(f"{p}: no such file")
    if not p.is_file():
        raise CheckpointError(f"{p}: not a file")
    return p


def read_info(path: str | os.PathLike | None = None) -> WeightsInfo:
    """Read a weights file's header (config, version) without building the model."""
    p = _resolve(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            n = sum(_numel(f.get_slice(k).get_shape()) for k in f.keys())
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{p}: not an nsynth weights file (not safetensors: {_short(e)})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{p}: safetensors file without nsynth metadata (not an nsynth weights file)")
    try:
        version = int(meta["format_version"])
    except (KeyError, ValueError):
        raise CheckpointError(f"{p}: missing or invalid format_version") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{p}: format version {version} is newer than this nsynth supports ({FORMAT_VERSION})")
    if version < 1:
        raise CheckpointError(f"{p}: missing or invalid format_version")
    checksum = meta.get(digest.KEY)
    if version >= 2 and not (checksum or "").startswith(digest.PREFIX):
        raise CheckpointError(f"{p}: damaged (format version {version} without a valid checksum)")
    try:
        config = ModelConfig.from_dict(json.loads(meta["config"]))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{p}: invalid model config in metadata ({_short(e)})") from None
    return WeightsInfo(str(p), config, version, meta, n, _recommended(p, meta), checksum)


def read_tensors(info: WeightsInfo) -> dict[str, torch.Tensor]:
    """Every tensor of the file ``info`` describes, verified against its checksum.

    Raises ``CheckpointError`` naming the file when it is truncated, corrupt or damaged (its
    tensors or metadata are not what was written); a version-1 file (no checksum) is read
    unverified, with a one-line note.
    """
    try:
        with safe_open(info.path, framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{info.path}: truncated or corrupt ({_short(e)})") from None
    if info.checksum is None:
        log.warning("note: %s: carries no checksum (format version 1); loaded unverified", info.path)
        return tensors
    reason = digest.mismatch(info.checksum, digest.digest(tensors, info.metadata))
    if reason:
        raise CheckpointError(f"{info.path}: {reason}")
    return tensors


def load_model(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Model:
    """Rebuild a model from a weights file alone (the packaged default if ``path`` is None).

    The file's checksum is verified before the model is built: a damaged file is a
    ``CheckpointError`` naming it."""
    info = read_info(path)
    tensors = read_tensors(info)
    model = autoencoder(info.config, info.recommended)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{info.path}: tensors do not match the config: "
            f"missing {_names(missing)}, unexpected {_names(unexpected)}"
        )
    bad = [
        f"{k} {tuple(v.shape)} != {tuple(expected[k].shape)}"
        for k, v in tensors.items()
        if v.shape != expected[k].shape
    ]
    if bad:
        raise CheckpointError(f"{info.path}: wrong tensor shapes: {'; '.join(bad[:3])}")
    model.load_state_dict(tensors, strict=True)
    return model.to(device).eval()


def _recommended(path: Path, meta: dict[str, str]) -> Recommended:
    """The sampling settings recorded in a file's metadata ("temperature", "min_p"), checked."""
    values = {}
    for key in ("temperature", "min_p"):
        text = meta.get(key)
        if not text:
            continue
        try:
            values[key] = float(text)
            Recommended(**{key: values[key]})  # its range, checked where Recommended defines it
        except ValueError:
            raise CheckpointError(f"{path}: bad recommended {key} {text!r}") from None
    return Recommended(**values)


def _numel(shape: list[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _names(names: list[str]) -> str:
    if not names:
        return "none"
    return ", ".join(names[:4]) + (f" (+{len(names) - 4} more)" if len(names) > 4 else "")


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__
