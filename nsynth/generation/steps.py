"""What one generation step multiplies, prepared once per decoder and batch for every backend.

A step of the cached WaveNet runs, per sample t and for the whole batch:

    h = w_start @ [x[t-K+1] ... x[t]] + b_start;   s = w_skip0 @ h + b_skip0
    per layer:  z = w_dil @ [h[t-(K-1)d] ... h[t-d], h[t], pitch inputs] + cond(t)
                g = gate(z);   [res; skip] = w_rs @ g + b_rs;   h += res;   s += skip
    logits = w_out @ relu(w_out1 @ relu(s) + cond_out(t)) + b_out

The reference loop, the fused CPU kernel and the CUDA-graph step all start from the same
``StepWeights``; each only changes its layout (numpy, bfloat16, frame-major ...).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from nsynth.decoders.wavenet import WaveNetDecoder


class StepWeights(NamedTuple):
    """Per-step weights of a decoder for one batch's conditioning (R residual, S skip channels,
    K taps, P pitch inputs, B notes, F frames, L layers)."""

    w_start: torch.Tensor  # (R, K)
    b_start: torch.Tensor  # (R,)
    w_skip0: torch.Tensor  # (S, R)
    b_skip0: torch.Tensor  # (S,)
    w_dil: list[torch.Tensor]  # L x (2R, K * R + P): the dilated conv's taps oldest first, then the pitch weights
    cond: list[torch.Tensor]  # L x (B, F, 2R): frame conditioning plus the dilated conv's bias
    w_rs: list[torch.Tensor]  # L x (R + S, R): residual and skip convs share their input
    b_rs: list[torch.Tensor]  # L x (R + S,)
    w_out1: torch.Tensor  # (S, S)
    cond_out: torch.Tensor  # (B, F, S): frame conditioning plus out1's bias
    w_out: torch.Tensor  # (256, S)
    b_out: torch.Tensor  # (256,)


def _flat_taps(conv: torch.nn.Conv1d) -> torch.Tensor:
    """Conv1d weight (out, in, K) -> (out, K * in), taps oldest first."""
    w = conv.weight
    return w.permute(0, 2, 1).reshape(w.shape[0], -1)


def dilated_step_weights(decoder: WaveNetDecoder) -> list[torch.Tensor]:
    """Per layer, the dilated conv's taps (oldest first) and then the pitch inputs' weights:
    (2R, K * R + pitch_channels), to multiply [h[t-(K-1)d], ..., h[t], pitch inputs[t]]."""
    if not decoder.pitch_channels:
        return [_flat_taps(c) for c in decoder.dilated]
    return [torch.cat([_flat_taps(c), p.weight[:, :, 0]], dim=1) for c, p in zip(decoder.dilated, decoder.pitch)]


@torch.no_grad()
def step_weights(decoder: WaveNetDecoder, cond: torch.Tensor) -> StepWeights:
    """Prepare the step weights of ``decoder`` for conditioning ``cond`` (B, cond_channels, F)."""
    d = decoder
    return StepWeights(
        w_start=d.start.weight[:, 0, :],
        b_start=d.start.bias,
        w_skip0=d.skip_start.weight[:, :, 0],
        b_skip0=d.skip_start.bias,
        w_dil=dilated_step_weights(d),
        cond=[(c(cond) + dil.bias[None, :, None]).transpose(1, 2).contiguous() for c, dil in zip(d.cond, d.dilated)],
        w_rs=[torch.cat([rc.weight[:, :, 0], sc.weight[:, :, 0]]) for rc, sc in zip(d.res, d.skip)],
        b_rs=[torch.cat([rc.bias, sc.bias]) for rc, sc in zip(d.res, d.skip)],
        w_out1=d.out1.weight[:, :, 0],
        cond_out=(d.cond_out(cond) + d.out1.bias[None, :, None]).transpose(1, 2).contiguous(),
        w_out=d.out.weight[:, :, 0],
        b_out=d.out.bias,
    )
