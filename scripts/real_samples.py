"""Re-create the real-sample test set: recorded instrument notes as a user brings them.

    python scripts/real_samples.py OUT_DIR

Renders 16 notes of Debian's `freepats` (recorded instrument patches, GPL with a sample
exception; `apt-get install freepats timidity`) with `timidity` at 44.1 kHz stereo, one note
each across the families and down to A1, and gives each one of four real-world conditions:

- ``dry``: normalised to -1 dBFS, as a sample library ships it;
- ``room``: a synthetic room (exponentially decaying, decorrelated noise per channel, RT60
  1.2 s) mixed 50/50 with the dry note, -3 dBFS;
- ``quiet``: peak at -30 dBFS with 0.3 s of room noise (-75 dBFS) before the note;
- ``long``: held 7 s instead of 3 s.

Files are OUT_DIR/<condition>/<instrument>-<midi:03d>-<velocity:03d>.wav, so ``nsynth evaluate
OUT_DIR`` reads their pitch from the name. These 15 programs are kept out of training
(``scripts/render_freepats.py`` renders only freepats' other programs), so the notes are held
out; deterministic (seeded noise).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from render_freepats import midi_file, timidity

SR = 44100
# (GM program, MIDI pitch, name): a piano and a bass down to the octave users found broken
NOTES = [
    (0, 34, "piano"),
    (32, 33, "acoustic-bass"),
    (19, 36, "church-organ"),
    (42, 43, "cello"),
    (57, 46, "trombone"),
    (4, 48, "rhodes"),
    (66, 50, "tenor-sax"),
    (24, 52, "nylon-guitar"),
    (46, 55, "harp"),
    (53, 57, "voice-oohs"),
    (71, 58, "clarinet"),
    (0, 60, "piano"),
    (56, 60, "trumpet"),
    (40, 67, "violin"),
    (73, 72, "flute"),
    (13, 79, "xylophone"),
]
CONDITIONS = ("dry", "room", "quiet", "long")


def render(program: int, pitch: int, velocity: int, seconds: float) -> np.ndarray:
    """(T, 2) float32 at 44.1 kHz from timidity with freepats."""
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "n.mid", Path(tmp) / "n.wav"
        midi_file(mid, program, [(pitch, velocity, 0.0, seconds)])
        return timidity(mid, wav, SR)


def room(audio: np.ndarray, rng: np.random.Generator, rt60: float = 1.2) -> np.ndarray:
    """Dry + a synthetic room: per channel, noise decaying by 60 dB in ``rt60`` s."""
    n = int(rt60 * SR)
    decay = np.exp(-6.9 * np.arange(n) / n)
    out = np.zeros((audio.shape[0] + n - 1, 2), np.float64)
    for c in range(2):
        ir = rng.standard_normal(n) * decay
        ir /= np.sqrt((ir**2).sum())
        wet = np.fft.irfft(np.fft.rfft(audio[:, c], out.shape[0] * 2) * np.fft.rfft(ir, out.shape[0] * 2))
        out[:, c] = np.pad(audio[:, c], (0, n - 1)) + wet[: out.shape[0]]
    return out


def peak_to(audio: np.ndarray, dbfs: float) -> np.ndarray:
    return audio * (10 ** (dbfs / 20) / max(np.abs(audio).max(), 1e-9))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    if shutil.which("timidity") is None or not Path("/etc/timidity/freepats.cfg").exists():
        raise SystemExit("needs timidity and freepats: apt-get install timidity freepats")
    rng = np.random.default_rng(0)
    for i, (program, pitch, name) in enumerate(NOTES):
        cond = CONDITIONS[i % len(CONDITIONS)]
        audio = render(program, pitch, 100, 7.0 if cond == "long" else 3.0).astype(np.float64)
        if cond == "dry" or cond == "long":
            audio = peak_to(audio, -1)
        elif cond == "room":
            audio = peak_to(room(audio, rng), -3)
        else:
            audio = peak_to(audio, -30)
            noise = rng.standard_normal((int(0.3 * SR) + audio.shape[0], 2)) * 10 ** (-75 / 20)
            audio = noise + np.pad(audio, ((int(0.3 * SR), 0), (0, 0)))
        path = args.out / cond / f"{name}-{pitch:03d}-100.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.clip(audio, -1, 1).astype(np.float32), SR, subtype="PCM_24")
        print(path, flush=True)


if __name__ == "__main__":
    main()
