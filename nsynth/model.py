"""The NSynth autoencoders: temporal encoder + pitch embedding + a decoder.

``NSynthAutoencoder`` has the WaveNet decoder that draws sample by sample; ``ParallelAutoencoder``
the parallel one (``nsynth.decoders.parallel``) that makes a whole note in one pass. Both share
the encoder and the conditioning (``Autoencoder``), so their tensors have the same names there.
``autoencoder(config)`` builds whichever a config describes.

Audio in [-1, 1) enters the encoder (and the WaveNet) as its mu-law code / 128 (Magenta's
``rescale_inputs``). The decoder is conditioned on the latent frames, joined with a
learned pitch embedding when the config enables pitch conditioning.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nsynth.config import ModelConfig, Recommended
from nsynth.decoders import logistic
from nsynth.decoders.parallel import ParallelDecoder, stft_loss
from nsynth.decoders.wavenet import MAX_PERIOD, WaveNetDecoder, upsample_frames
from nsynth.encoders.temporal import TemporalEncoder, pad_to_hop
from nsynth.mulaw import audio_to_input, quantize

# A hook on the decoder's network input: (x (B, 1, T), cond, period) -> x'.
DecoderInput = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


class Autoencoder(nn.Module):
    """What both autoencoders share: the encoder, the pitch embedding and the conditioning."""

    def __init__(self, config: ModelConfig, recommended: Recommended | None = None) -> None:
        super().__init__()
        self.config = config
        # The sampling settings used where a caller gives none: what the weights file
        # recommends (``nsynth.load_model`` reads them), else temperature 1 and no min-p.
        self.recommended = recommended or Recommended()
        enc = config.encoder
        self.encoder = TemporalEncoder(
            layers=enc.layers,
            width=enc.width,
            kernel_size=enc.kernel_size,
            dilation_cycle=enc.dilation_cycle,
            latent_dim=config.latent_dim,
            hop=config.hop,
        )
        self.pitch_embedding = nn.Embedding(128, config.pitch_dim) if config.pitch_conditioning else None

    @property
    def parallel(self) -> bool:
        """Whether the decoder makes a note in one pass (no drawing, no sampling options)."""
        return self.config.parallel

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) float audio -> (B, latent_dim, ceil(T / hop)) embeddings.

        T need not be a multiple of hop: the end is zero-padded to the next multiple.
        """
        x = pad_to_hop(audio_to_input(_batch_audio(audio))[:, None], self.config.hop)
        return self.encoder(x)

    def conditioning(self, embeddings: torch.Tensor, pitch: torch.Tensor | None = None) -> torch.Tensor:
        """(B, latent_dim, F) embeddings + (B,) MIDI pitch -> (B, cond_dim, F) decoder conditioning."""
        if embeddings.dim() != 3 or embeddings.shape[1] != self.config.latent_dim:
            raise ValueError(f"embeddings must be (B, {self.config.latent_dim}, frames), got {tuple(embeddings.shape)}")
        if self.pitch_embedding is None:
            return embeddings
        if pitch is None:
            raise ValueError("this model is pitch-conditioned: give a MIDI pitch (0-127) per note")
        pitch = torch.as_tensor(pitch, device=embeddings.device).long().reshape(-1)
        if pitch.numel() == 1:
            pitch = pitch.expand(embeddings.shape[0])
        if pitch.numel() != embeddings.shape[0] or bool(((pitch < 0) | (pitch > 127)).any()):
            raise ValueError(f"pitch must be one MIDI number 0-127 per note, got {pitch.tolist()}")
        p = self.pitch_embedding(pitch)[:, :, None].expand(-1, -1, embeddings.shape[-1])
        return torch.cat([embeddings, p.to(embeddings.dtype)], dim=1)

    @property
    def pitch_locked(self) -> bool:
        """Whether the decoder follows a pitch period per sample (``period``)."""
        raise NotImplementedError

    def period(self, pitch: torch.Tensor | None, n_samples: int, f0: torch.Tensor | None = None) -> torch.Tensor | None:
        """Pitch period in samples per sample, for pitch-locked decoders (else None).

        Args:
            pitch: (B,) MIDI pitch; used where no f0 curve is given.
            n_samples: T.
            f0: (B, F) f0 in Hz per frame of hop samples (F * hop >= T), linearly
                interpolated between frame centres; every value must be positive.
        Returns:
            (B, T) float32 periods sample_rate / f0, clamped to [1, MAX_PERIOD].
        """
        if not self.pitch_locked:
            return None
        sr = float(self.config.sample_rate)
        dev = next(self.parameters()).device
        if f0 is not None:
            f0 = torch.as_tensor(f0, device=dev, dtype=torch.float64)
            if f0.dim() != 2 or f0.shape[-1] * self.config.hop < n_samples:
                raise ValueError(f"f0 must be (B, frames) covering {n_samples} samples, got {tuple(f0.shape)}")
            if not bool(torch.isfinite(f0).all()) or bool((f0 <= 0).any()):
                raise ValueError("f0 must be positive and finite (fill unvoiced frames first)")
            per = upsample_frames((sr / f0)[:, None], self.config.hop, n_samples, "linear")[:, 0]
        else:
            if pitch is None:
                raise ValueError("this model is pitch-locked: give a MIDI pitch or an f0 curve per note")
            midi = torch.as_tensor(pitch, device=dev, dtype=torch.float64).reshape(-1, 1)
            per = (sr / (440.0 * 2.0 ** ((midi - 69.0) / 12.0))).expand(-1, n_samples)
        return per.clamp(1.0, MAX_PERIOD).float().contiguous()

