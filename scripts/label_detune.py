#!/usr/bin/env python3
"""How far notes sit from their MIDI label's pitch, the constant f0 the parallel decoder is
trained with (docs/training-log.md, stretch 3): pYIN's curve from 0.25 to 2.9 s of every
EVERY-th note of NSYNTH_DIR, in cents from the label (octave errors folded back).

    python scripts/label_detune.py NSYNTH_DIR EVERY
"""

import json
import sys

import numpy as np
import soundfile as sf

from nsynth.pitch import f0_frames

root = sys.argv[1]
ex = json.load(open(f"{root}/examples.json"))
names = sorted(ex)[:: int(sys.argv[2])]
off, wob = [], []
for name in names:
    x, sr = sf.read(f"{root}/audio/{name}.wav", dtype="float32")
    c = f0_frames(x, sr, 512)
    if c is None:
        continue
    cents = 1200 * np.log2(c[8:90] / (440 * 2 ** ((ex[name]["pitch"] - 69) / 12)))  # 0.25-2.9 s
    cents = cents - 1200 * np.round(np.median(cents) / 1200)  # octave errors aside
    off.append(np.median(cents))
    wob.append(np.percentile(cents, 90) - np.percentile(cents, 10))
off, wob = np.abs(np.array(off)), np.array(wob)
print(
    f"{len(off)} notes: |median offset| cents: median {np.median(off):.1f},"
    f" 75% {np.percentile(off, 75):.1f}, 90% {np.percentile(off, 90):.1f};"
    f" within-note spread (p90-p10) median {np.median(wob):.1f}, 90% {np.percentile(wob, 90):.1f};"
    f" share >= 10 cents off: {(off >= 10).mean():.0%}"
)
