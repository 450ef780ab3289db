#!/usr/bin/env python3
"""What bf16 weights cost in accuracy: teacher-forced logits of the fast CPU kernel with bf16
weights against fp32, on random notes, for each preset (random-initialised weights, or a
weights file with --checkpoint)."""

import argparse

import numpy as np
import torch

from nsynth.generation.fast_cpu import FastCPUDecoder
from nsynth.mulaw import audio_to_input
from nsynth.weights import build_model, load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--presets", default="mini,nsynth")
    ap.add_argument("--checkpoint")
    ap.add_argument("--samples", type=int, default=300)
    args = ap.parse_args()
    models = (
        [("checkpoint", load_model(args.checkpoint))]
        if args.checkpoint
        else [(p, build_model(p).eval()) for p in args.presets.split(",")]
    )
    for name, model in models:
        torch.manual_seed(0)
        t = args.samples
        audio = (torch.rand(2, t) * 2 - 1) * 0.5
        with torch.no_grad():
            cond = model.conditioning(
                model.encode(audio), torch.tensor([48, 72]) if model.config.pitch_conditioning else None
            )
        x = audio_to_input(audio).numpy()
        _, ref = FastCPUDecoder(model.decoder, cond).run(t, teacher=x, keep_logits=True)
        _, low = FastCPUDecoder(model.decoder, cond, bf16=True).run(t, teacher=x, keep_logits=True)
        diff = np.abs(low - ref)
        p_ref = torch.softmax(torch.from_numpy(ref), 1)
        p_low = torch.softmax(torch.from_numpy(low), 1)
        tv = 0.5 * (p_ref - p_low).abs().sum(1).max().item()
        agree = (ref.argmax(1) == low.argmax(1)).mean()
        print(
            f"{name}: max |logit diff| {diff.max():.4f}, mean {diff.mean():.5f}, logit range "
            f"{ref.min():.1f}..{ref.max():.1f}, max total-variation distance of the softmax {tv:.4f}, "
            f"argmax agreement {100 * agree:.1f}%"
        )


if __name__ == "__main__":
    main()
