"""Render an NSynth-style dataset (JSON/WAV layout) from any SoundFont (.sf2 / .sf3).

Each note is held for ``hold`` seconds and released for ``release`` seconds at 16 kHz,
as NSynth's 4 s notes (3 s held, 1 s release). Rendering uses TinySoundFont through the
``tinysoundfont`` package; it is deterministic. Whole programs can be held out as a
validation split, as NSynth keeps its valid/test instruments out of train.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from nsynth.audio import save_audio
from nsynth.errors import NSynthError

SILENCE = 1e-4  # peak below this (-80 dBFS) counts as a silent render


def gm_family(program: int) -> str:
    """NSynth instrument family of a General MIDI program (0-127)."""
    special = {
        46: "string",
        47: "mallet",
        52: "vocal",
        53: "vocal",
        54: "vocal",
        55: "brass",
        104: "guitar",
        105: "guitar",
        106: "guitar",
        107: "string",
        108: "mallet",
        109: "reed",
        110: "string",
        111: "reed",
    }
    if program in special:
        return special[program]
    groups = [
        "keyboard",
        "mallet",
        "organ",
        "guitar",
        "bass",
        "string",
        "string",
        "brass",
        "reed",
        "flute",
        "synth_lead",
        "synth_lead",
        "synth_lead",
        "guitar",
        "mallet",
        "synth_lead",
    ]
    return groups[program // 8]


def gm_source(program: int) -> str:
    """NSynth instrument source (acoustic / electronic / synthetic) of a GM program."""
    if 80 <= program <= 103 or program in (38, 39, 50, 51, 62, 63):
        return "synthetic"
    if program in (2, 4, 5, 16, 17, 18, 26, 27, 28, 29, 30, 31, 33, 34, 36, 37):
        return "electronic"
    return "acoustic"


def parse_range(text: str) -> list[int]:
    """'0-111' / '21-108:3' / '25,50,75' / '0-7,24' -> sorted list of ints."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        step = 1
        if ":" in part:
            part, s = part.split(":")
            step = int(s)
        if "-" in part:
            lo, hi = part.split("-")
            out.update(range(int(lo), int(hi) + 1, step))
        else:
            out.add(int(part))
    return sorted(out)


@dataclass(frozen=True)
class RenderReport:
    written: int
    silent: list[str] = field(default_factory=list)
    missing_programs: list[int] = field(default_factory=list)
    splits: dict[str, list[int]] = field(default_factory=dict)


def _synth(font: Path, sample_rate: int):
    try:
        import tinysoundfont
    except ImportError:
        raise NSynthError(
            "rendering SoundFonts needs tinysoundfont: pip install --no-deps tinysoundfont "
            "(its pyaudio dependency is only for live playback)"
        ) from None
    if not font.is_file():
        raise NSynthError(f"{font}: no such file")
    synth = tinysoundfont.Synth(samplerate=sample_rate)
    try:
        sfid = synth.sfload(str(font))
    except Exception as e:  # the binding raises bare exceptions for bad files
        raise NSynthError(f"{font}: not a readable SoundFont ({e})") from None
    return synth, sfid


def render_note(
    synth, sfid: int, program: int, pitch: int, velocity: int, hold: float, release: float, sample_rate: int
) -> np.ndarray | None:
    """One note, mono float32 of (hold + release) * sample_rate samples; None if the
    program does not exist in the font."""
    try:
        synth.program_select(0, sfid, 0, program)
    except Exception:
        return None
    synth.noteon(0, pitch, velocity)
    held = np.frombuffer(synth.generate(int(round(hold * sample_rate))), dtype=np.float32)
    synth.noteoff(0, pitch)
    tail = np.frombuffer(synth.generate(int(round(release * sample_rate))), dtype=np.float32)
    synth.sounds_off(0)
    synth.generate(2048)  # let the voice die before the next note
    return np.concatenate([held, tail]).reshape(-1, 2).mean(axis=1).astype(np.float32)


_SYNTHS: dict[tuple[str, int], tuple] = {}


def _cached_synth(font: Path, sample_rate: int):
    """One loaded synth per process and font (fonts are large: load once per worker)."""
    key = (str(font), sample_rate)
    if key not in _SYNTHS:
        _SYNTHS[key] = _synth(font, sample_rate)
    return _SYNTHS[key]


def note_key(program: int, pitch: int, velocity: int) -> str:
    """NSynth-like note name of a GM program's note, e.g. ``keyboard_acoustic_000-060-100``."""
    return f"{gm_family(program)}_{gm_source(program)}_{program:03d}-{pitch:03d}-{velocity:03d}"


def note_metadata(program: int, pitch: int, velocity: int, sample_rate: int, soundfont: str) -> dict:
    """The ``examples.json`` entry of a rendered note (NSynth's fields, family and source from
    the GM program; ``soundfont`` names what it was rendered from)."""
    family, source = gm_family(program), gm_source(program)
    return {
        "note_str": note_key(program, pitch, velocity),
        "pitch": pitch,
        "velocity": velocity,
        "program": program,
        "instrument_str": f"{family}_{source}_{program:03d}",
        "instrument": program,
        "instrument_family_str": family,
        "instrument_source_str": source,
        "sample_rate": sample_rate,
        "qualities": [],
        "qualities_str": [],
        "soundfont": soundfont,
    }


