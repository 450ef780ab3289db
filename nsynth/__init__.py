"""nsynth: neural timbre synthesis with the NSynth WaveNet autoencoder.

Quick use::

    import nsynth
    model = nsynth.load_model("model.safetensors")
    z = nsynth.encode(audio, sr, model=model)                  # (frames, 16)
    notes = nsynth.interpolate(a, b, steps=5, sr=sr, model=model)
    note = nsynth.morph(a, b, "ease", sr=sr, model=model, sampling=nsynth.Sampling(seed=1, temperature=0.7))

On Linux, ``nsynth.tune_malloc()`` once per process makes CPU work several times faster
(see ``nsynth._malloc``); the ``nsynth`` command does it for you.
"""

from pathlib import Path as _Path
from typing import TYPE_CHECKING

# Installed, the architecture folders (encoders/, decoders/) and examples/ sit inside this
# package as nsynth.encoders, nsynth.decoders and nsynth.examples (a package-dir mapping). In a
# source checkout they sit beside it: let the checkout import them under the same names.
_checkout = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "decoders").is_dir() and (_checkout / "decoders" / "wavenet.py").is_file():
    __path__.append(str(_checkout))

from nsynth.config import PRESETS, DecoderConfig, EncoderConfig, ModelConfig, get_preset
from nsynth.errors import (
    AudioError,
    CheckpointError,
    NoDefaultModelError,
    NSynthError,
    OptionError,
    OutputExistsError,
    RemedyError,
)

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and editors
    from nsynth._malloc import tune_malloc
    from nsynth.api import decode, encode, reconstruct, resolve_f0, resolve_pitch
    from nsynth.audio import load_audio, save_audio
    from nsynth.generation.options import Sampling
    from nsynth.interpolation import crossfade, interpolate, morph
    from nsynth.model import NSynthAutoencoder, ParallelAutoencoder
    from nsynth.pitch import f0_frames
    from nsynth.weights import build_model, load_model, read_info, save_model

# Everything else is imported on first use (PEP 562): ``import nsynth`` and the ``nsynth``
# command's --help and argument errors then answer without loading torch, librosa or numba.
_LAZY = {
    "tune_malloc": "nsynth._malloc",
    "decode": "nsynth.api",
    "encode": "nsynth.api",
    "reconstruct": "nsynth.api",
    "resolve_f0": "nsynth.api",
    "resolve_pitch": "nsynth.api",
    "load_audio": "nsynth.audio",
    "save_audio": "nsynth.audio",
    "Sampling": "nsynth.generation.options",
    "crossfade": "nsynth.interpolation",
    "interpolate": "nsynth.interpolation",
    "morph": "nsynth.interpolation",
    "NSynthAutoencoder": "nsynth.model",
    "ParallelAutoencoder": "nsynth.model",
    "f0_frames": "nsynth.pitch",
    "build_model": "nsynth.weights",
    "load_model": "nsynth.weights",
    "read_info": "nsynth.weights",
    "save_model": "nsynth.weights",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nsynth' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "CheckpointError",
    "DecoderConfig",
    "EncoderConfig",
    "ModelConfig",
    "NSynthAutoencoder",
    "ParallelAutoencoder",
    "NoDefaultModelError",
    "NSynthError",
    "OptionError",
    "OutputExistsError",
    "RemedyError",
    "PRESETS",
    "Sampling",
    "build_model",
    "crossfade",
    "decode",
    "encode",
    "f0_frames",
    "get_preset",
    "interpolate",
    "load_audio",
    "load_model",
    "morph",
    "read_info",
    "reconstruct",
    "resolve_f0",
    "resolve_pitch",
    "save_audio",
    "save_model",
    "tune_malloc",
]
