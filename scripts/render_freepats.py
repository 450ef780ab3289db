"""Render Debian's `freepats` (recorded instrument patches) as NSynth-layout training notes.

    python scripts/render_freepats.py OUT_DIR [--velocities 50,100,127]

Every melodic freepats program that is neither one of the real-sample test set's programs
(``scripts/real_samples.py``) nor one of the General-MIDI programs held out of every font
(``HELD_OUT``: 10 % of 0-111, seed 0, as ``render-soundfont --valid-fraction 0.1 --seed 0``
draws them) is rendered with `timidity` (reverb and chorus off) at 16 kHz: every MIDI pitch
21-108 at each velocity, 4 s notes (3 s held, 1 s release), silent renders skipped, mono.
One MIDI file per program holds all of its notes 5 s apart, so a program is one `timidity`
run. Writes OUT_DIR/train/examples.json and OUT_DIR/train/audio/*.wav, readable by
``nsynth train``. Deterministic. Needs ``apt-get install freepats timidity``.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from nsynth.audio import save_audio
from nsynth.data.soundfont import SILENCE, drawn_programs, note_key, note_metadata, write_examples

SR = 16000
TICKS_PER_SECOND = 1920  # 960 ticks per quarter at the default 120 bpm
PATCHES = Path("/usr/share/midi/freepats/Tone_000")
CONFIG = Path("/etc/timidity/freepats.cfg")
HELD_OUT = frozenset(drawn_programs(range(112), 0.1, seed=0))  # as render-soundfont --valid-fraction 0.1 --seed 0
HOLD, RELEASE, SPACING = 3.0, 1.0, 5.0


def midi_file(path: Path, program: int, notes: list[tuple[int, int, float, float]]) -> None:
    """A type-0 MIDI file playing ``notes`` (pitch, velocity, start s, held s) on ``program``,
    one after another (notes must not overlap)."""

    def vlq(n: int) -> bytes:
        out = [n & 0x7F]
        n >>= 7
        while n:
            out.insert(0, (n & 0x7F) | 0x80)
            n >>= 7
        return bytes(out)

    events, now = vlq(0) + bytes([0xC0, program]), 0
    for pitch, velocity, start, held in notes:
        on, off = int(round(start * TICKS_PER_SECOND)), int(round((start + held) * TICKS_PER_SECOND))
        events += vlq(on - now) + bytes([0x90, pitch, velocity]) + vlq(off - on) + bytes([0x80, pitch, 0])
        now = off
    events += vlq(TICKS_PER_SECOND) + bytes([0xFF, 0x2F, 0])
    track = b"MTrk" + struct.pack(">I", len(events)) + events
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 960) + track)


def timidity(mid: Path, wav: Path, sample_rate: int, effects: bool = True) -> np.ndarray:
    """Render ``mid`` with freepats -> (T, 2) float32 at ``sample_rate``."""
    cmd = ["timidity", "-c", str(CONFIG), "-Ow", "-s", str(sample_rate), "-o", str(wav)]
    if not effects:
        cmd += ["--reverb=d", "--chorus=d"]
    subprocess.run([*cmd, str(mid)], check=True, capture_output=True)
    audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    if sr != sample_rate:
        raise RuntimeError(f"{wav}: timidity wrote {sr} Hz, not {sample_rate}")
    return audio


def training_programs(test_programs: set[int]) -> list[int]:
    """Freepats' melodic programs (0-111) kept for training."""
    have = sorted({int(p.name[:3]) for p in PATCHES.glob("[0-9][0-9][0-9]_*.pat")})
    return [p for p in have if p < 112 and p not in test_programs and p not in HELD_OUT]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--velocities", default="50,100,127")
    args = ap.parse_args()
    if shutil.which("timidity") is None or not CONFIG.exists():
        raise SystemExit("needs timidity and freepats: apt-get install timidity freepats")
    sys.path.insert(0, str(Path(__file__).parent))
    from real_samples import NOTES  # the test set's programs stay out of training

    velocities = [int(v) for v in args.velocities.split(",")]
    programs = training_programs({p for p, _, _ in NOTES})
    print(f"{len(programs)} programs: {programs}", flush=True)
    split = args.out / "train"
    meta: dict[str, dict] = {}
    for program in programs:
        notes = [(p, v) for p in range(21, 109) for v in velocities]
        with tempfile.TemporaryDirectory() as tmp:
            mid, wav = Path(tmp) / "p.mid", Path(tmp) / "p.wav"
            midi_file(mid, program, [(p, v, i * SPACING, HOLD) for i, (p, v) in enumerate(notes)])
            audio = timidity(mid, wav, SR, effects=False).mean(axis=1)
        n = int((HOLD + RELEASE) * SR)
        kept = 0
        for i, (pitch, vel) in enumerate(notes):
            note = audio[int(i * SPACING * SR) :][:n]
            if note.size < n or np.abs(note).max() < SILENCE:
                continue
            key = note_key(program, pitch, vel)
            save_audio(split / "audio" / f"{key}.wav", np.clip(note, -1, 1), SR, force=True)
            meta[key] = note_metadata(program, pitch, vel, SR, "freepats")
            kept += 1
        print(f"program {program:3d}: {kept} of {len(notes)} notes", flush=True)
    write_examples(split / "examples.json", meta)
    print(f"{len(meta)} notes in {split}", flush=True)


if __name__ == "__main__":
    main()