def write_examples(path: Path, notes: dict[str, dict]) -> None:
    """Write a split's ``examples.json`` (atomically: a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(notes, indent=1, sort_keys=True))
    os.replace(tmp, path)


def drawn_programs(programs: Sequence[int], fraction: float, seed: int) -> set[int]:
    """The programs ``render_soundfont`` holds out for ``valid_fraction=fraction`` and ``seed``:
    round(fraction * n) of the n distinct ``programs`` (at least one), drawn with ``random.Random(seed)``;
    none for ``fraction`` 0."""
    programs = sorted(set(programs))
    if fraction <= 0:
        return set()
    return set(random.Random(seed).sample(programs, max(1, round(fraction * len(programs)))))


@dataclass(frozen=True)
class _ProgramJob:
    font: Path
    out: Path
    split: str
    program: int
    pitches: tuple[int, ...]
    velocities: tuple[int, ...]
    hold: float
    release: float
    sample_rate: int
    force: bool


def _render_program(job: _ProgramJob) -> tuple[int, dict[str, dict], list[str], bool]:
    """Render (or find already rendered) every note of one program.

    Returns (program, {key: note metadata}, silent keys, program missing from the font).
    """
    synth, sfid = _cached_synth(job.font, job.sample_rate)
    meta, silent = {}, []
    for pitch in job.pitches:
        for vel in job.velocities:
            key = note_key(job.program, pitch, vel)
            wav_path = job.out / job.split / "audio" / f"{key}.wav"
            if not wav_path.exists() or job.force:
                audio = render_note(synth, sfid, job.program, pitch, vel, job.hold, job.release, job.sample_rate)
                if audio is None:
                    return job.program, {}, [], True
                if np.abs(audio).max() < SILENCE:
                    silent.append(key)
                    continue
                save_audio(wav_path, np.clip(audio, -1, 1), job.sample_rate, force=True)
            meta[key] = note_metadata(job.program, pitch, vel, job.sample_rate, job.font.name)
    return job.program, meta, silent, False


def render_soundfont(
    font: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    programs: Sequence[int] = range(112),
    pitches: Sequence[int] = range(21, 109),
    velocities: Sequence[int] = (25, 50, 75, 100, 127),
    hold: float = 3.0,
    release: float = 1.0,
    sample_rate: int = 16000,
    valid_programs: Sequence[int] = (),
    valid_fraction: float = 0.0,
    seed: int = 0,
    force: bool = False,
    workers: int = 1,
    progress: bool = True,
) -> RenderReport:
    """Render every (program, pitch, velocity) to ``out_dir`` in the NSynth JSON/WAV layout.

    With held-out programs (``valid_programs``, or a ``valid_fraction`` of the programs
    drawn with ``seed``) the output has ``train/`` and ``valid/`` splits; else one split.
    Existing notes are kept (re-running resumes) unless ``force``. ``workers`` > 1 renders
    programs in that many processes; every note is rendered from a silent synth, so the
    files are the same for any number of workers.
    """
    font = Path(font)
    out = Path(out_dir)
    _cached_synth(font, sample_rate)  # fails early on a bad font; forked workers inherit the loaded one
    programs = sorted(set(programs))
    held_out = set(valid_programs) | drawn_programs(programs, valid_fraction, seed)
    splits = {"train": [p for p in programs if p not in held_out], "valid": sorted(held_out & set(programs))}
    split_of = {p: ("valid" if p in held_out else "train") for p in programs}
    if not held_out:
        splits = {"": programs}
        split_of = {p: "" for p in programs}
    jobs = [
        _ProgramJob(font, out, split_of[p], p, tuple(pitches), tuple(velocities), hold, release, sample_rate, force)
        for p in programs
    ]
    meta: dict[str, dict[str, dict]] = {s: {} for s in splits}
    silent, missing = [], []
    per_program = len(pitches) * len(velocities)
    with (
        tqdm(total=len(jobs) * per_program, desc="rendering", unit="note", disable=not progress) as bar,
        _pool(min(workers, len(jobs))) as pool,
    ):
        results = pool.imap_unordered(_render_program, jobs) if pool else map(_render_program, jobs)
        for program, notes, quiet, absent in results:
            meta[split_of[program]].update(notes)
            silent += quiet
            if absent:
                missing.append(program)
            bar.update(per_program)
    for split, notes in meta.items():
        write_examples(out / split / "examples.json", notes)
    return RenderReport(
        sum(len(m) for m in meta.values()),
        sorted(silent),
        sorted(missing),
        {s or "all": ps for s, ps in splits.items()},
    )


@contextlib.contextmanager
def _pool(workers: int):
    """A process pool of ``workers`` (None for fewer than 2). Forked where the platform allows,
    so workers start without re-importing torch."""
    if workers < 2:
        yield None
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers) as pool:
        yield pool
