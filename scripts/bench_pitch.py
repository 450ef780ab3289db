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


def track_nsynth(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from nsynth.pyin import pyin

    return pyin(x, SR, FMIN, FMAX, 2048, 512)


def track_librosa(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    f0, voiced, _ = librosa.pyin(x, fmin=FMIN, fmax=FMAX, sr=SR, frame_length=2048, hop_length=512)
    return f0, voiced


TRACKERS = {"nsynth": track_nsynth, "librosa": track_librosa}


def fresh(tracker: str, seconds: float) -> float:
    """Seconds for a new process (torch and numba already imported) to import ``tracker`` and track one note."""
    code = "\n".join([
        "import time, torch, numba, numpy as np", "from nsynth.pitch import FMIN, FMAX", f"SR = {SR}",
        inspect.getsource(note), inspect.getsource(TRACKERS[tracker]), f"x = note({seconds})",
        f"t = time.perf_counter(); {TRACKERS[tracker].__name__}(x); print(time.perf_counter() - t)",
    ])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"{'note':>6} {'where':>14} {'nsynth s':>9} {'librosa s':>10} {'ratio':>6}  equal")
    for seconds in (2.0, 4.0):
        x = note(seconds)
        (a, va), (b, vb) = track_librosa(x), track_nsynth(x)  # also the warm-up of each
        equal = np.array_equal(va, vb) and np.array_equal(np.nan_to_num(a, nan=-1), np.nan_to_num(b, nan=-1))
        times: dict[str, list[float]] = {name: [] for name in TRACKERS}
        for _ in range(args.repeats):
            for name, track in TRACKERS.items():
                t = time.perf_counter()
                track(x)
                times[name].append(time.perf_counter() - t)
        o, l = min(times["nsynth"]), min(times["librosa"])
        print(f"{seconds:5.0f}s {'warm process':>14} {o:9.3f} {l:10.3f} {l / o:5.1f}x  {equal}")
        fo, fl = fresh("nsynth", seconds), fresh("librosa", seconds)
        print(f"{seconds:5.0f}s {'fresh process':>14} {fo:9.3f} {fl:10.3f} {fl / fo:5.1f}x")


if __name__ == "__main__":
    main()
