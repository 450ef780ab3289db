"""The parallel decoder: a harmonic-plus-noise source shaped by a non-causal WaveNet filter.

Nothing is drawn sample by sample: the whole note comes out of one forward pass.

    c      = linear_upsample(cond)                          (B, C, Tc) at the control rate
    h, p   = control(c, log f0)                             residual dilated convs, non-causal
    A, a_k = exp_sigmoid(p_0), softmax_k(p_1..K)            overall amplitude, harmonic distribution
    harm   = sum_k A a_k sin(k phi),  phi(t) = 2 pi sum_{s<t} f0(s) / sr   (a_k = 0 where k f0 >= sr / 2)
    noise  = istft(stft(white) * exp_sigmoid(p_K+1...))     filtered noise, noise_bands bins
           (+ nu(t) sum_k B b_k sin(k phi) with harmonic_noise: nu a narrow low-passed noise)
    (with jitter_cents, harm = sum_k A a_k ((1 - m_k) sin(k phi) + m_k sin(k psi)): psi the phase
     of f0 2^(d(t) w(t) / 1200), w a unit-RMS noise low-passed at jitter_rate, d the depth in cents)
    (with alias_limit > 1/2, + sum_k A g c_k sin(k phi) over nyquist <= k f0 < alias_limit sr:
     the folded harmonics, c_k the softmax of the same logits over them, g a gain in (0, 1))
    y      = harm + noise + filter(harm, noise, h)          the filter's output conv starts at zero
    filter = level * (fir_h(harm / level) + fir_n(noise / level) + offset)   (filter_taps > 0)

The filter (neural source-filter, Wang & Yamagishi 2019) is a stack of non-causal dilated
gated convs, locally conditioned on the control features, run on the source folded into
``filter_fold`` polyphase channels (sample t goes to channel t mod fold): fold times fewer
steps for the same receptive field in samples. With ``filter_taps`` it outputs, per folded step,
the coefficients of a time-varying FIR applied at the full rate to the level-normalised source
(so what it adds follows the note's level and has no polyphase images); without, a folded
waveform, de-imaged. With ``filter_layers=0`` the decoder is the
bare source (DDSP's harmonic-plus-noise synthesiser, Engel et al. 2020).

Shapes: cond (B, C, F) at hop samples per frame; f0 (B, T) Hz per sample with
T = F * hop; audio out (B, T).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nsynth.config import ParallelDecoderConfig

NOISE_BIAS = -5.0  # initial pre-activation of the noise gains: the source starts nearly noiseless
JITTER_SHARE_BIAS = -3.0  # initial pre-activation of each harmonic's share in the jittered bank
ALIAS_BIAS = -5.0  # initial pre-activation of the folded harmonics' gain: 0.7 % of the amplitude, -43 dB
FILTER_COND = 16  # channels of the control features inside the WaveNet filter


def exp_sigmoid(x: torch.Tensor, exponent: float = 10.0, max_value: float = 2.0) -> torch.Tensor:
    """DDSP's scaled sigmoid, ``max_value * sigmoid(x) ** ln(exponent) + 1e-7``: positive, log-like."""
    return max_value * torch.sigmoid(x) ** math.log(exponent) + 1e-7


