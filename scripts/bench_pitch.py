"""Time nsynth's pYIN (``nsynth.pyin``) against ``librosa.pyin`` in one run and print the ratios.

Two measurements, each on a harmonic note at 16 kHz (2 s and 4 s, hop 512):
- in a warm process: the minimum over ``--repeats`` calls of each, interleaved;
- from a fresh process: a new Python that has torch and numba loaded (as a generating command
  has by then) imports the tracker and runs it once: what ``--pitch auto`` adds to a command.
Both tracks are also checked equal (f0 and voicing).

    python scripts/bench_pitch.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys
import time

import numpy as np

from nsynth.pitch import FMAX, FMIN

SR = 16000


def note(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    f = 110 * 2 ** (0.2 / 12 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f) / SR
    return (sum(np.sin(k * phase) / k for k in range(1, 10)) * 0.2 * np.exp(-t)).astype(np.float32)


def fresh(tracker: str, seconds: float) -> float:
    """Seconds for a new process (torch and numba already imported) to import ``tracker`` and track one note."""
    call = {
        "nsynth": "from nsynth.pyin import pyin; pyin(x, 16000, FMIN, FMAX, 2048, 512)",
        "librosa": "import librosa; librosa.pyin(x, fmin=FMIN, fmax=FMAX, sr=16000, frame_length=2048, hop_length=512)",
    }[tracker]
    code = "\n".join([
        "import time, torch, numba, numpy as np", "from nsynth.pitch import FMIN, FMAX", f"SR = {SR}", inspect.getsource(note), f"x = note({seconds})",
        f"t = time.perf_counter(); {call}; print(time.perf_counter() - t)",
    ])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import librosa

    from nsynth.pyin import pyin

    print(f"{'note':>6} {'where':>14} {'nsynth s':>9} {'librosa s':>10} {'ratio':>6}  equal")
    for seconds in (2.0, 4.0):
        x = note(seconds)
        a, va, _ = librosa.pyin(x, fmin=FMIN, fmax=FMAX, sr=SR, frame_length=2048, hop_length=512)
        b, vb = pyin(x, SR, FMIN, FMAX, 2048, 512)
        equal = np.array_equal(va, vb) and np.array_equal(np.nan_to_num(a, nan=-1), np.nan_to_num(b, nan=-1))
        ours, theirs = [], []
        for _ in range(args.repeats):
            t = time.perf_counter(); pyin(x, SR, FMIN, FMAX, 2048, 512); ours.append(time.perf_counter() - t)
            t = time.perf_counter(); librosa.pyin(x, fmin=FMIN, fmax=FMAX, sr=SR, frame_length=2048, hop_length=512)
            theirs.append(time.perf_counter() - t)
        o, l = min(ours), min(theirs)
        print(f"{seconds:5.0f}s {'warm process':>14} {o:9.3f} {l:10.3f} {l / o:5.1f}x  {equal}")
        fo, fl = fresh("nsynth", seconds), fresh("librosa", seconds)
        print(f"{seconds:5.0f}s {'fresh process':>14} {fo:9.3f} {fl:10.3f} {fl / fo:5.1f}x")


if __name__ == "__main__":
    main()
