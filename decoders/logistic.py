"""A mixture-of-logistics output for the WaveNet decoder, located by the pitch lag taps.

Instead of 256 logits, the head gives, per sample and for each of K components, a mixture
weight, a log scale, and a location that starts from the decoder's own past one period back:

    mu_k = offset_k + sum_j a_kj * x(t - P + j)          (j over the lag taps, a_k = [0, 1, 0] at first)

so a fresh head predicts "the same as one period ago" and learns what is new in each period
(LPCNet and FARGAN do this for speech). The distribution is over the continuous mu-law value
v in [-1, 1] (the network-input scale, code / 128). Training scores it on the 8-bit classes of
the data as a discretized mixture (PixelCNN++): class c covers v in [(c - 128) / 128,
(c - 127) / 128), the end classes reach to -inf and +inf, so the loss is in the same nats as
the softmax's cross-entropy. Generation draws continuous v (written as 16-bit audio) and feeds
its class back, as the softmax path does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from nsynth.mulaw import mu_law_expand

MIN_LOG_SCALE = -9.0  # smallest log scale (v units): far below one class (log(1/128) = -4.85)
INIT_LOG_SCALE = math.log(0.02)  # a fresh head's spread, a few classes
BIN = 1.0 / 128.0


def head_channels(mixtures: int, taps: int) -> int:
    """Channels of the head's conv: weight, offset, log scale and one coefficient per tap, per component."""
    return mixtures * (3 + taps)


def init_head(conv: torch.nn.Conv1d, mixtures: int, taps: int, centre: int | None) -> None:
    """Start a fresh head near 'the sample one period back, a few classes wide'."""
    with torch.no_grad():
        conv.weight.mul_(0.01)
        conv.bias.zero_()
        k = mixtures
        conv.bias[2 * k : 3 * k] = INIT_LOG_SCALE
        # components start a little apart, so they do not stay copies of each other
        conv.bias[k : 2 * k] = torch.linspace(-0.01, 0.01, k) if k > 1 else 0.0
        if centre is not None:
            coef = conv.bias[3 * k :].view(k, taps)
            coef[:, centre] = 1.0


def mixture(raw: torch.Tensor, taps: torch.Tensor | None, mixtures: int) -> torch.Tensor:
    """Head output -> mixture parameters.

    Args:
        raw: (B, K * (3 + n_taps), ...) the head conv's output.
        taps: (B, n_taps, ...) the lag taps x(t - P + j) of the same samples, or None.
    Returns:
        (B, 3K, ...): mixture logits, locations and log scales (clamped), K each.
    """
    k = mixtures
    logit, offset, log_scale = raw[:, :k], raw[:, k : 2 * k], raw[:, 2 * k : 3 * k]
    loc = offset
    if taps is not None and taps.shape[1]:
        n = taps.shape[1]
        coef = raw[:, 3 * k :].reshape(raw.shape[0], k, n, *raw.shape[2:])
        loc = offset + (coef * taps[:, None]).sum(dim=2)
    return torch.cat([logit, loc, log_scale.clamp(min=MIN_LOG_SCALE)], dim=1)


def nll(params: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood (nats) of 8-bit classes under the discretized mixture.

    Args:
        params: (B, 3K, T) from ``mixture``.
        classes: (B, T) int64 classes 0..255.
    Returns:
        (B, T) nats, comparable with the softmax's cross-entropy.
    """
    k = params.shape[1] // 3
    logit, loc, log_scale = params[:, :k], params[:, k : 2 * k], params[:, 2 * k :]
    lo = ((classes.to(params.dtype) - 128.0) * BIN)[:, None]
    inv = torch.exp(-log_scale)
    a = (lo + BIN - loc) * inv  # upper edge
    b = (lo - loc) * inv  # lower edge
    log_cdf_a = -F.softplus(-a)  # log sigmoid(a)
    log_sf_b = -F.softplus(b)  # log (1 - sigmoid(b))
    delta = torch.sigmoid(a) - torch.sigmoid(b)
    mid = (lo + 0.5 * BIN - loc) * inv
    log_mid = mid - log_scale - 2.0 * F.softplus(mid) + math.log(BIN)  # density x width, where delta underflows
    inner = torch.where(delta > 1e-5, torch.log(delta.clamp(min=1e-12)), log_mid)
    first = (classes == 0)[:, None]
    last = (classes == 255)[:, None]
    log_p = torch.where(first, log_cdf_a, torch.where(last, log_sf_b, inner))
    return -torch.logsumexp(F.log_softmax(logit, dim=1) + log_p, dim=1)


def draw(params: torch.Tensor, u: torch.Tensor, temperature: float = 1.0, greedy: bool = False) -> torch.Tensor:
    """(B, 3K) mixture parameters and uniforms (B,) -> (B,) continuous values v in [-1, 1].

    One uniform picks the component (inverse CDF of the weights) and, rescaled within that
    component's share, the value: loc + temperature * scale * logit(u'). Temperature (> 0)
    scales the spread; greedy takes the most likely component's location.
    """
    k = params.shape[1] // 3
    logit, loc, log_scale = params[:, :k].float(), params[:, k : 2 * k].float(), params[:, 2 * k :].float()
    if greedy:
        best = logit.argmax(dim=1, keepdim=True)
        return torch.gather(loc, 1, best)[:, 0].clamp(-1.0, 1.0)
    if not temperature > 0:
        raise ValueError(f"temperature {temperature} must be > 0 when not greedy")
    w = torch.softmax(logit, dim=1)
    cdf = torch.cumsum(w, dim=1)
    uf = u.float()[:, None]
    comp = torch.searchsorted(cdf, uf * cdf[:, -1:], right=True).clamp_(max=k - 1)
    below = torch.gather(cdf, 1, comp) - torch.gather(w, 1, comp)
    inner = ((uf * cdf[:, -1:] - below) / torch.gather(w, 1, comp)).clamp(1e-5, 1 - 1e-5)
    value = torch.gather(loc, 1, comp) + temperature * torch.exp(torch.gather(log_scale, 1, comp)) * torch.log(
        inner / (1 - inner)
    )
    return value[:, 0].clamp(-1.0, 1.0)


def value_classes(v: torch.Tensor) -> torch.Tensor:
    """Continuous values v in [-1, 1] -> their 8-bit classes (what is fed back), int64."""
    return (torch.floor(v * 128.0).clamp(-128, 127) + 128).long()


def value_audio(v: torch.Tensor) -> torch.Tensor:
    """Continuous mu-law values v in [-1, 1] -> float32 audio (the inverse of the companding)."""
    return mu_law_expand(v).float()
