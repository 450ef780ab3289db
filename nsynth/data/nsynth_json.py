"""The official NSynth JSON/WAV layout: ``examples.json`` + ``audio/<note_str>.wav``."""

from __future__ import annotations

import json
from pathlib import Path

from nsynth.audio import load_audio
from nsynth.data.notes import Note, NoteDataset
from nsynth.errors import NSynthError

_KNOWN = {"note_str", "pitch", "velocity", "instrument_str", "instrument_family_str", "instrument_source_str"}


def is_nsynth_json(path: Path) -> bool:
    return path.is_dir() and (path / "examples.json").is_file()


def read_nsynth_json(path: str | Path, sample_rate: int = 16000) -> NoteDataset:
    """Read an NSynth split folder (e.g. ``nsynth-valid/``)."""
    root = Path(path)
    meta_path = root / "examples.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise NSynthError(f"{meta_path}: cannot read NSynth metadata ({e})") from None
    if not isinstance(meta, dict):
        raise NSynthError(f"{meta_path}: expected an object keyed by note_str")
    notes = []
    for key in sorted(meta):
        m = meta[key]
        try:
            notes.append(
                Note(
                    key=key,
                    pitch=int(m["pitch"]),
                    velocity=int(m["velocity"]) if "velocity" in m else None,
                    instrument=m.get("instrument_str"),
                    family=m.get("instrument_family_str"),
                    source=m.get("instrument_source_str"),
                    extra={k: v for k, v in m.items() if k not in _KNOWN},
                )
            )
        except (KeyError, TypeError, ValueError) as e:
            raise NSynthError(f"{meta_path}: note {key!r} has bad metadata ({e})") from None
    return NoteDataset(
        str(root), notes, lambda i: load_audio(root / "audio" / f"{notes[i].key}.wav", sample_rate), sample_rate
    )
