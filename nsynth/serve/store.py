"""The server's disk cache: sounds by content, grids by content and settings.

    CACHE/sounds/<sha256>.wav          an upload, decoded to the model rate (16-bit PCM)
    CACHE/sounds/<sha256>.json         its display name and length
    CACHE/grids/<key>/                 a grid as ``nsynth grid`` writes it (four corners), or a line
                                       between two sounds (pitch_PPP/line_CC.wav), plus
        job.json                       its settings; progress.json; done (when complete)

A grid's key is the hash of its corners' contents, its settings and the weights file, so the
same request never renders twice, and an interrupted render resumes where it stopped (the
grid writer skips the notes already written).
"""

from __future__ import annotations

import hashlib
import json
import re
import reprlib
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nsynth.audio import load_audio, save_audio
from nsynth.sound_design import grid_note
from nsynth.errors import NSynthError
from nsynth.files import atomic_path
from nsynth.pitch import parse_pitch

KEY = re.compile(r"^[0-9a-f]{64}$")
MIN_SECONDS = 0.1  # the shortest note the pad renders; a shorter sound is mostly the padding after it
SILENT = 1e-4  # -80 dBFS: a sound whose every sample is below this is silence
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".caf", ".w64"}


class NotFound(NSynthError):
    """A sound, grid or grid point that this cache does not hold (HTTP 404)."""


def display_name(name: str | None) -> str:
    """A client's file name, safe to show and log: the base name, printable, at most 80 characters.
    It never reaches the file system: files are named by their content's hash."""
    base = re.split(r"[\\/]", name or "")[-1]
    clean = "".join(c for c in base if c.isprintable()).strip() or "upload"
    return clean[:80]


@dataclass(frozen=True)
class Sound:
    id: str
    name: str
    seconds: float


def line_note(pitch: int, col: int) -> str:
    """Where a line keeps its point ``col``: ``pitch_PPP/line_CC.wav``."""
    return f"pitch_{pitch:03d}/line_{col:02d}.wav"


def request_pitches(values: object) -> tuple[int, ...]:
    """A request's pitches (a JSON list of 1 to 8 different MIDI numbers or note names such as C4)
    as MIDI numbers, by the library's one pitch rule; an error names ``pitches``."""
    if not isinstance(values, (list, tuple)):
        raise NSynthError(f"pitches {reprlib.repr(values)}: give a list of 1 to 8 pitches")
    if not 1 <= len(values) <= 8:  # before parsing: a long list costs nothing
        raise NSynthError("pitches: give 1 to 8 pitches")
    try:
        pitches = tuple(int(parse_pitch(p, auto=False)) for p in values)
    except NSynthError as e:
        raise NSynthError(f"pitches: {e}") from None
    if len(set(pitches)) != len(pitches):
        raise NSynthError("pitches: each pitch once")
    return pitches


@dataclass(frozen=True)
class GridRequest:
    """Four corners (NW NE SW SE): a resolution x resolution grid; two sounds (A B): a line of
    ``resolution`` points from A to B, row 0 of a one-row grid."""

    corners: tuple[str, ...]  # sound ids
    resolution: int
    pitches: tuple[int, ...]
    seconds: float | None
    seed: int
    temperature: float | None

    @property
    def mode(self) -> str:
        return "line" if len(self.corners) == 2 else "grid"

    @property
    def rows(self) -> int:
        return 1 if self.mode == "line" else self.resolution

    def note(self, pitch: int, row: int, col: int) -> str:
        """The file of a point, relative to the grid's folder."""
        return line_note(pitch, col) if self.mode == "line" else grid_note(pitch, row, col)

    def check(self, store: "Store") -> None:
        if len(self.corners) not in (2, 4):
            raise NSynthError("give four corners (NW NE SW SE) for a grid, or two sounds (A B) for a line")
        most = 16 if self.mode == "line" else 9
        if not 2 <= self.resolution <= most:
            per = "on the line" if self.mode == "line" else "per side"
            raise NSynthError(f"resolution {self.resolution}: choose 2 to {most} points {per}")
        if self.seconds is not None and not 0.1 <= self.seconds <= 4.0:
            raise NSynthError(f"seconds {self.seconds}: choose 0.1 to 4")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise NSynthError(f"temperature {self.temperature}: choose 0 to 2")
        for c in self.corners:
            store.sound_path(c)  # each corner must be a stored sound


