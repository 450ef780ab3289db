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

# Installed, the architecture folders (encoders/, decoders/) and examples/ sit inside this
# package as nsynth.encoders, nsynth.decoders and nsynth.examples (a package-dir mapping). In a
# source checkout they sit beside it: let the checkout import them under the same names.
_checkout = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "decoders").is_dir() and (_checkout / "decoders" / "wavenet.py").is_file():
    __path__.append(str(_checkout))

from nsynth._malloc import tune_malloc
from nsynth.api import decode, encode, reconstruct, resolve_f0, resolve_pitch
from nsynth.audio import load_audio, save_audio
from nsynth.config import PRESETS, DecoderConfig, EncoderConfig, ModelConfig, get_preset
from nsynth.errors import AudioError, CheckpointError, NSynthError, OutputExistsError
from nsynth.generation.options import Sampling
from nsynth.interpolation import crossfade, interpolate, morph
from nsynth.model import NSynthAutoencoder
from nsynth.pitch import f0_frames
from nsynth.weights import build_model, load_model, read_info, save_model

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "CheckpointError",
    "DecoderConfig",
    "EncoderConfig",
    "ModelConfig",
    "NSynthAutoencoder",
    "NSynthError",
    "OutputExistsError",
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
