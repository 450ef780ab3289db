"""Model configuration: frozen dataclasses and the named preset registry.

A config fully describes an architecture. It is stored (as JSON) inside every weights
file, so a model can be rebuilt from its file alone. Presets are named factories in
one registry, ``PRESETS``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

GateOrder = Literal["tanh_sigmoid", "sigmoid_tanh"]
Upsample = Literal["repeat", "linear"]
UPSAMPLE_MODES = ("repeat", "linear")
Output = Literal["softmax", "logistic"]
OUTPUTS = ("softmax", "logistic")


def cycle_dilations(layers: int, cycle: int) -> list[int]:
    """Dilations of ``layers`` stacked convs: 1, 2, 4, ... 2**(cycle - 1), repeated."""
    return [2 ** (i % cycle) for i in range(layers)]


def causal_receptive_field(kernel_size: int, dilations: list[int]) -> int:
    """Past samples a causal WaveNet's logits[t] depend on, x[t - rf ... t - 1]: the start conv
    (dilation 1) and every dilated layer, plus one for the input shift."""
    return (kernel_size - 1) * (1 + sum(dilations)) + 1


@dataclass(frozen=True)
class EncoderConfig:
    """Non-causal temporal encoder (NSynth / Magenta ``ae_*``)."""

    layers: int = 30
    width: int = 128
    kernel_size: int = 3
    # Dilations cycle 1, 2, 4, ... 2**(dilation_cycle - 1); Magenta calls this "num_stages".
    dilation_cycle: int = 10



@dataclass(frozen=True)
class DecoderConfig:
    """Causal WaveNet decoder (Magenta ``startconv``, ``dilatedconv_i`` ...)."""

    layers: int = 30
    residual_channels: int = 512
    skip_channels: int = 256
    kernel_size: int = 3
    dilation_cycle: int = 10
    # Which half of the dilated conv output goes through tanh and which through sigmoid.
    # "tanh_sigmoid": tanh(first) * sigmoid(second) (WaveNet paper);
    # "sigmoid_tanh": sigmoid(first) * tanh(second) (Magenta's h512_bo16 graph).
    gate: GateOrder = "tanh_sigmoid"
    # How frame-rate conditioning reaches the samples: "repeat" holds each frame for hop
    # samples (Magenta); "linear" interpolates between frame centres (no frame-rate steps).
    upsample: Upsample = "repeat"
    # Pitch lock: taps of the network's own past input one pitch period back, x(t - P + j),
    # fractionally interpolated, fed to every layer (0 = off). P = sample_rate / f0.
    pitch_taps: int = 0
    # cos/sin of the f0 phase as two more audio-rate inputs to every layer.
    phase_input: bool = False
    # What the head predicts: "softmax", 256 logits over 8-bit mu-law classes (Magenta); or
    # "logistic", a mixture of ``mixtures`` logistics over the continuous mu-law value whose
    # locations start from the lag taps (``nsynth.decoders.logistic``).
    output: Output = "softmax"
    mixtures: int = 1

    @property
    def pitch_channels(self) -> int:
        """Audio-rate pitch inputs per sample: lag taps plus cos/sin phase."""
        return self.pitch_taps + 2 * int(self.phase_input)

    def dilations(self) -> list[int]:
        return cycle_dilations(self.layers, self.dilation_cycle)

    def receptive_field(self) -> int:
        """Number of past samples that logits[t] depends on: x[t - rf ... t - 1]."""
        return causal_receptive_field(self.kernel_size, self.dilations())


@dataclass(frozen=True)
class ParallelDecoderConfig:
    """Non-autoregressive decoder (``decoders.parallel``): a harmonic-plus-noise source from
    control-rate parameters, shaped by a non-causal gated WaveNet filter; one forward pass per note.
    """

    kind: Literal["parallel"] = "parallel"
    harmonics: int = 64  # sinusoids at k * f0, k = 1 ... harmonics (none above Nyquist)
    noise_bands: int = 65  # filtered-noise magnitude bins: an STFT of 2 * (noise_bands - 1) points
    control_hop: int = 128  # samples per control frame (must divide the model's hop)
    control_width: int = 128
    control_layers: int = 6  # residual dilated convs at control rate, dilations 1, 2, 4, ...
    control_kernel: int = 3
    filter_layers: int = 10  # 0: the bare source (no WaveNet filter)
    filter_channels: int = 32
    filter_fold: int = 4  # the filter runs on the audio folded into this many polyphase channels
    filter_kernel: int = 3
    filter_dilation_cycle: int = 8
    # 0: the filter outputs a folded waveform, de-imaged (``deimage``). > 0: it reads the source
    # normalised to its level and outputs, per folded step, the coefficients of a time-varying
    # FIR of 2 * filter_taps + 1 taps on each of the harmonic and noise parts plus an offset,
    # stretched to the full rate (``WaveNetFilter``): no images, and any frequency reachable.
    filter_taps: int = 0
    # Where the control features enter the filter: "layers", every gated layer through its own
    # 1x1 conv (WaveNet's local conditioning); "input", once, added to the first layer's input.
    filter_cond: Literal["layers", "input"] = "layers"
    # > 0: noise locked to the harmonics as well, a narrow band around each k * f0 (a Gaussian
    # of this many f0 in std) with its own amplitude and distribution over the harmonics, so a
    # breathy or bowed note gets its noise where its partials are, not in the gaps between them.
    harmonic_noise: float = 0.0
    # > 0: each harmonic is split between the bank at k * f0 and a second bank whose f0 wanders
    # around the curve (a random FM, Gaussian-low-passed at ``jitter_rate`` Hz, of up to this
    # many cents RMS), with a share per harmonic and a depth per control frame: the partials of
    # an ensemble, a chorus or a detuned layer, which broaden in proportion to k.
    jitter_cents: float = 0.0
    jitter_rate: float = 8.0
    # > 0.5: harmonics are made up to this many times the sample rate, and those above Nyquist
    # fold back (alias, at |m sr - k f0|) as they do in a renderer that resamples without
    # band-limiting (12 % of 301 FluidR3 training notes carry such lines 20 dB over the middle
    # of their gaps). They get their own distribution (the same logits, over the folded
    # harmonics) and a gain per control frame. 0.5: none above Nyquist.
    alias_limit: float = 0.5

    @property
    def folds(self) -> bool:
        """Whether harmonics over Nyquist are made, folded (``alias_limit`` > 0.5)."""
        return self.alias_limit > 0.5

    @property
    def noise_fft(self) -> int:
        return 2 * (self.noise_bands - 1)

    def control_dilations(self) -> list[int]:
        return cycle_dilations(self.control_layers, self.control_layers) if self.control_layers else []

    def filter_dilations(self) -> list[int]:
        return cycle_dilations(self.filter_layers, self.filter_dilation_cycle)

    def receptive_field(self) -> int:
        """Samples of source the WaveNet filter sees around each output sample (1 without a filter):
        its dilated convs span (kernel - 1) * sum(dilations) + 1 steps of ``filter_fold`` samples."""
        if not self.filter_layers:
            return 1
        return ((self.filter_kernel - 1) * sum(self.filter_dilations()) + 1) * self.filter_fold + 2 * self.filter_taps

    def control_receptive_field(self) -> int:
        """Samples of conditioning the control net sees around each control frame: its dilated
        convs span (kernel - 1) * sum(dilations) + 1 frames of ``control_hop`` samples."""
        return ((self.control_kernel - 1) * sum(self.control_dilations()) + 1) * self.control_hop

    def check(self, hop: int) -> None:
        """Raise ValueError for an impossible combination (``hop``: the model's frame hop)."""
        if self.kind != "parallel":
            raise ValueError(f"unknown decoder kind {self.kind!r}")
        if self.harmonics < 1 or self.noise_bands < 3 or self.control_width < 1 or self.control_layers < 0:
            raise ValueError(f"invalid {type(self).__name__}: {self}")
        if self.control_hop < 1 or hop % self.control_hop:
            raise ValueError(f"control_hop {self.control_hop} must divide the hop {hop}")
        if self.control_hop % (self.noise_fft // 2):
            raise ValueError(f"control_hop {self.control_hop} must be a multiple of the noise STFT hop {self.noise_fft // 2}")
        if self.filter_layers < 0 or self.filter_channels < 1 or self.filter_kernel < 2 or self.filter_kernel % 2 == 0:
            raise ValueError(f"invalid filter in {type(self).__name__}: {self} (odd filter_kernel >= 3)")
        if self.filter_taps < 0:
            raise ValueError(f"filter_taps must be >= 0, got {self.filter_taps}")
        if not 0.0 <= self.harmonic_noise <= 0.5:
            raise ValueError(f"harmonic_noise must be in [0, 0.5] (a fraction of f0), got {self.harmonic_noise}")
        if not 0.0 <= self.jitter_cents <= 100.0 or not 0.5 <= self.jitter_rate <= 100.0:
            raise ValueError(
                "jitter_cents must be in [0, 100] and jitter_rate in [0.5, 100] Hz,"
                f" got {self.jitter_cents}, {self.jitter_rate}"
            )
        if not 0.5 <= self.alias_limit <= 4.0:
            raise ValueError(f"alias_limit must be in [0.5, 4] (times the sample rate), got {self.alias_limit}")
        if self.filter_cond not in ("layers", "input"):
            raise ValueError(f"filter_cond must be 'layers' or 'input', got {self.filter_cond!r}")
        if self.filter_fold < 1 or self.control_hop % self.filter_fold or self.filter_dilation_cycle < 1:
            raise ValueError(f"filter_fold {self.filter_fold} must divide control_hop {self.control_hop}")
        if self.control_kernel < 1 or self.control_kernel % 2 == 0:
            raise ValueError(f"control_kernel must be odd, got {self.control_kernel}")


@dataclass(frozen=True)
class Recommended:
    """Sampling settings a weights file recommends (its "temperature" and "min_p" metadata):
    what every command uses when the user gives none."""

    temperature: float = 1.0
    min_p: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.temperature < float("inf"):
            raise ValueError(f"recommended temperature {self.temperature!r} must be a number >= 0")
        if not 0 <= self.min_p < 1:
            raise ValueError(f"recommended min-p {self.min_p!r} must be in [0, 1)")

    def metadata(self) -> dict[str, str]:
        """As a weights file's metadata."""
        return {"temperature": f"{self.temperature:g}", "min_p": f"{self.min_p:g}"}


@dataclass(frozen=True)
class ModelConfig:
    """Full autoencoder: encoder, decoder and the conditioning that joins them."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig | ParallelDecoderConfig = field(default_factory=DecoderConfig)
    latent_dim: int = 16
    hop: int = 512
    sample_rate: int = 16000
    pitch_conditioning: bool = True
    pitch_dim: int = 16
    quantization_channels: int = 256

    def __post_init__(self) -> None:
        if self.quantization_channels != 256:
            raise ValueError("only 8-bit mu-law (256 classes) is supported")
        for name, value in (("latent_dim", self.latent_dim), ("hop", self.hop), ("sample_rate", self.sample_rate)):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        parts = (self.encoder,) if self.parallel else (self.encoder, self.decoder)
        for part in parts:
            if part.layers < 1 or part.kernel_size < 2 or part.dilation_cycle < 1:
                raise ValueError(f"invalid {type(part).__name__}: {part}")
        if isinstance(self.decoder, ParallelDecoderConfig):
            self.decoder.check(self.hop)
            if not self.pitch_conditioning:
                raise ValueError("a parallel decoder needs pitch_conditioning (its source follows the f0)")
            return
        if self.decoder.gate not in ("tanh_sigmoid", "sigmoid_tanh"):
            raise ValueError(f"unknown gate order {self.decoder.gate!r}")
        if self.decoder.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"unknown upsampling {self.decoder.upsample!r}; choose one of {UPSAMPLE_MODES}")
        if not 0 <= self.decoder.pitch_taps <= 8:
            raise ValueError(f"decoder pitch_taps must be 0-8, got {self.decoder.pitch_taps}")
        if self.decoder.output not in OUTPUTS:
            raise ValueError(f"unknown decoder output {self.decoder.output!r}; choose one of {OUTPUTS}")
        if not 1 <= self.decoder.mixtures <= 16:
            raise ValueError(f"decoder mixtures must be 1-16, got {self.decoder.mixtures}")
        if self.decoder.pitch_channels and not self.pitch_conditioning:
            raise ValueError("a pitch-locked decoder (pitch_taps or phase_input) needs pitch_conditioning")

    @property
    def parallel(self) -> bool:
        """Whether the decoder is the parallel (non-autoregressive) one."""
        return isinstance(self.decoder, ParallelDecoderConfig)

    @property
    def cond_dim(self) -> int:
        """Channels of the frame-rate conditioning: latent, plus pitch embedding if on."""
        return self.latent_dim + (self.pitch_dim if self.pitch_conditioning else 0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Strict inverse of ``to_dict``: unknown keys are an error."""
        data = dict(data)
        enc = _strict(EncoderConfig, data.pop("encoder", {}))
        dec_data = data.pop("decoder", {})
        kind = dec_data.get("kind") if isinstance(dec_data, dict) else None
        dec = _strict(ParallelDecoderConfig if kind == "parallel" else DecoderConfig, dec_data)
        return _strict(cls, data, encoder=enc, decoder=dec)

    def replace(self, **overrides: Any) -> "ModelConfig":
        """Copy with overrides; ``encoder=`` / ``decoder=`` take a dict of field overrides."""
        for part in ("encoder", "decoder"):
            if isinstance(overrides.get(part), dict):
                sub = getattr(self, part)
                _strict(type(sub), overrides[part])  # reject unknown names
                overrides[part] = dataclasses.replace(sub, **overrides[part])
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        return dataclasses.replace(self, **overrides)


def _strict(cls: type, data: dict[str, Any], **extra: Any) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    return cls(**data, **extra)


def nsynth() -> ModelConfig:
    """The NSynth paper's size: encoder 30x128, decoder 30 layers R=512 S=256 K=3, pitch on."""
    return ModelConfig()


def magenta() -> ModelConfig:
    """Magenta's released h512_bo16: same shapes, no pitch, Magenta's gate order."""
    return ModelConfig(decoder=DecoderConfig(gate="sigmoid_tanh"), pitch_conditioning=False)


def mini() -> ModelConfig:
    """CPU-friendly size (``build_model``'s default preset): encoder 30x32, decoder 20 layers R=64 S=128 K=2, pitch on.

    About 0.85M parameters (3.4 MB fp32) and 1.26 MFLOP per generated sample, sized so the
    fused CPU kernel runs near real time at 16 kHz (measured on 2 cores: 0.8x at batch 1,
    2x at batch 8; docs/generation.md).
    """
    return ModelConfig(
        encoder=EncoderConfig(layers=30, width=32),
        decoder=DecoderConfig(layers=20, residual_channels=64, skip_channels=128, kernel_size=2),
    )


def pitched() -> ModelConfig:
    """The shipped default: ``mini``'s size with a pitch-locked decoder.

    Three taps of the decoder's own past one pitch period back, x(t - P - 1 ... t - P + 1),
    and cos/sin of the f0 phase reach every layer; the frame conditioning is linearly
    interpolated. The period follows the note's MIDI pitch, or a per-frame f0 curve.
    """
    base = mini()
    return base.replace(decoder={"upsample": "linear", "pitch_taps": 3, "phase_input": True})


def parallel() -> ModelConfig:
    """The parallel decoder: ``mini``'s encoder, a harmonic-plus-noise source and a 10-layer
    non-causal WaveNet filter (32 channels, the audio folded 8 ways) that outputs a 17-tap
    time-varying FIR on the level-normalised source; one pass per note."""
    return ModelConfig(
        encoder=EncoderConfig(layers=30, width=32), decoder=ParallelDecoderConfig(filter_fold=8, filter_taps=8)
    )


def parallel_source() -> ModelConfig:
    """The parallel decoder's bare harmonic-plus-noise source, no WaveNet filter (the A/B reference)."""
    return parallel().replace(decoder={"filter_layers": 0})


def parallel_large() -> ModelConfig:
    """The parallel decoder with a wider filter: 12 layers of 64 channels on the audio folded 16 ways."""
    return parallel().replace(decoder={"filter_layers": 12, "filter_channels": 64, "filter_fold": 16})


PRESETS: dict[str, Callable[[], ModelConfig]] = {
    "nsynth": nsynth,
    "magenta": magenta,
    "mini": mini,
    "pitched": pitched,
    "parallel": parallel,
    "parallel-source": parallel_source,
    "parallel-large": parallel_large,
}


def get_preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
