"""Datasets of notes: NSynth JSON/WAV, NSynth TFRecord, any folder of audio; training crops."""

from __future__ import annotations

from pathlib import Path

from nsynth.data.folder import read_folder
from nsynth.data.notes import FAMILIES, SOURCES, Note, NoteDataset, NoteFilter
from nsynth.data.nsynth_json import is_nsynth_json, read_nsynth_json
from nsynth.data.tfrecord import read_nsynth_tfrecord
from nsynth.errors import NSynthError

__all__ = ["FAMILIES", "SOURCES", "Note", "NoteDataset", "NoteFilter", "open_dataset"]


def open_dataset(
    path: str | Path,
    sample_rate: int = 16000,
    note_filter: NoteFilter | None = None,
    pitch_csv: str | Path | None = None,
) -> NoteDataset:
    """Open any supported dataset, detected from what ``path`` is:

    - a folder with ``examples.json``: the NSynth JSON/WAV layout;
    - a ``.tfrecord`` file, or a folder of them: NSynth TFRecords;
    - any other folder: every audio file in it, recursively.
    """
    p = Path(path)
    if not p.exists():
        raise NSynthError(f"{p}: no such file or folder")
    if is_nsynth_json(p):
        ds = read_nsynth_json(p, sample_rate)
    elif p.is_file() and ".tfrecord" in p.name:
        ds = read_nsynth_tfrecord([p], sample_rate)
    elif p.is_dir() and any(p.glob("*.tfrecord*")):
        ds = read_nsynth_tfrecord(sorted(p.glob("*.tfrecord*")), sample_rate)
    elif p.is_dir():
        ds = read_folder(p, sample_rate, pitch_csv)
    else:
        raise NSynthError(f"{p}: not a dataset (expected an NSynth folder, a .tfrecord file or a folder of audio)")
    return ds.filter(note_filter) if note_filter is not None else ds