class Store:
    def __init__(self, root: Path, sample_rate: int, weights_id: str) -> None:
        self.root = Path(root)
        self.sample_rate = sample_rate
        self.weights_id = weights_id
        (self.root / "sounds").mkdir(parents=True, exist_ok=True)
        (self.root / "grids").mkdir(parents=True, exist_ok=True)

    def add_sound(self, data: bytes, name: str | None) -> Sound:
        """Decode an upload (any format nsynth reads); store it by the hash of its audio.
        Raises NSynthError naming the file for unreadable, empty, non-finite, silent or too
        short audio."""
        shown = display_name(name)
        suffix = Path(shown).suffix.lower()
        with tempfile.TemporaryDirectory(dir=self.root) as tmp:
            path = Path(tmp) / ("upload" + (suffix if suffix in AUDIO_SUFFIXES else ".bin"))
            path.write_bytes(data)
            try:
                audio = load_audio(path, self.sample_rate)
            except NSynthError as e:
                raise NSynthError(str(e).replace(str(path), shown)) from None
        seconds = audio.size / self.sample_rate
        if seconds < MIN_SECONDS:
            raise NSynthError(f"{shown}: too short ({seconds:.2g} s; needs at least {MIN_SECONDS:g} s)")
        if np.abs(audio).max() < SILENT:
            raise NSynthError(f"{shown}: silent (no sample above -80 dBFS)")
        return self._keep(audio, shown)

    def _keep(self, audio: np.ndarray, name: str) -> Sound:
        pcm = np.round(np.clip(audio, -1, 1) * 32767).astype("<i2")
        sid = hashlib.sha256(pcm.tobytes()).hexdigest()
        path = self.root / "sounds" / f"{sid}.wav"
        if not path.exists():
            save_audio(path, audio, self.sample_rate, force=True)
        sound = Sound(sid, name, round(audio.size / self.sample_rate, 3))
        if not path.with_suffix(".json").exists():  # the same audio again keeps its first name in grids
            with atomic_path(path.with_suffix(".json"), force=True) as tmp:
                tmp.write_text(json.dumps(asdict(sound)))
        return sound

    def add_file(self, path: Path) -> Sound:
        return self._keep(load_audio(path, self.sample_rate), display_name(path.name))

    def sound_path(self, sid: str) -> Path:
        if not KEY.match(str(sid)) or not (self.root / "sounds" / f"{sid}.wav").is_file():
            raise NotFound(f"no sound {str(sid)[:64]!r} here: upload it first")
        return self.root / "sounds" / f"{sid}.wav"

    def sound(self, sid: str) -> Sound:
        self.sound_path(sid)
        return Sound(**json.loads((self.root / "sounds" / f"{sid}.json").read_text()))

    def grid_key(self, req: GridRequest) -> str:
        text = json.dumps({"request": asdict(req), "weights": self.weights_id}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def grid_dir(self, key: str) -> Path:
        """The folder of a grid; an unknown or malformed key is an error (never a path outside the cache)."""
        if not KEY.match(str(key)) or not (self.root / "grids" / key / "job.json").is_file():
            raise NotFound(f"no grid {str(key)[:64]!r} here")
        return self.root / "grids" / key

    def new_grid(self, key: str, req: GridRequest) -> Path:
        folder = self.root / "grids" / key
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "job.json", force=True) as tmp:
            tmp.write_text(json.dumps(asdict(req)))
        return folder

    def request(self, key: str) -> GridRequest:
        d = json.loads((self.grid_dir(key) / "job.json").read_text())
        return GridRequest(
            tuple(d["corners"]), d["resolution"], tuple(d["pitches"]), d["seconds"], d["seed"], d["temperature"]
        )

    def note_path(self, key: str, pitch: int, row: int, col: int) -> Path:
        req = self.request(key)
        if pitch not in req.pitches or not (0 <= row < req.rows and 0 <= col < req.resolution):
            raise NotFound(f"no point pitch {pitch}, row {row}, column {col} in this grid")
        return self.grid_dir(key) / req.note(pitch, row, col)
