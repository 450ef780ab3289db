"""What training does to the decoder's input, and the loss it is scored with.

The model knows nothing of these: ``NSynthAutoencoder.loss`` takes a ``decoder_input`` hook
that may change the network input (never the targets), and ``TrainingLoss`` is the module
that data-parallel training wraps and ``torch.compile`` compiles. Against exposure bias and
runaways (docs/training.md):

- input noise: Gaussian noise on the decoder's input, in network units (a mu-law step is 1/128);
- self-feed: a fraction of input samples swapped for the decoder's own draws of them
  (parallel scheduled sampling, Duckworth et al. 2019), from a gradient-free first pass;
- plateaus: per batch row, with some probability, one stretch held at a random level.

What training does to the notes themselves (input and target alike, in ``CropBatches``), so
the model hears more of what users bring than dry SoundFont notes:

- rooms: a synthetic room (exponentially decaying noise, random RT60 and brightness) mixed in;
- level: a random attenuation, so quiet notes are as common as normalised ones.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nsynth.decoders import logistic
from nsynth.decoders.wavenet import WaveNetDecoder, sample_classes
from nsynth.errors import OptionError
from nsynth.model import NSynthAutoencoder
from nsynth.mulaw import classes_to_input

PLATEAU_LENGTHS = (64, 1024)  # shortest and longest plateau of ``with_plateaus``, in samples
ROOM_SAMPLES = 16_000  # a room's impulse response and the context before a crop it reverberates
ROOM_RT60 = (0.2, 1.5)  # seconds at 16 kHz, drawn log-uniformly
ROOM_WET = (0.2, 1.0)  # wet level against the dry note (the response has unit energy)


def room_response(rng: np.random.Generator, sample_rate: int = 16_000) -> np.ndarray:
    """A random synthetic room (ROOM_SAMPLES,) float64 of unit energy: Gaussian noise decaying by
    60 dB in a log-uniform RT60 of ``ROOM_RT60``, low-passed by a random one-pole (walls and air
    darken a tail), its first 2-10 ms empty (the direct sound arrives first)."""
    from scipy.signal import lfilter  # here: scipy.signal costs ~1.4 s to import, and rooms are opt-in

    rt60 = float(np.exp(rng.uniform(*np.log(ROOM_RT60))))
    t = np.arange(ROOM_SAMPLES) / sample_rate
    ir = rng.standard_normal(ROOM_SAMPLES) * np.exp(-6.9 * t / rt60)
    pole = rng.uniform(0.0, 0.9)
    ir = lfilter([1 - pole], [1, -pole], ir)
    ir[: int(rng.uniform(0.002, 0.010) * sample_rate)] = 0.0
    return ir / np.sqrt((ir**2).sum())


def in_room(audio: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
    """(ctx + crop,) audio, the crop last and up to ROOM_SAMPLES of what precedes it in the note
    first -> (crop,) the crop with a random room mixed in, scaled so that the whole stretch keeps
    the dry note's peak (a crop of the room's tail alone keeps the tail's level)."""
    ir = room_response(rng)
    n = 1 << int(np.ceil(np.log2(audio.size + ir.size)))
    out = audio + rng.uniform(*ROOM_WET) * np.fft.irfft(np.fft.rfft(audio, n) * np.fft.rfft(ir, n), n)[: audio.size]
    peak = np.abs(out).max()
    return out[-crop:] * (np.abs(audio).max() / peak) if peak > 0 else out[-crop:]


def with_plateaus(x: torch.Tensor, p: float) -> torch.Tensor:
    """(B, 1, T) network input -> a copy where each row, with probability p, holds one random
    level in [-1, 1] over a random stretch of ``PLATEAU_LENGTHS`` samples (clipped to T)."""
    b, _, t = x.shape
    lo, hi = PLATEAU_LENGTHS
    length = torch.randint(lo, hi + 1, (b, 1), device=x.device)
    start = (torch.rand(b, 1, device=x.device) * t).long()
    pos = torch.arange(t, device=x.device)[None]
    inside = (pos >= start) & (pos < start + length) & (torch.rand(b, 1, device=x.device) < p)
    level = (torch.rand(b, 1, device=x.device) * 2 - 1).to(x.dtype)
    return torch.where(inside[:, None], level[:, None], x)


def draw_classes(decoder: WaveNetDecoder, out: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The decoder's output for N samples (N, C) and uniforms (N,) -> (N,) classes drawn at T = 1,
    with generation's own rule for its head."""
    if decoder.output == "logistic":
        return logistic.value_classes(logistic.draw(out, u))
    return sample_classes(out, u)


def self_fed(
    decoder: WaveNetDecoder, x: torch.Tensor, cond: torch.Tensor, period: torch.Tensor | None, p: float
) -> torch.Tensor:
    """(B, 1, T) network input -> the same with a fraction p of samples drawn by the decoder
    from its teacher-forced distribution (no gradient)."""
    with torch.no_grad():
        out = decoder(x, cond.detach(), period)
        b, n, t = out.shape
        cls = draw_classes(decoder, out.transpose(1, 2).reshape(b * t, n), torch.rand(b * t, device=x.device))
        drawn = classes_to_input(cls.view(b, 1, t), x.dtype)
        keep = torch.rand_like(x) >= p
    return torch.where(keep, x, drawn)


class TrainingLoss(nn.Module):
    """(B, T) audio and (B,) pitches -> the mean NLL (nats) of the model with the augmentations on.

    Args:
        model: the autoencoder being trained (its parameters are this module's).
        input_noise: std of the noise on the decoder's input (network units).
        self_feed: fraction of input samples swapped for the decoder's own draws.
        plateaus: probability per row of one held stretch of the input.
    """

    def __init__(
        self,
        model: NSynthAutoencoder,
        input_noise: float = 0.0,
        self_feed: float = 0.0,
        plateaus: float = 0.0,
        lsd_loss: float = 0.0,
    ) -> None:
        super().__init__()
        if lsd_loss and not model.config.parallel:
            raise OptionError("lsd_loss", lsd_loss, "is for a parallel decoder (an STFT loss term)")
        self.lsd_loss = lsd_loss
        if model.config.parallel:
            for name, value in (("input_noise", input_noise), ("self_feed", self_feed), ("plateaus", plateaus)):
                if value:
                    raise OptionError(name, value, "is for a decoder that draws samples; a parallel one has no input to augment")
        self.model = model
        self.input_noise, self.self_feed, self.plateaus = input_noise, self_feed, plateaus

    def decoder_input(self, x: torch.Tensor, cond: torch.Tensor, period: torch.Tensor | None) -> torch.Tensor:
        """The network input (B, 1, T) as training gives it to the decoder."""
        if self.self_feed > 0:
            x = self_fed(self.model.decoder, x, cond, period, self.self_feed)
        if self.plateaus > 0:
            x = with_plateaus(x, self.plateaus)
        if self.input_noise > 0:
            x = x + self.input_noise * torch.randn_like(x)
        return x

    def forward(
        self, audio: torch.Tensor, pitch: torch.Tensor | None = None, f0: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``f0``: (B, F) Hz per frame of each crop (``CropBatches`` of a set with f0 curves), else the pitch's."""
        if self.model.config.parallel:  # no input to augment (refused above); an STFT loss
            return self.model.loss(audio, pitch, f0, lsd=self.lsd_loss)
        augmented = self.self_feed > 0 or self.plateaus > 0 or self.input_noise > 0
        return self.model.loss(audio, pitch, f0, decoder_input=self.decoder_input if augmented else None)
