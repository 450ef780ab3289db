"""The NSynth WaveNet autoencoder: temporal encoder + pitch embedding + WaveNet decoder.

Audio in [-1, 1) enters both networks as its mu-law code / 128 (Magenta's
``rescale_inputs``). The decoder is conditioned on the latent frames, joined with a
learned pitch embedding when the config enables pitch conditioning.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nsynth.config import ModelConfig
from nsynth.decoders import logistic
from nsynth.decoders.wavenet import MAX_PERIOD, WaveNetDecoder, upsample_frames
from nsynth.encoders.temporal import TemporalEncoder, pad_to_hop
from nsynth.mulaw import audio_to_input, classes_to_input, quantize


class NSynthAutoencoder(nn.Module):
    """Built from a ``ModelConfig``; see ``encode``, ``logits`` and ``loss``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        # Sampling temperature used when a caller gives none: 1.0, or what the weights file
        # recommends (its "temperature" metadata; set by ``nsynth.load_model``).
        self.default_temperature = 1.0
        # Likewise the min-p truncation of sampling: 0 (none), or the file's "min_p" metadata.
        self.default_min_p = 0.0
        enc, dec = config.encoder, config.decoder
        self.encoder = TemporalEncoder(
            layers=enc.layers,
            width=enc.width,
            kernel_size=enc.kernel_size,
            dilation_cycle=enc.dilation_cycle,
            latent_dim=config.latent_dim,
            hop=config.hop,
        )
        self.pitch_embedding = nn.Embedding(128, config.pitch_dim) if config.pitch_conditioning else None
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
        """Whether the decoder needs a pitch period per sample (``period``)."""
        return self.decoder.pitch_channels > 0

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

    def logits(
        self,
        audio: torch.Tensor,
        embeddings: torch.Tensor,
        pitch: torch.Tensor | None = None,
        f0: torch.Tensor | None = None,
        input_noise: float = 0.0,
        self_feed: float = 0.0,
        plateaus: float = 0.0,
    ) -> torch.Tensor:
        """Teacher-forced logits.

        Args:
            audio: (B, T) float audio in [-1, 1), the target samples.
            embeddings: (B, latent_dim, F) with F * hop >= T.
            pitch: (B,) MIDI pitch, for pitch-conditioned models.
            f0: (B, F) f0 in Hz per frame for pitch-locked models (default: from ``pitch``).
            input_noise: std of Gaussian noise added to the decoder's input (not its targets),
                in network-input units (one mu-law step is 1/128): a training aid against
                exposure bias, so the decoder learns to bring noisy pasts back to the data.
            self_feed: fraction of input samples replaced by the decoder's own prediction of
                them (parallel scheduled sampling, Duckworth et al. 2019): a first, gradient-free
                teacher-forced pass draws each sample from its predicted distribution (T = 1),
                and each input sample is swapped for that draw with this probability. The
                targets stay the data, so the decoder learns to come back from its own kind of
                error, the lag taps' included. 0 (default) is plain teacher forcing.
            plateaus: probability per batch row that a stretch of the decoder's input (64-1,024
                samples, at a random place) is held at one random level in [-1, 1], the targets
                unchanged: free-running decoders can lock onto such a constant in quiet tails and
                never leave it; trained with plateaus, they learn to come back to the data.
        Returns:
            (B, 256, T) logits over mu-law classes (class = code + 128).
        """
        audio = _batch_audio(audio)
        x = audio_to_input(audio)[:, None]
        period = self.period(pitch, audio.shape[-1], f0)
        cond = self.conditioning(embeddings, pitch)
        if self_feed > 0:
            x = self._self_fed(x, cond, period, self_feed)
        if plateaus > 0:
            x = with_plateaus(x, plateaus)
        if input_noise > 0:
            x = x + input_noise * torch.randn_like(x)
        return self.decoder(x, cond, period)

    def _self_fed(self, x: torch.Tensor, cond: torch.Tensor, period: torch.Tensor | None, p: float) -> torch.Tensor:
        """(B, 1, T) network input -> the same with a fraction p of samples drawn by the decoder,
        with generation's own draw (``sample_classes``, T = 1)."""
        from nsynth.generation.reference import sample_classes  # nsynth.generation imports this module

        with torch.no_grad():
            logits = self.decoder(x, cond.detach(), period)
            b, n, t = logits.shape
            flat, u = logits.transpose(1, 2).reshape(b * t, n), torch.rand(b * t, device=x.device)
            if self.decoder.output == "logistic":
                cls = logistic.value_classes(logistic.draw(flat, u))
            else:
                cls = sample_classes(flat, u)
            drawn = classes_to_input(cls.view(b, 1, t), x.dtype)
            keep = torch.rand_like(x) >= p
        return torch.where(keep, x, drawn)

    def forward(
        self,
        audio: torch.Tensor,
        pitch: torch.Tensor | None = None,
        f0: torch.Tensor | None = None,
        input_noise: float = 0.0,
        self_feed: float = 0.0,
        plateaus: float = 0.0,
    ) -> torch.Tensor:
        """(B, T) audio -> (B, 256, T) logits, encoding the same audio (autoencoding)."""
        return self.logits(audio, self.encode(audio), pitch, f0, input_noise, self_feed, plateaus)

    def loss(
        self, audio: torch.Tensor, pitch: torch.Tensor | None = None, f0: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean negative log-likelihood (nats) of each sample's mu-law class."""
        return self.nll(self(audio, pitch, f0), audio)

    def nll(self, out: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood (nats) of the mu-law classes of ``audio`` (B, T) under the
        decoder's output ``out``: logits (B, 256, T), or mixture parameters (B, 3K, T)."""
        target = quantize(_batch_audio(audio))
        if self.decoder.output == "logistic":
            return logistic.nll(out.float(), target).mean()
        return F.cross_entropy(out.float(), target)


PLATEAU_LENGTHS = (64, 1024)  # shortest and longest plateau of ``with_plateaus``, in samples


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


def _batch_audio(audio: torch.Tensor) -> torch.Tensor:
    if audio.dim() == 1:
        audio = audio[None]
    if audio.dim() != 2:
        raise ValueError(f"audio must be (B, T), got {tuple(audio.shape)}")
    return audio