def fold(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, T) -> (B, k, T // k), channel j holding samples j, j + k, ... (T a multiple of k)."""
    b, t = x.shape
    return x.reshape(b, t // k, k).transpose(1, 2)


def unfold(x: torch.Tensor) -> torch.Tensor:
    """Inverse of ``fold``: (B, k, T // k) -> (B, T)."""
    b, k, n = x.shape
    return x.transpose(1, 2).reshape(b, n * k)


def stretch(x: torch.Tensor, n: int) -> torch.Tensor:
    """(B, C, F) -> (B, C, n) by linear interpolation between frame centres (n a multiple of F:
    frame i's centre is then output sample (i + 1/2) n / F - 1/2), held at the ends."""
    if x.shape[-1] == n:
        return x
    return F.interpolate(x, size=n, mode="linear", align_corners=False)


def at_frame_centres(x: torch.Tensor, frame_hop: int, control_hop: int, n: int) -> torch.Tensor:
    """Control frames (B, C, Fc), frame i centred on sample (i + 1/2) * control_hop, read by linear
    interpolation at the centres j * frame_hop of ``n`` frames of another framing (an STFT's, with
    ``center=True``), held at the ends: (B, C, n). Each frame sees the control frames around its
    own samples, whatever the length of the note."""
    pos = (torch.arange(n, device=x.device, dtype=torch.float64) * frame_hop / control_hop - 0.5).clamp(0, x.shape[-1] - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=x.shape[-1] - 1)
    w = (pos - lo).to(x.dtype)
    return x[..., lo] * (1 - w) + x[..., hi] * w


def phase(f0: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """(B, T) Hz per sample -> (B, T) float64 phase phi(t) = 2 pi sum_{s < t} f0(s) / sr, wrapped
    to one cycle (``harmonic_bank`` says why it starts at 0 and is accumulated in float64)."""
    cycles = torch.cumsum(f0.double() / sample_rate, dim=-1)
    cycles = F.pad(cycles[..., :-1], (1, 0))  # exclusive: the phase before sample t's own step
    return (cycles - torch.floor(cycles)) * (2 * math.pi)


def harmonic_bank(f0: torch.Tensor, amplitudes: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Sum of sinusoids at k * f0 along the f0 curve, sum_k a_k(t) sin(k phi(t)).

    Args:
        f0: (B, T) Hz per sample.
        amplitudes: (B, K, T) amplitude of harmonic k = 1 ... K per sample (the caller silences
            those at or above Nyquist: ``ParallelDecoder.source`` does, per sample).
    Returns:
        (B, T) float32. The phase phi(t) = 2 pi sum_{s < t} f0(s) / sr starts at 0, so every note
        starts from silence (phi(0) = 2 pi f0(0) / sr put a step of up to 0.2 of full scale on a
        high note's first sample: a click); it is accumulated in float64, wrapped to one cycle,
        so a long note stays in tune. The sum is Clenshaw's
        recurrence on sin(k phi) = U_(k-1)(cos phi) sin phi, in float64: K multiply-adds per
        sample and no (B, K, T) table of sines.
    """
    phi = phase(f0, sample_rate)
    two_x = 2 * torch.cos(phi)
    b1 = torch.zeros_like(phi)
    b2 = torch.zeros_like(phi)
    for k in range(amplitudes.shape[1] - 1, -1, -1):
        b1, b2 = amplitudes[:, k].double() + two_x * b1 - b2, b1
    return (b1 * torch.sin(phi)).float()


def filtered_noise(
    gains: torch.Tensor, n: int, generator: torch.Generator | None = None, white: torch.Tensor | None = None
) -> torch.Tensor:
    """White noise shaped by per-frame magnitude gains.

    Args:
        gains: (B, N, Fc) gain per STFT bin of an FFT of 2 (N - 1) points, per control frame of
            n / Fc samples (read at each STFT frame's centre: ``at_frame_centres``).
        n: samples to make, a multiple of Fc.
        generator: source of the white noise (None: torch's global generator).
        white: (B, n) the white noise itself, uniform in [-1, 1) (instead of drawing it).
    Returns:
        (B, n) float32.
    """
    b, bins, _ = gains.shape
    n_fft = 2 * (bins - 1)
    hop = n_fft // 2
    dev = gains.device
    if white is None:
        gen_dev = generator.device if generator is not None else dev
        white = torch.rand(b, n, generator=generator, device=gen_dev).to(dev) * 2 - 1
    elif white.shape != (b, n):
        raise ValueError(f"white noise must be ({b}, {n}), got {tuple(white.shape)}")
    window = torch.hann_window(n_fft, device=dev)
    spec = torch.stft(white, n_fft, hop, window=window, center=True, return_complex=True)
    shaped = spec * at_frame_centres(gains, hop, n // gains.shape[-1], spec.shape[-1])
    return torch.istft(shaped, n_fft, hop, window=window, center=True, length=n)


def lowpassed_noise(x: torch.Tensor, sample_rate: int, sigma: torch.Tensor | float) -> torch.Tensor:
    """(B, T) noise -> (B, T) the noise through a Gaussian low-pass of std ``sigma`` Hz (a float,
    or (B,) one per row), applied over the whole note by FFT (so no side lobes), scaled to unit
    RMS; computed in ``x``'s dtype."""
    t = x.shape[-1]
    spec = torch.fft.rfft(x, n=t)
    freqs = torch.fft.rfftfreq(t, 1.0 / sample_rate, dtype=x.dtype, device=x.device)
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1)
    y = torch.fft.irfft(spec * torch.exp(-0.5 * (freqs[None] / sigma) ** 2), n=t)
    return y / y.pow(2).mean(-1, keepdim=True).sqrt().clamp(min=1e-12)


def wander(white: torch.Tensor, sample_rate: int, rate: float) -> torch.Tensor:
    """(B, T) white noise -> (B, T) a slow random curve of unit RMS, in float64: the noise
    low-passed by a Gaussian of std ``rate`` Hz (the jittered bank's FM)."""
    return lowpassed_noise(white.double(), sample_rate, rate)


def narrowband_carrier(white: torch.Tensor, f0: torch.Tensor, sample_rate: int, width: float) -> torch.Tensor:
    """(B, T) white noise, (B, T) f0 in Hz -> (B, T) low-passed noise of unit RMS: a Gaussian
    low-pass of std ``width`` times the note's median f0, the noise that, multiplied onto a
    harmonic bank, gives each harmonic a narrow band of noise of its own (at f0 / 2 from a
    harmonic it is 12.5 / width^2 dB down)."""
    sigma = width * f0.float().median(-1).values.clamp(min=1.0)  # (B,)
    return lowpassed_noise(white.float(), sample_rate, sigma)


class ControlNet(nn.Module):
    """Control-rate conditioning (B, C, Tc) and normalised log f0 (B, 1, Tc) -> hidden features
    (B, width, Tc) and the source's parameters (B, 1 + harmonics + noise_bands, Tc), plus
    1 + harmonics more with ``harmonic_noise`` (the locked noise's amplitude and distribution) and
    harmonics + 1 more with ``jitter_cents`` (each harmonic's share in the jittered bank, its depth)
    and 1 more with ``alias_limit`` > 0.5 (the folded harmonics' gain), in that order."""

    def __init__(self, cond_channels: int, cfg: ParallelDecoderConfig) -> None:
        super().__init__()
        w, k = cfg.control_width, cfg.control_kernel
        self.inp = nn.Conv1d(cond_channels + 1, w, 1)
        self.convs = nn.ModuleList(
            nn.Conv1d(w, w, k, dilation=d, padding=d * (k - 1) // 2) for d in cfg.control_dilations()
        )
        self.mixes = nn.ModuleList(nn.Conv1d(w, w, 1) for _ in cfg.control_dilations())
        locked = 1 + cfg.harmonics if cfg.harmonic_noise else 0  # its amplitude and distribution
        jitter = cfg.harmonics + 1 if cfg.jitter_cents else 0
        alias = 1 if cfg.folds else 0
        self.out = nn.Conv1d(w, 1 + cfg.harmonics + cfg.noise_bands + locked + jitter + alias, 1)
        with torch.no_grad():
            self.out.bias[1 + cfg.harmonics :].fill_(NOISE_BIAS)
            if locked:  # an even distribution; the amplitude starts nearly silent
                start = 1 + cfg.harmonics + cfg.noise_bands
                self.out.bias[start + 1 : start + locked].zero_()
            if jitter:  # ~5 % of each harmonic in the jittered bank, at half the depth
                end = self.out.bias.shape[0] - alias
                self.out.bias[end - jitter : end].fill_(JITTER_SHARE_BIAS)
                self.out.bias[end - 1].zero_()
            if alias:
                self.out.bias[-1].fill_(ALIAS_BIAS)

    def forward(self, cond: torch.Tensor, log_f0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.inp(torch.cat([cond, log_f0], 1))
        for conv, mix in zip(self.convs, self.mixes):
            h = h + mix(F.leaky_relu(conv(F.leaky_relu(h, 0.2)), 0.2))
        h = F.leaky_relu(h, 0.2)
        return h, self.out(h)


class WaveNetFilter(nn.Module):
    """Non-causal gated dilated convs on the folded source, conditioned on the control features.

    harm, noise (B, T) and hidden (B, width, Tc) -> the correction (B, T) added to the source.
    Its output conv is zero at initialisation, so an untrained filter is the identity.
    """

    def __init__(self, control_width: int, cfg: ParallelDecoderConfig) -> None:
        super().__init__()
        c, k, f = cfg.filter_channels, cfg.filter_kernel, cfg.filter_fold
        self.fold, self.channels = f, c
        self.inp = nn.Conv1d(2 * f, c, 1)
        self.dilated = nn.ModuleList(
            nn.Conv1d(c, 2 * c, k, dilation=d, padding=d * (k - 1) // 2) for d in cfg.filter_dilations()
        )
        # The control features, narrowed at the control rate and stretched to the folded rate,
        # enter every layer through a 1x1 conv (cheaper than stretching each layer's bias), or
        # (filter_cond "input") once, added to the first layer's input.
        self.cond = nn.Conv1d(control_width, FILTER_COND, 1)
        self.per_layer = cfg.filter_cond == "layers"
        if self.per_layer:
            self.cond_in = nn.ModuleList(nn.Conv1d(FILTER_COND, 2 * c, 1) for _ in cfg.filter_dilations())
        else:
            self.cond_inp = nn.Conv1d(FILTER_COND, c, 1)
        # the last layer feeds the skips only: no residual conv after it
        self.res = nn.ModuleList(nn.Conv1d(c, c, 1) for _ in cfg.filter_dilations()[1:])
        self.skip = nn.ModuleList(nn.Conv1d(c, c, 1) for _ in cfg.filter_dilations())
        self.taps, self.level_hop = cfg.filter_taps, cfg.control_hop
        # folded waveform (fold channels), or per folded step 2 FIRs of 2 taps + 1 and an offset
        self.out = nn.Conv1d(c, 2 * (2 * self.taps + 1) + 1 if self.taps else f, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, harm: torch.Tensor, noise: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        f, c = self.fold, self.channels
        if self.taps:
            level = source_level(harm + noise, self.level_hop)  # (B, T), detached
            harm, noise = harm / level, noise / level
        h = self.inp(torch.cat([fold(harm, f), fold(noise, f)], 1))
        n = h.shape[-1]
        cond = stretch(self.cond(hidden), n)  # (B, FILTER_COND, T / fold)
        if not self.per_layer:
            h = h + self.cond_inp(cond)
        s = torch.zeros_like(h)
        for i, (dil, skip) in enumerate(zip(self.dilated, self.skip)):
            z = dil(h) + self.cond_in[i](cond) if self.per_layer else dil(h)
            g = gate(z, c)
            if i < len(self.res):
                h = h + self.res[i](g)
            s = s + skip(g)
        out = self.out(F.leaky_relu(s, 0.2))
        if not self.taps:
            return unfold(deimage(out))
        if compiled(harm):  # generating: one compiled pass
            from nsynth.bank_kernel import fused_fir

            return level * fused_fir(harm, noise, out)  # equal to the lines below within float rounding
        k = 2 * self.taps + 1
        coef = stretch(out, harm.shape[-1])  # (B, 2 k + 1, T): smooth between folded steps
        shaped = varying_fir(harm, coef[:, :k]) + varying_fir(noise, coef[:, k : 2 * k]) + coef[:, 2 * k]
        return level * shaped


def compiled(x: torch.Tensor) -> bool:
    """Whether generation runs the compiled kernels (``nsynth.bank_kernel``) on ``x``'s pass: on
    the CPU, in float32, with no gradient wanted and no trace being recorded; training, other
    devices and dtypes take torch's path (the kernels are tested equal to it)."""
    cpu32 = x.device.type == "cpu" and x.dtype == torch.float32
    return cpu32 and not torch.is_grad_enabled() and not torch.jit.is_tracing()


def gate(z: torch.Tensor, c: int) -> torch.Tensor:
    """WaveNet's gated unit on (B, 2 c, N): tanh(z[:, :c]) * sigmoid(z[:, c:]), with tanh as
    2 sigmoid(2 x) - 1 (the same function; torch's CPU tanh is ~6x slower than its sigmoid)."""
    a = torch.sigmoid(z[:, :c] * 2)
    return (a * 2 - 1) * torch.sigmoid(z[:, c:])


def source_level(x: torch.Tensor, hop: int) -> torch.Tensor:
    """(B, T) -> (B, T): the RMS of ``x`` over frames of ``hop`` samples, linearly stretched
    between frame centres, floored at 1e-4 and detached (the filter's input normalisation)."""
    b, t = x.shape
    rms = x.detach().reshape(b, 1, t // hop, hop).pow(2).mean(-1).sqrt()  # (B, 1, T / hop)
    return stretch(rms, t)[:, 0].clamp(min=1e-4)


def varying_fir(x: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """(B, T) signal, (B, 2 D + 1, T) coefficients -> (B, T): y(t) = sum_d coef_d(t) x(t + d - D),
    zero beyond the ends (a centred FIR whose taps change every sample)."""
    d = (coef.shape[1] - 1) // 2
    windows = F.pad(x, (d, d)).unfold(-1, 2 * d + 1, 1)  # (B, T, 2 D + 1), a view
    return torch.einsum("btk,bkt->bt", windows, coef)


def deimage(y: torch.Tensor) -> torch.Tensor:
    """(B, fold, N) -> (B, fold, N): each polyphase channel less the mean of its two neighbours in
    time, y_j[n] - (y_j[n - 1] + y_j[n + 1]) / 2 (held at the ends).

    A folded output whose channels differ by slowly varying offsets (a bias, a mean activation)
    unfolds to a tone at DC and at every multiple of sr / fold: measured, 90 % of an unfolded
    filter's correction was at DC and 7 % at 4 kHz, enough to move a decaying note's pitch. This
    removes them, at the full rate the comb 1 - cos(2 pi f fold / sr): no DC and no images, unity
    gain a quarter of the way to sr / fold, 2 halfway."""
    padded = F.pad(y, (1, 1), mode="replicate")
    return y - 0.5 * (padded[..., :-2] + padded[..., 2:])


class ParallelDecoder(nn.Module):
    """Frame-rate conditioning (B, C, F) and per-sample f0 (B, T = F * hop) -> audio (B, T)."""

    def __init__(self, cond_channels: int, hop: int, sample_rate: int, cfg: ParallelDecoderConfig) -> None:
        super().__init__()
        self.cfg, self.hop, self.sample_rate = cfg, hop, sample_rate
        self.control = ControlNet(cond_channels, cfg)
        self.filter = WaveNetFilter(cfg.control_width, cfg) if cfg.filter_layers else None

    def source(
        self,
        cond: torch.Tensor,
        f0: torch.Tensor,
        generator: torch.Generator | None = None,
        white: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The harmonic part (B, T), the noise part (B, T) and the control features (B, width, Tc).

        The noise is ``white`` (B, T) uniform in [-1, 1) where given, else drawn from ``generator``."""
        cfg = self.cfg
        b, t = f0.shape
        tc = t // cfg.control_hop
        if t % cfg.control_hop or cond.shape[-1] * self.hop < t:
            raise ValueError(f"f0 of {t} samples does not fit {cond.shape[-1]} frames of {self.hop}")
        c = stretch(cond, cond.shape[-1] * (self.hop // cfg.control_hop))[..., :tc]
        f0_frames = f0.float().reshape(b, tc, cfg.control_hop)
        f0_c = f0_frames.mean(-1)
        log_f0 = ((12 * torch.log2(f0_c.clamp(min=1.0) / 440.0) + 69.0 - 64.0) / 32.0)[:, None]
        hidden, p = self.control(c, log_f0)
        k, bands = cfg.harmonics, cfg.noise_bands
        nyquist, limit = self.sample_rate / 2, cfg.alias_limit * self.sample_rate
        alias_gain = None
        if cfg.folds:  # the last row: the folded harmonics' gain per frame
            alias_gain, p = torch.sigmoid(p[:, -1:]), p[:, :-1]
        # Harmonics that reach Nyquist anywhere in a control frame are silenced there, and the
        # distribution is over the rest (all silent where even the fundamental is too high);
        # with alias_limit, those wholly above it and under the limit fold back, with their own
        # distribution (the same logits) and gain.
        f0_top, f0_low = f0_frames.amax(-1), f0_frames.amin(-1)
        ks = torch.arange(1, k + 1, device=f0.device, dtype=torch.float32)[None, :, None]
        audible = ks * f0_top[:, None] < nyquist
        folded = (ks * f0_low[:, None] >= nyquist) & (ks * f0_top[:, None] < limit)
        # (without folding the limit is Nyquist and none is folded)
        k_used = max(1, int((audible | folded).any(-1).any(0).sum()))  # harmonics made somewhere in the batch
        # (harmonics below Nyquist at the batch's highest f0 need no mask: only the rest are masked)
        safe = int((ks[0, :k_used, 0] * f0.max().float() < nyquist).sum())
        # the first harmonic folded anywhere in the batch (k_used where none is): the rest need no work
        folded_any = folded[:, :k_used].any(-1).any(0)  # (k_used,)
        first = int(folded_any.long().argmax()) if bool(folded_any.any()) else k_used
        lo = min(safe, first)
        f0_k = ks[:, lo:k_used] * f0.float()[:, None]  # (B, k_used - lo, T) the frequencies of harmonics lo + 1 ...

        def distribution(logits: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
            """Softmax of (B, k_used, Tc) logits over the harmonics ``where`` is true, 0 elsewhere."""
            return torch.softmax(logits.masked_fill(~where, -1e4), dim=1) * where

        def frames(q: torch.Tensor, gain: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
            """(B, 1 + K, Tc) amplitude and distribution logits -> (B, k_used, Tc) amplitudes per
            control frame; with ``gain`` (B, 1, Tc), the folded harmonics' (B, k_used - first, Tc)
            as well (None: none folds)."""
            amplitude = exp_sigmoid(q[:, :1])
            amps = amplitude * distribution(q[:, 1 : 1 + k_used], audible[:, :k_used])
            if gain is None or first >= k_used:
                return amps, None
            return amps, amplitude * gain * distribution(q[:, 1 + first : 1 + k_used], folded[:, first:k_used])

        def bank(q: torch.Tensor, gain: torch.Tensor | None = None) -> torch.Tensor:
            """``frames``' amplitudes per sample: (B, k_used, T)."""
            frame_amps, frame_folded = frames(q, gain)
            amps = stretch(frame_amps, t)
            # The amplitudes run between frame centres, so a neighbour frame's would leak into a
            # frame where a harmonic is silenced: silence each harmonic per sample, where k f0 >= sr / 2.
            if safe < k_used:
                amps[:, safe:] *= f0_k[:, safe - lo :] < nyquist
            if frame_folded is not None:  # and each folded one where it is over Nyquist, under the limit
                f = f0_k[:, first - lo :]
                amps[:, first:] += stretch(frame_folded, t) * ((f >= nyquist) & (f < limit))
            return amps

        def harmonics(f: torch.Tensor, q: torch.Tensor, gain: torch.Tensor | None = None) -> torch.Tensor:
            """The bank's (B, T) sum along ``f``: without gradients on the CPU in one compiled pass
            (``nsynth.bank_kernel``, equal within float rounding), else through ``bank``'s tables."""
            if compiled(q):
                from nsynth.bank_kernel import fused_bank

                frame_amps, frame_folded = frames(q, gain)
                return fused_bank(f, phase(f, self.sample_rate), frame_amps, frame_folded, safe, first, nyquist, limit)
            return harmonic_bank(f, bank(q, gain), self.sample_rate)

        if (cfg.harmonic_noise or cfg.jitter_cents) and white is None:  # one draw for every noise
            gen_dev = generator.device if generator is not None else f0.device
            white = (torch.rand(b, t, generator=generator, device=gen_dev) * 2 - 1).to(f0.device)
        if not cfg.jitter_cents:
            harm = harmonics(f0, p[:, : 1 + k], alias_gain)
        else:
            amps = bank(p[:, : 1 + k], alias_gain)
            q = p[:, -(k + 1) :]
            share = stretch(torch.sigmoid(q[:, :k_used]), t)  # (B, k_used, T)
            depth = stretch(cfg.jitter_cents * torch.sigmoid(q[:, k:]), t)[:, 0]  # (B, T) cents
            # the same draw, shifted by half the note (uncorrelated with the band noise's)
            w = wander(torch.roll(white, t // 2, -1), self.sample_rate, cfg.jitter_rate)
            f0_j = f0 * torch.exp2(depth.double() * w / 1200)
            # per sample, as f0_j moves: under the limit (Nyquist, without folding)
            under = ks[:, :k_used] * f0_j.float()[:, None] < limit
            harm = harmonic_bank(f0, amps * (1 - share), self.sample_rate)
            harm = harm + harmonic_bank(f0_j, amps * share * under, self.sample_rate)
            p = p[:, : -(k + 1)]
        if not cfg.harmonic_noise:
            return harm, filtered_noise(exp_sigmoid(p[:, 1 + k :]), t, generator, white), hidden
        noise = filtered_noise(exp_sigmoid(p[:, 1 + k : 1 + k + bands]), t, generator, white)
        # the locked noise's carrier: the same draw, time-reversed (uncorrelated with the band noise's)
        carrier = narrowband_carrier(white.flip(-1), f0, self.sample_rate, cfg.harmonic_noise)
        locked = carrier * harmonics(f0, p[:, 1 + k + bands :])
        return harm, noise + locked, hidden

    def forward(
        self,
        cond: torch.Tensor,
        f0: torch.Tensor,
        generator: torch.Generator | None = None,
        white: torch.Tensor | None = None,
    ) -> torch.Tensor:
        harm, noise, hidden = self.source(cond, f0, generator, white)
        y = harm + noise
        if self.filter is not None:
            y = y + self.filter(harm, noise, hidden)
        return y


def stft_loss(
    y: torch.Tensor, x: torch.Tensor, ffts: tuple[int, ...] = (2048, 1024, 512, 256, 128, 64), lsd: float = 0.0
) -> torch.Tensor:
    """Multi-resolution STFT loss of audio ``y`` against ``x`` (both (B, T)): per FFT size
    (hop a quarter of it, Hann window), the mean L1 distance of the magnitudes plus that of
    their logs (log(|.| + 1e-5)), summed over the sizes. Sizes longer than the audio are left
    out (a crop of 1024 samples is scored at 1024 and below).

    ``lsd`` > 0 adds that weight times the log-spectral distance as ``nsynth evaluate`` scores
    it (per frame the RMS over bins of the dB difference of the powers, floored at 1e-8, then
    the mean over frames), in nepers (dB / 8.69) to match the log term's scale: where the L1
    of logs charges an error in proportion to its size, this squares it within each frame."""
    sizes = [n for n in ffts if n <= y.shape[-1]]
    if not sizes:
        raise ValueError(f"audio of {y.shape[-1]} samples is shorter than every FFT size {ffts}")
    total = y.new_zeros(())
    for n in sizes:
        window = torch.hann_window(n, device=y.device)
        ys = torch.stft(y.float(), n, n // 4, window=window, return_complex=True).abs()
        xs = torch.stft(x.float(), n, n // 4, window=window, return_complex=True).abs()
        total = total + (ys - xs).abs().mean() + (torch.log(ys + 1e-5) - torch.log(xs + 1e-5)).abs().mean()
        if lsd > 0:
            d = 0.5 * (torch.log(ys.square() + 1e-8) - torch.log(xs.square() + 1e-8))  # (B, bins, frames)
            total = total + lsd * torch.sqrt(d.square().mean(1) + 1e-12).mean()
    return total
