"""Encoder architectures. Each file holds one architecture with plain typed arguments."""

from encoders.temporal import TemporalEncoder

__all__ = ["TemporalEncoder"]
