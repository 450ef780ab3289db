"""Import Magenta's NSynth WaveNet autoencoder (``wavenet-ckpt``, h512_bo16) into nsynth.

Magenta's variables map one to one onto the ``magenta`` preset (no pitch conditioning,
gate ``sigmoid(first half) * tanh(second half)``, inputs mu-law code / 128). Layer
counts, widths and kernel sizes are read from the checkpoint; the dilation cycle
(Magenta's ``num_stages``, 10 in h512_bo16) and hop (512) are not stored in it and are
options. TF's conv2d weights ``[1, k, in, out]`` become Conv1d ``[out, in, k]``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from nsynth.config import DecoderConfig, EncoderConfig, ModelConfig
from nsynth.errors import CheckpointError
from nsynth.model import NSynthAutoencoder
from nsynth.tfcheckpoint import TFCheckpoint
from nsynth.weights import save_model

EMA_SUFFIX = "/ExponentialMovingAverage"


def _scope_map(n_enc: int, n_dec: int) -> dict[str, str]:
    """Magenta scope -> our module path."""
    m = {
        "ae_startconv": "encoder.start",
        "ae_bottleneck": "encoder.bottleneck",
        "startconv": "decoder.start",
        "skip_start": "decoder.skip_start",
        "out1": "decoder.out1",
        "cond_map_out1": "decoder.cond_out",
        "logits": "decoder.out",
    }
    for i in range(n_enc):
        m[f"ae_dilatedconv_{i + 1}"] = f"encoder.dilated.{i}"
        m[f"ae_res_{i + 1}"] = f"encoder.res.{i}"
    for i in range(n_dec):
        for theirs, ours in (("dilatedconv", "dilated"), ("cond_map", "cond"), ("res", "res"), ("skip", "skip")):
            m[f"{theirs}_{i + 1}"] = f"decoder.{ours}.{i}"
    return m


def _count(names: Sequence[str], pattern: str) -> int:
    idx = [int(m.group(1)) for n in names if (m := re.fullmatch(pattern, n))]
    if sorted(idx) != list(range(1, len(idx) + 1)):
        raise CheckpointError(f"layer numbers of {pattern!r} are not 1..N: {sorted(idx)[:10]}")
    return len(idx)


def infer_config(shapes: dict[str, Sequence[int]], dilation_cycle: int = 10, hop: int = 512) -> ModelConfig:
    """A ``magenta``-preset config from Magenta variable names and shapes."""
    names = list(shapes)
    required = ["ae_startconv/W", "ae_bottleneck/W", "startconv/W", "skip_start/W", "out1/W", "logits/W"]
    missing = [n for n in required if n not in shapes]
    if missing:
        raise CheckpointError(f"not a Magenta NSynth WaveNet checkpoint: missing {', '.join(missing)}")
    n_enc = _count(names, r"ae_dilatedconv_(\d+)/W")
    n_dec = _count(names, r"dilatedconv_(\d+)/W")
    enc_k, _, enc_w = shapes["ae_dilatedconv_1/W"][1:]
    dec_k, _, r2 = shapes["dilatedconv_1/W"][1:]
    latent = shapes["ae_bottleneck/W"][3]
    skip = shapes["skip_start/W"][3]
    if shapes["logits/W"][3] != 256:
        raise CheckpointError(f"logits have {shapes['logits/W'][3]} classes, expected 256 (8-bit mu-law)")
    return ModelConfig(
        encoder=EncoderConfig(layers=n_enc, width=enc_w, kernel_size=enc_k, dilation_cycle=min(dilation_cycle, n_enc)),
        decoder=DecoderConfig(
            layers=n_dec,
            residual_channels=r2 // 2,
            skip_channels=skip,
            kernel_size=dec_k,
            dilation_cycle=min(dilation_cycle, n_dec),
            gate="sigmoid_tanh",
        ),
        latent_dim=latent,
        hop=hop,
        pitch_conditioning=False,
    )


@dataclass(frozen=True)
class ImportResult:
    model: NSynthAutoencoder
    used: list[str]  # the checkpoint variables that were read
    ignored: list[str]  # everything else (Adam slots, EMA or raw, global_step ...)
    global_step: int | None


def build_state(config: ModelConfig, read: Callable[[str], np.ndarray], ema: bool = False) -> tuple[dict, list[str]]:
    """Our state dict from Magenta tensors (``read(name)``); returns it and the names used."""
    model = NSynthAutoencoder(config)
    expected = model.state_dict()
    scopes = _scope_map(config.encoder.layers, config.decoder.layers)
    state, used = {}, []
    for scope, ours in scopes.items():
        for var, kind in (("W", "weight"), ("biases", "bias")):
            name = f"{scope}/{var}" + (EMA_SUFFIX if ema else "")
            try:
                value = read(name)
            except KeyError:
                raise CheckpointError(f"not a Magenta NSynth WaveNet checkpoint: missing {name}") from None
            t = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
            if kind == "weight":
                t = t[0].permute(2, 1, 0).contiguous()  # [1, k, in, out] -> [out, in, k]
            key = f"{ours}.{kind}"
            if t.shape != expected[key].shape:
                raise CheckpointError(
                    f"{name}: shape {tuple(value.shape)} does not fit {key} {tuple(expected[key].shape)}"
                )
            state[key] = t
            used.append(name)
    left = sorted(set(expected) - set(state))
    if left:
        raise CheckpointError(f"checkpoint does not cover {', '.join(left)}")
    return state, used


def import_magenta(
    prefix: str | os.PathLike, *, ema: bool = False, dilation_cycle: int = 10, hop: int = 512
) -> ImportResult:
    """Read Magenta's TF checkpoint (no TensorFlow needed) into a ``magenta``-preset model."""
    ckpt = TFCheckpoint(prefix)
    raw = {n: ckpt.shape(n) for n in ckpt.names() if not n.endswith(("/Adam", "/Adam_1", EMA_SUFFIX))}
    config = infer_config(raw, dilation_cycle, hop)

    def read(name: str) -> np.ndarray:
        if name not in ckpt.entries:
            raise KeyError(name)
        return ckpt.read(name)

    state, used = build_state(config, read, ema)
    model = NSynthAutoencoder(config)
    model.load_state_dict(state, strict=True)
    step = int(ckpt.read("global_step")) if "global_step" in ckpt.entries else None
    return ImportResult(model.eval(), used, sorted(set(ckpt.names()) - set(used)), step)


def convert(
    prefix: str | os.PathLike,
    out: str | os.PathLike,
    *,
    ema: bool = False,
    dilation_cycle: int = 10,
    hop: int = 512,
    force: bool = False,
) -> ImportResult:
    """``import_magenta`` then write our weights file."""
    result = import_magenta(prefix, ema=ema, dilation_cycle=dilation_cycle, hop=hop)
    meta = {
        "preset": "magenta",
        "source": f"magenta checkpoint {os.path.basename(str(prefix))}",
        "weights": "ema" if ema else "raw",
    }
    if result.global_step is not None:
        meta["step"] = str(result.global_step)
    save_model(result.model, out, force=force, metadata=meta)
    return result