class NSynthAutoencoder(Autoencoder):
    """Built from a ``ModelConfig``; see ``encode``, ``logits`` and ``loss``."""

    def __init__(self, config: ModelConfig, recommended: Recommended | None = None) -> None:
        super().__init__(config, recommended)
        dec = config.decoder
        if config.parallel:
            raise ValueError("a parallel decoder config builds a ParallelAutoencoder (nsynth.model.autoencoder)")
        self.decoder = WaveNetDecoder(
            layers=dec.layers,
            residual_channels=dec.residual_channels,
            skip_channels=dec.skip_channels,
            kernel_size=dec.kernel_size,
            dilation_cycle=dec.dilation_cycle,
            cond_channels=config.cond_dim,
            hop=config.hop,
            gate_order=dec.gate,
            upsample=dec.upsample,
            pitch_taps=dec.pitch_taps,
            phase_input=dec.phase_input,
            output=dec.output,
            mixtures=dec.mixtures,
        )

    @property
    def receptive_field(self) -> int:
        return self.decoder.receptive_field

    @property
    def pitch_locked(self) -> bool:
        """Whether the decoder needs a pitch period per sample (``period``)."""
        return self.decoder.pitch_channels > 0

    def logits(
        self,
        audio: torch.Tensor,
        embeddings: torch.Tensor,
        pitch: torch.Tensor | None = None,
        f0: torch.Tensor | None = None,
        *,
        decoder_input: DecoderInput | None = None,
    ) -> torch.Tensor:
        """Teacher-forced decoder output.

        Args:
            audio: (B, T) float audio in [-1, 1), the target samples.
            embeddings: (B, latent_dim, F) with F * hop >= T.
            pitch: (B,) MIDI pitch, for pitch-conditioned models.
            f0: (B, F) f0 in Hz per frame for pitch-locked models (default: from ``pitch``).
            decoder_input: called as ``decoder_input(x, cond, period)`` with the decoder's
                network input x (B, 1, T), its conditioning and periods; returns the input the
                decoder is given instead (training's augmentations, ``nsynth.training.augment``).
                The targets stay the audio.
        Returns:
            (B, 256, T) logits over mu-law classes (class = code + 128); for a logistic head,
            (B, 3K, T) mixture parameters.
        """
        audio = _batch_audio(audio)
        x = audio_to_input(audio)[:, None]
        period = self.period(pitch, audio.shape[-1], f0)
        cond = self.conditioning(embeddings, pitch)
        if decoder_input is not None:
            x = decoder_input(x, cond, period)
        return self.decoder(x, cond, period)

    def forward(self, audio: torch.Tensor, pitch: torch.Tensor | None = None, f0: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) audio -> its teacher-forced decoder output (``logits``), encoding the same audio."""
        return self.logits(audio, self.encode(audio), pitch, f0)

    def loss(
        self,
        audio: torch.Tensor,
        pitch: torch.Tensor | None = None,
        f0: torch.Tensor | None = None,
        *,
        decoder_input: DecoderInput | None = None,
    ) -> torch.Tensor:
        """Mean negative log-likelihood (nats) of each sample's mu-law class, autoencoding ``audio``."""
        return self.nll(self.logits(audio, self.encode(audio), pitch, f0, decoder_input=decoder_input), audio)

    def nll(self, out: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood (nats) of the mu-law classes of ``audio`` (B, T) under the
        decoder's output ``out``: logits (B, 256, T), or mixture parameters (B, 3K, T)."""
        target = quantize(_batch_audio(audio))
        if self.decoder.output == "logistic":
            return logistic.nll(out.float(), target).mean()
        return F.cross_entropy(out.float(), target)


class ParallelAutoencoder(Autoencoder):
    """The encoder, the pitch embedding and the parallel decoder (``nsynth.decoders.parallel``):
    ``synthesize`` makes whole notes in one pass; ``loss`` is the multi-resolution STFT loss."""

    def __init__(self, config: ModelConfig, recommended: Recommended | None = None) -> None:
        super().__init__(config, recommended)
        if not config.parallel:
            raise ValueError("a WaveNet decoder config builds an NSynthAutoencoder (nsynth.model.autoencoder)")
        self.decoder = ParallelDecoder(config.cond_dim, config.hop, config.sample_rate, config.decoder)

    @property
    def pitch_locked(self) -> bool:
        """Always: the source follows the note's f0 curve (``period`` gives it per sample)."""
        return True

    def synthesize(
        self,
        embeddings: torch.Tensor,
        pitch: torch.Tensor,
        period: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        white: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Whole notes in one pass.

        Args:
            embeddings: (B, latent_dim, F).
            pitch: (B,) MIDI pitch (the pitch embedding; the f0 too where ``period`` is None).
            period: (B, F * hop) pitch period in samples per sample (``period``), e.g. along an f0 curve.
            generator: the noise's source; the same seed gives the same audio.
            white: (B, F * hop) the white noise, uniform in [-1, 1), instead of ``generator``'s.
        Returns:
            (B, F * hop) float32 audio.
        """
        cond = self.conditioning(embeddings, pitch)
        n = embeddings.shape[-1] * self.config.hop
        if period is None:
            period = self.period(pitch, n)
        if period.shape != (embeddings.shape[0], n):
            raise ValueError(f"period must be (B, {n}), got {tuple(period.shape)}")
        f0 = self.config.sample_rate / period.double()
        return self.decoder(cond, f0, generator, white)

    def forward(self, audio: torch.Tensor, pitch: torch.Tensor, f0: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) audio (T a multiple of hop) -> its reconstruction (B, T), encoding the same audio."""
        audio = _batch_audio(audio)
        period = self.period(pitch, audio.shape[-1], f0)
        return self.synthesize(self.encode(audio), pitch, period)[:, : audio.shape[-1]]

    def loss(
        self,
        audio: torch.Tensor,
        pitch: torch.Tensor | None = None,
        f0: torch.Tensor | None = None,
        *,
        decoder_input: DecoderInput | None = None,
        lsd: float = 0.0,
    ) -> torch.Tensor:
        """Multi-resolution STFT loss (``stft_loss``, ``lsd`` its LSD term's weight) of the
        reconstruction of ``audio`` (B, T)."""
        if decoder_input is not None:
            raise ValueError("the parallel decoder has no network input to augment")
        if pitch is None:
            raise ValueError("the parallel decoder needs a MIDI pitch per note")
        audio = _batch_audio(audio)
        return stft_loss(self(audio, pitch, f0), audio, lsd=lsd)


Model = NSynthAutoencoder | ParallelAutoencoder


def autoencoder(config: ModelConfig, recommended: Recommended | None = None) -> Model:
    """The autoencoder ``config`` describes: parallel or sample by sample."""
    cls = ParallelAutoencoder if config.parallel else NSynthAutoencoder
    return cls(config, recommended)


def _batch_audio(audio: torch.Tensor) -> torch.Tensor:
    if audio.dim() == 1:
        audio = audio[None]
    if audio.dim() != 2:
        raise ValueError(f"audio must be (B, T), got {tuple(audio.shape)}")
    return audio
