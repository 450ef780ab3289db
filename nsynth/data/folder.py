"""Any folder of audio files (recursive), with pitch from the name, a CSV, or pYIN.

Pitch sources, in order: a CSV given by the user (``path,pitch`` rows, path relative to
the folder or just the file name), an NSynth-style name (``..._name-060-100`` → 60), or
librosa's pYIN estimate, cached in the user's cache folder so it is computed once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from pathlib import Path

from nsynth.audio import load_audio
from nsynth.data.notes import Note, NoteDataset
from nsynth.errors import NSynthError
from nsynth.pitch import estimate_pitch, parse_pitch

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff"}
_NSYNTH_NAME = re.compile(r"-(\d{3})-(\d{3})$")


def audio_files(root: Path) -> list[Path]:
    """Audio files under ``root``, recursively, in a stable (sorted) order."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def pitch_from_name(path: Path) -> int | None:
    m = _NSYNTH_NAME.search(path.stem)
    return int(m.group(1)) if m and 0 <= int(m.group(1)) <= 127 else None


def _read_csv(path: Path) -> dict[str, int]:
    """``file,pitch`` rows (a pitch as ``parse_pitch`` reads it: 60, C4). A first row whose pitch
    field holds no digit is a header; a row with no pitch is left to estimation; any other bad
    row is an error naming its line."""
    out = {}
    try:
        with open(path, newline="") as f:
            for line, row in enumerate(csv.reader(f), start=1):
                if len(row) < 2 or not row[1].strip():
                    continue
                try:
                    out[row[0].strip()] = int(parse_pitch(row[1], auto=False))
                except NSynthError as e:
                    if line == 1 and not any(c.isdigit() for c in row[1]):
                        continue  # a header ("file,pitch")
                    raise NSynthError(f"{path}: line {line}: {e}") from None
    except OSError as e:
        raise NSynthError(f"{path}: cannot read pitch CSV ({e.strerror or e})") from None
    return out


def _cache_file(root: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nsynth" / "pitch"
    return base / (hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16] + ".json")


def read_folder(
    path: str | Path, sample_rate: int = 16000, pitch_csv: str | Path | None = None, estimate: bool = True
) -> NoteDataset:
    """Every audio file under ``path`` as a note; pitch as described in the module doc."""
    root = Path(path)
    files = audio_files(root)
    if not files:
        raise NSynthError(f"{root}: no audio files found")
    table = _read_csv(Path(pitch_csv)) if pitch_csv else {}
    cache_path = _cache_file(root)
    try:
        cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    except ValueError:
        cache = {}
    dirty = False
    notes = []
    for f in files:
        rel = str(f.relative_to(root))
        pitch = table.get(rel, table.get(f.name))
        if pitch is None:
            pitch = pitch_from_name(f)
        if pitch is None and estimate:
            stamp = f"{f.stat().st_size}:{f.stat().st_mtime_ns}"
            hit = cache.get(rel)
            if hit and hit["stamp"] == stamp:
                pitch = hit["pitch"]
            else:
                try:
                    pitch = estimate_pitch(load_audio(f, sample_rate), sample_rate, str(f)).midi
                except NSynthError:
                    pitch = None  # unreadable or unpitched: kept, and skipped where pitch is needed
                cache[rel] = {"stamp": stamp, "pitch": pitch}
                dirty = True
        notes.append(Note(key=rel, pitch=pitch, instrument=f.parent.name))
    if dirty:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_path)
    return NoteDataset(str(root), notes, lambda i: load_audio(root / notes[i].key, sample_rate), sample_rate)
