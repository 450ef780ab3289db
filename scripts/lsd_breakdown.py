#!/usr/bin/env python3
"""Where a parallel model's log-spectral distance comes from (docs/training-log.md, stretch 3).

    python scripts/lsd_breakdown.py WEIGHTS NSYNTH_DIR EVERY

Reconstructs every EVERY-th note of NSYNTH_DIR (its examples.json and audio/) along its f0
curve, as ``nsynth evaluate`` does, and splits the squared dB difference of FFT-1024 frames
(evaluate's floor, 1e-8) by bin (within 0.2 f0 of a harmonic, in the gaps, above 64 harmonics)
and by time (onset < 0.3 s, sustain to 3 s, release), with the share where the model is the
louder; then, per pitch range, the share of the sustain's gaps.
"""

import json
import sys

import numpy as np
import soundfile as sf
import torch

from nsynth.pitch import f0_frames, note_f0
from nsynth.weights import load_model

torch.set_num_threads(1)
m = load_model(sys.argv[1]).eval()
root = sys.argv[2]
step = int(sys.argv[3])
ex = json.load(open(f"{root}/examples.json"))
names = sorted(ex)[::step]
n = 1024
hop = 256
w = np.hanning(n)
tot = {}


def add(k, v):
    tot.setdefault(k, []).append(v)


for name in names:
    x, sr = sf.read(f"{root}/audio/{name}.wav", dtype="float32")
    x = x[: len(x) // 512 * 512]
    p = ex[name]["pitch"]
    f0c = note_f0(x, sr, p, 512) if m.parallel else f0_frames(x, sr, 512)
    with torch.no_grad():
        per = m.period(torch.tensor([p]), x.size, torch.from_numpy(f0c)[None] if f0c is not None else None)
        y = m.synthesize(m.encode(torch.from_numpy(x)[None]), torch.tensor([p]), per)[0].numpy()
    fr = 1 + (x.size - n) // hop
    idx = np.arange(n)[None] + hop * np.arange(fr)[:, None]
    px = np.abs(np.fft.rfft(x[idx] * w)) ** 2
    py = np.abs(np.fft.rfft(y[idx] * w)) ** 2
    d = 10 * np.log10(py + 1e-8) - 10 * np.log10(px + 1e-8)  # + : model louder
    f0 = (sr / per[0].numpy())[idx[:, n // 2]]  # f0 at frame centres
    freqs = np.arange(n // 2 + 1) * sr / n
    k = freqs[None] / f0[:, None]
    near = (np.abs(k - np.round(k)) < 0.2) & (k > 0.5) & (k < 64.5)
    above = k >= 64.5
    gap = ~near & ~above
    t = idx[:, n // 2] / sr
    per_frame = np.sqrt((d**2).mean(1))
    add("lsd1024", per_frame.mean())
    fam = ex[name].get("instrument_family_str", name.split("_")[0])
    pb = "lo" if p < 48 else ("mid" if p < 72 else "hi")
    sus = (t >= 0.3) & (t < 3.0)
    add(f"{pb}:gap-sustain", (d**2 * (sus[:, None] & gap)).sum() / (n // 2 + 1) / len(t))
    add(f"{pb}:all", (d**2).sum() / (n // 2 + 1) / len(t))
    add(f"{pb}:gap-noise-over", (np.clip(d, 0, None) ** 2 * (sus[:, None] & gap)).sum() / (n // 2 + 1) / len(t))
    for tn, tm in (("onset", t < 0.3), ("sustain", (t >= 0.3) & (t < 3.0)), ("release", t >= 3.0)):
        for cn, cm in (("harm", near), ("gap", gap), ("above", above)):
            mask = tm[:, None] & cm
            # share of the frame's mean square error: sum over bins in class / bins per frame
            add(f"{tn}/{cn} msq", (d**2 * mask).sum() / (n // 2 + 1) / max(1, len(t)))
            add(f"{tn}/{cn} over", (np.clip(d, 0, None) ** 2 * mask).sum() / (n // 2 + 1) / max(1, len(t)))
print(f"{len(names)} notes; LSD@1024 {np.mean(tot['lsd1024']):.2f}")
total = sum(np.mean(v) for k, v in tot.items() if k.endswith("msq"))
for k in sorted(tot):
    if k.endswith("msq"):
        o = np.mean(tot[k.replace("msq", "over")])
        print(
            f"{k[:-4]:16s} share of d^2 {np.mean(tot[k]) / total:5.1%}"
            f"  (model above input: {o / max(np.mean(tot[k]), 1e-9):4.0%})"
        )

for pb in ("lo", "mid", "hi"):
    if f"{pb}:all" in tot:
        a = np.array(tot[f"{pb}:all"])
        g = np.array(tot[f"{pb}:gap-sustain"])
        o = np.array(tot[f"{pb}:gap-noise-over"])
        print(
            f"{pb:4s} {len(a)} notes: mean d^2 {a.mean():7.1f}; sustain gaps {g.mean() / a.mean():5.1%} of it,"
            f" {o.sum() / g.sum():4.0%} of that the model above"
        )
