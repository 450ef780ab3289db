"""Encoder architectures, installed as ``nsynth.encoders``; one file per architecture."""

from nsynth.encoders.temporal import TemporalEncoder

__all__ = ["TemporalEncoder"]
