"""``TrainConfig``: every training setting, saved in each run's config.json and train state."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

SCHEDULES = ("magenta", "cosine", "constant")
F0_SOURCES = ("label", "track")
BIG_PRESETS = ("nsynth", "magenta")  # Magenta-sized models: Magenta's learning rate and staircase


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 20_000
    batch_size: int = 8
    crop: int = 6144
    lr: float = 2e-4
    schedule: str = "cosine"  # "magenta" (staircase), "cosine" (warmup + cosine to lr/10), "constant"
    warmup: int = 200
    grad_clip: float = 1.0
    ema_decay: float = 0.9999
    checkpoint_every: int = 1000
    valid_every: int = 1000
    valid_batches: int = 8
    log_every: int = 10
    seed: int = 0
    workers: int = 2
    input_noise: float = 0.0  # std of noise on the decoder's input (network units; a mu-law step is 1/128)
    self_feed: float = 0.0  # fraction of decoder inputs swapped for its own draws (parallel scheduled sampling)
    plateaus: float = 0.0  # probability per crop of a constant stretch in the decoder's input (targets unchanged)
    rooms: float = 0.0  # probability per crop of a synthetic room mixed into the note (input and target)
    level_db: float = 0.0  # each crop attenuated by a uniform 0..level_db dB (input and target)
    lsd_loss: float = 0.0  # parallel decoder: weight of evaluate's LSD in the loss (validation leaves it out)
    f0: str = "label"  # the parallel decoder's f0 in training: "label" (the MIDI pitch's) or "track" (each note's own)
    amp: bool = False  # bf16 autocast
    compile: bool = False

    def lr_at(self, step: int) -> float:
        """Learning rate of step ``step`` (0-based)."""
        if self.schedule == "magenta":  # Magenta's staircase for the full model
            for boundary, value in ((180_000, 2e-5), (150_000, 4e-5), (120_000, 6e-5), (90_000, 1.33e-4)):
                if step >= boundary:
                    return value * self.lr / 2e-4
            return self.lr
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "cosine":
            t = min(1.0, (step - self.warmup) / max(1, self.steps - self.warmup))
            return self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))
        raise ValueError(f"unknown schedule {self.schedule!r}")

    @classmethod
    def for_preset(cls, preset: str, *, cuda: bool = False, **settings: object) -> TrainConfig:
        """The defaults that suit ``preset`` on this device, with ``settings`` (None: default) on top.

        Magenta-sized presets take Magenta's learning rate (2e-4) and staircase; the others 1e-3
        with a cosine; bf16 autocast and torch.compile are on where CUDA is.
        """
        big = preset in BIG_PRESETS
        defaults = {
            "lr": 2e-4 if big else 1e-3,
            "schedule": "magenta" if big else "cosine",
            "amp": cuda,
            "compile": cuda,
        }
        given = {k: v for k, v in settings.items() if v is not None}
        unknown = set(given) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown training settings: {sorted(unknown)}")
        if given.get("f0", "label") not in F0_SOURCES:
            raise ValueError(f"unknown f0 source {given['f0']!r}; choose one of {F0_SOURCES}")
        if given.get("schedule", "cosine") not in SCHEDULES:
            raise ValueError(f"unknown schedule {given['schedule']!r}; choose one of {SCHEDULES}")
        return cls(**{**defaults, **given})
