"""Datasets of notes: NSynth JSON/WAV, NSynth TFRecord, any folder of audio; training crops."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from nsynth.data.folder import read_folder
from nsynth.data.notes import FAMILIES, SOURCES, Note, NoteDataset, NoteFilter, parse_pitch_range
from nsynth.data.nsynth_json import is_nsynth_json, read_nsynth_json
from nsynth.data.tfrecord import read_nsynth_tfrecord
from nsynth.errors import NSynthError

__all__ = [
    "FAMILIES",
    "SOURCES",
    "Note",
    "NoteDataset",
    "NoteFilter",
    "open_dataset",
    "open_training_data",
    "parse_pitch_range",
]


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


def open_training_data(
    paths: Sequence[str | Path],
    valid: str | Path | None = None,
    sample_rate: int = 16000,
    note_filter: NoteFilter | None = None,
    pitch_csv: str | Path | None = None,
) -> tuple[NoteDataset, NoteDataset | None]:
    """The training and held-out sets of one or several datasets (joined).

    A path with ``train/`` and ``valid/`` folders gives its ``train`` to training and its ``valid``
    to the held-out set; any other path is all training. ``valid`` names the held-out set instead.
    """
    split = [
        (Path(d) / "train", Path(d) / "valid")
        if (Path(d) / "train").is_dir() and (Path(d) / "valid").is_dir()
        else (Path(d), None)
        for d in paths
    ]
    train = NoteDataset.concat([open_dataset(t, sample_rate, note_filter, pitch_csv) for t, _ in split])
    held = [Path(valid)] if valid is not None else [v for _, v in split if v is not None]
    held_out = (
        NoteDataset.concat([open_dataset(v, sample_rate, note_filter, pitch_csv) for v in held]) if held else None
    )
    return train, held_out
