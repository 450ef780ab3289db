"""Decoder architectures and their incremental (cached) generation."""

from decoders.wavenet import WaveNetDecoder

__all__ = ["WaveNetDecoder"]
