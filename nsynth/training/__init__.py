"""Training, in parts:

- ``config``: ``TrainConfig`` and the defaults that suit each preset;
- ``data``: notes decoded once to mu-law codes (cached) and the crop sampler;
- ``state``: the versioned train-state file, loaded strictly, and the EMA;
- ``metrics``: metrics.csv and TensorBoard;
- ``distributed``: the torchrun runtime;
- ``loop``: ``train`` itself.
"""

from nsynth.training.recipe import TrainConfig
from nsynth.training.data import CodeSet, CropBatches, load_codes
from nsynth.training.loop import TrainResult, train
from nsynth.training.state import EMA

__all__ = ["EMA", "CodeSet", "CropBatches", "TrainConfig", "TrainResult", "load_codes", "train"]
