"""Decoder architectures, installed as ``nsynth.decoders``. Generation lives in ``nsynth.generation``."""

from nsynth.decoders.wavenet import WaveNetDecoder

__all__ = ["WaveNetDecoder"]
