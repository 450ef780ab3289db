"""A dataset of notes: metadata per note plus a way to load its audio.

Every reader (NSynth JSON/WAV, NSynth TFRecord, any folder of audio) yields ``Note``s
and loads their audio as mono float32 at the model rate. Filters are shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from nsynth.errors import NSynthError, OptionError
from nsynth.pitch import parse_pitch

FAMILIES = ["bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead", "vocal"]
SOURCES = ["acoustic", "electronic", "synthetic"]


@dataclass(frozen=True)
class Note:
    """One note's metadata. ``key`` identifies it within its dataset (NSynth's note_str)."""

    key: str
    pitch: int | None
    velocity: int | None = None
    instrument: str | None = None
    family: str | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class NoteFilter:
    """Which notes to keep. Empty tuples / None mean 'all'."""

    families: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    pitch_min: int | None = None
    pitch_max: int | None = None
    velocities: tuple[int, ...] = ()

    def __call__(self, note: Note) -> bool:
        if self.families and note.family not in self.families:
            return False
        if self.sources and note.source not in self.sources:
            return False
        if self.pitch_min is not None and (note.pitch is None or note.pitch < self.pitch_min):
            return False
        if self.pitch_max is not None and (note.pitch is None or note.pitch > self.pitch_max):
            return False
        return not (self.velocities and note.velocity not in self.velocities)


def parse_pitch_range(text: str) -> tuple[int, int]:
    """'LO-HI' -> (LO, HI), each side a pitch as ``parse_pitch`` reads it: '24-96', 'C1-C7',
    'C#-1-G9' (a note name may hold a '-'). Raises ``OptionError`` (``pitch_range``)."""
    for i, ch in enumerate(text):
        if ch != "-" or i == 0:
            continue
        try:
            lo, hi = parse_pitch(text[:i], auto=False), parse_pitch(text[i + 1 :], auto=False)
        except NSynthError:
            continue
        if lo > hi:
            raise OptionError("pitch_range", repr(text), "LO is above HI")
        return int(lo), int(hi)
    raise OptionError("pitch_range", repr(text), "expected LO-HI of pitches 0-127, e.g. 24-96 or C1-C7")


class NoteDataset:
    """Notes and a loader for their audio: ``len``, ``notes[i]``, ``load(i) -> (T,) float32``."""

    def __init__(self, name: str, notes: Sequence[Note], loader: Callable[[int], np.ndarray], sample_rate: int) -> None:
        self.name = name
        self.notes = list(notes)
        self._loader = loader
        self.sample_rate = sample_rate

    def __len__(self) -> int:
        return len(self.notes)

    def load(self, i: int) -> np.ndarray:
        return self._loader(i)

    @classmethod
    def concat(cls, datasets: Sequence["NoteDataset"]) -> "NoteDataset":
        """One dataset of several (e.g. renders of several SoundFonts); keys are prefixed by source."""
        if len(datasets) == 1:
            return datasets[0]
        rates = {d.sample_rate for d in datasets}
        if len(rates) != 1:
            raise ValueError(f"datasets have different sample rates: {sorted(rates)}")
        index = [(d, i) for d in datasets for i in range(len(d))]
        notes = [
            Note(f"{k}:{n.key}", n.pitch, n.velocity, n.instrument, n.family, n.source, n.extra)
            for k, d in enumerate(datasets)
            for n in d.notes
        ]
        name = "+".join(d.name for d in datasets)
        return cls(name, notes, lambda j: index[j][0].load(index[j][1]), rates.pop())

    def _take(self, idx: Sequence[int]) -> "NoteDataset":
        """The notes at ``idx``, in that order."""
        return NoteDataset(self.name, [self.notes[i] for i in idx], lambda j: self._loader(idx[j]), self.sample_rate)

    def filter(self, keep: Callable[[Note], bool]) -> "NoteDataset":
        return self._take([i for i, n in enumerate(self.notes) if keep(n)])

    def subset(self, limit: int | None) -> "NoteDataset":
        """An evenly spaced subset of ``limit`` notes (the first and last included); all if None or more."""
        if limit is None or limit >= len(self):
            return self
        if limit < 1:
            raise ValueError(f"a subset needs at least one note, not {limit}")
        return self._take(sorted(set(np.linspace(0, len(self) - 1, limit).round().astype(int).tolist())))
