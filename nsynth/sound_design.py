"""Tools for sound designers: NSynth-Super grids and SFZ multisamples (morphs and mixes: ``nsynth.interpolation``).

Every tool generates its whole batch through the fast generation path, writes each
output atomically, skips outputs that already exist (so an interrupted run resumes), and
records every file in ``manifest.json`` (sources, weights file, pitch, settings, seed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from nsynth.audio import check_rate, load_audio, save_audio
from nsynth.errors import NSynthError
from nsynth.files import atomic_path
from nsynth.generation import encode_audio, generate_audio
from nsynth.generation.options import Sampling
from nsynth.model import NSynthAutoencoder
from nsynth.pitch import estimate_pitch, parse_pitch

CORNERS = ("NW", "NE", "SW", "SE")


def grid_note(pitch: int, row: int, col: int) -> str:
    """Where a grid keeps a point's note, relative to its folder: ``pitch_PPP/grid_RR_CC.wav``."""
    return f"pitch_{pitch:03d}/grid_{row:02d}_{col:02d}.wav"


def grid_weights(resolution: int) -> np.ndarray:
    """(resolution, resolution, 4) bilinear weights of (NW, NE, SW, SE) for each grid point.

    Row i runs north (0) to south, column j west (0) to east; with u = j / (res - 1) and
    v = i / (res - 1): w = ((1-u)(1-v), u(1-v), (1-u)v, uv). They sum to one, and each
    corner point has weight one on its own corner.
    """
    if resolution < 2:
        raise NSynthError(f"grid resolution must be at least 2, got {resolution}")
    t = np.linspace(0.0, 1.0, resolution)
    v, u = np.meshgrid(t, t, indexing="ij")
    return np.stack([(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v], axis=-1)


@dataclass
class Manifest:
    """``manifest.json`` of an output folder: one entry per file, kept across resumed runs."""

    path: Path
    entries: dict[str, dict] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    previous: dict = field(default_factory=dict)  # the settings the folder's notes were made with

    @classmethod
    def open(cls, folder: Path, settings: dict) -> "Manifest":
        path = folder / "manifest.json"
        entries, previous = {}, {}
        if path.exists():
            try:
                data = json.loads(path.read_text())
                entries = {e["file"]: e for e in data.get("files", [])}
                previous = data.get("settings") or {}
            except (ValueError, KeyError, TypeError, AttributeError):
                entries, previous = {}, {}
        return cls(path, entries, settings, previous if isinstance(previous, dict) else {})

    def refuse_other_settings(self, ignore: tuple[str, ...] = ("pitches",)) -> None:
        """Raise where the folder's notes were made with other settings than this run's (so a
        resumed run would keep them as if they were its own); ``ignore``: settings a run may
        change and still add to the folder (more pitches)."""
        now = json.loads(json.dumps(self.settings))  # as the manifest stores them
        keys = sorted(set(now) | set(self.previous))
        differ = [k for k in keys if k not in ignore and now.get(k) != self.previous.get(k)]
        if self.previous and differ:
            said = "; ".join(f"{k}: {self.previous.get(k)!r} there, {now.get(k)!r} now" for k in differ[:3])
            raise NSynthError(
                f"{self.path.parent}: holds notes made with other settings ({said});"
                " give --force to make them again, or another folder"
            )

    def add(self, file: Path, **info) -> None:
        rel = str(file.relative_to(self.path.parent))
        self.entries[rel] = {"file": rel, **info}

    def write(self) -> None:
        data = {"settings": self.settings, "files": [self.entries[k] for k in sorted(self.entries)]}
        with atomic_path(self.path, force=True) as tmp:
            tmp.write_text(json.dumps(data, indent=1))


@dataclass(frozen=True)
class Clip:
    """The part of every source file a tool reads: from ``offset`` seconds, ``seconds`` long (None: to the end)."""

    offset: float = 0.0
    seconds: float | None = None

    def load(self, path: Path, sample_rate: int) -> np.ndarray:
        return load_audio(path, sample_rate, offset=self.offset, seconds=self.seconds)

    def as_dict(self) -> dict:
        return {"offset": self.offset, "seconds": self.seconds}


@dataclass(frozen=True)
class Source:
    """A corner / source sound: one file for every pitch, or one file per pitch."""

    files: dict[int | None, Path]  # pitch -> file; key None = use this file at every pitch

    @classmethod
    def from_path(cls, path: Path, sample_rate: int, clip: Clip | None = None) -> "Source":
        if path.is_file():
            return cls({None: path})
        if path.is_dir():
            from nsynth.data.folder import audio_files, pitch_from_name

            out = {}
            for f in audio_files(path):
                p = pitch_from_name(f)
                if p is None:
                    p = estimate_pitch((clip or Clip()).load(f, sample_rate), sample_rate, str(f)).midi
                out[p] = f
            if not out:
                raise NSynthError(f"{path}: no audio files")
            return cls(out)
        raise NSynthError(f"{path}: no such file or folder")

    def for_pitch(self, pitch: int) -> Path:
        if None in self.files:
            return self.files[None]
        best = min(self.files, key=lambda p: abs(p - pitch))  # the nearest recorded pitch
        return self.files[best]


def _settings(model_path: str | None, model_rate: int, file_rate: int, **kw) -> dict:
    return {"weights": model_path or "default", "model_sample_rate": model_rate, "sample_rate": file_rate, **kw}


def _render(
    model: NSynthAutoencoder,
    todo: list[tuple[Path, np.ndarray, int | None, int, dict]],
    manifest: Manifest,
    *,
    sampling: Sampling,
    batch: int,
    fmt: str,
    file_rate: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Generate (out, embedding, pitch, length, info) items in batches; write (at ``file_rate``,
    default the model's), record, return count.

    Every item samples with the same random draws (the seed's stream 0), so the notes of a grid
    or a multisample differ only by their embedding and pitch, and a note comes out the same
    whatever the batch size and whether the run was resumed.
    ``on_progress(done, total)`` hears the samples generated so far."""
    total = sum(n for _, _, _, n, _ in todo)
    done = 0
    for start in range(0, len(todo), batch):
        part = todo[start : start + batch]
        before = done

        def hook(samples: int) -> None:
            nonlocal done
            done += samples
            if on_progress is not None:
                on_progress(done, total)

        audio = generate_audio(
            model,
            [z for _, z, _, _, _ in part],
            [p for _, _, p, _, _ in part] if model.config.pitch_conditioning else None,
            [n for _, _, _, n, _ in part],
            sampling=sampling,
            progress_hook=hook,
            draws=[0] * len(part),
        )
        done = before + sum(n for _, _, _, n, _ in part)  # the batch ran to its longest note
        rate = file_rate or model.config.sample_rate
        for (out, _, pitch, _, info), a in zip(part, audio):
            save_audio(out, a, model.config.sample_rate, fmt=fmt, force=True, file_rate=rate)
            manifest.add(out, pitch=pitch, seed=sampling.seed, sample_rate=rate, **info)
        manifest.write()
        if on_progress is not None:
            on_progress(done, total)
    return len(todo)


def _encode_files(
    model: NSynthAutoencoder, files: Sequence[Path], clip: Clip, length: int | None = None
) -> tuple[dict[Path, np.ndarray], int]:
    """Each file's (part's) embedding, all padded with silence (or cut) to one length; and that length."""
    rate = model.config.sample_rate
    audio = {f: clip.load(f, rate) for f in dict.fromkeys(files)}
    n = length or max(a.size for a in audio.values())
    padded = {f: np.pad(a[:n], (0, max(0, n - a.size))) for f, a in audio.items()}
    return dict(zip(padded, encode_audio(model, list(padded.values())))), n


def grid(
    model: NSynthAutoencoder,
    corners: Sequence[Path],
    out_dir: Path,
    *,
    resolution: int = 5,
    pitches: Sequence[int] = (36, 48, 60, 72),
    sampling: Sampling | None = None,
    batch: int = 32,
    fmt: str = "pcm16",
    model_path: str | None = None,
    seconds: float | None = None,
    offset: float = 0.0,
    file_rate: int | None = None,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Render an NSynth-Super grid: DIR/pitch_PPP/grid_RR_CC.wav. Returns (written, skipped).

    ``pitches``: MIDI numbers or note names ('C4'). Each corner file is read from ``offset``
    seconds for ``seconds`` (default: to its end), and every note is ``seconds`` long (default:
    the longest corner's part; shorter ones are padded with silence). Files are written at
    ``file_rate`` Hz (default: the model's rate). Existing notes are skipped (a re-run resumes)
    unless ``force`` renders them again.
    ``on_progress(done, total)``: samples generated so far, of all the notes to write."""
    if len(corners) != 4:
        raise NSynthError("a grid needs four corners: NW NE SW SE")
    pitches = [parse_pitch(p, auto=False) for p in pitches]
    sampling = (sampling or Sampling()).for_model(model)
    rate = model.config.sample_rate
    file_rate = check_rate(file_rate or rate, "file_rate")
    clip = Clip(offset, seconds)
    sources = [Source.from_path(Path(c), rate, clip) for c in corners]
    weights = grid_weights(resolution)
    length = int(seconds * rate) if seconds else None
    manifest = Manifest.open(
        out_dir,
        _settings(
            model_path,
            rate,
            file_rate,
            command="grid",
            resolution=resolution,
            pitches=list(pitches),
            **sampling.as_dict(),
            corners=[str(c) for c in corners],
            **clip.as_dict(),
        ),
    )
    if not force:
        manifest.refuse_other_settings()
    files = [s.for_pitch(p) for p in pitches for s in sources]
    emb, n = _encode_files(model, files, clip, length)
    todo, skipped = [], 0
    for p in pitches:
        zs = [emb[s.for_pitch(p)] for s in sources]
        for i in range(resolution):
            for j in range(resolution):
                out = out_dir / grid_note(p, i, j)
                if out.exists() and not force:
                    skipped += 1
                    continue
                w = weights[i, j]
                z = sum(wk * zk for wk, zk in zip(w, zs)).astype(np.float32)
                info = {
                    "row": i,
                    "col": j,
                    "weights": dict(zip(CORNERS, map(float, w))),
                    "sources": {c: str(s.for_pitch(p)) for c, s in zip(CORNERS, sources)},
                }
                todo.append((out, z, p, n, info))
    return _render(
        model,
        todo,
        manifest,
        sampling=sampling,
        batch=batch,
        fmt=fmt,
        file_rate=file_rate,
        on_progress=on_progress,
    ), skipped


@dataclass(frozen=True)
class Region:
    file: str
    key: int
    lo: int
    hi: int


def sfz_regions(pitches: Sequence[int], files: Sequence[str]) -> list[Region]:
    """Key ranges that split midway between neighbouring sampled pitches (ends reach 0 and 127)."""
    order = sorted(zip(pitches, files))
    regions = []
    for k, (p, f) in enumerate(order):
        lo = 0 if k == 0 else (order[k - 1][0] + p) // 2 + 1
        hi = 127 if k == len(order) - 1 else (p + order[k + 1][0]) // 2
        regions.append(Region(f, p, lo, hi))
    return regions


def sfz_text(regions: Sequence[Region], name: str) -> str:
    """A playable one-shot SFZ instrument: one region per sample, velocity scales loudness."""
    lines = [
        f"// {name}: rendered by nsynth",
        "<global>",
        "loop_mode=one_shot",
        "amp_veltrack=100",
        "ampeg_release=0.05",
        "",
    ]
    lines += [f"<region> sample={r.file} pitch_keycenter={r.key} lokey={r.lo} hikey={r.hi}" for r in regions]
    return "\n".join(lines) + "\n"


def write_sfz(path: Path, regions: Sequence[Region], name: str, force: bool = False) -> None:
    """Write ``sfz_text`` atomically."""
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(sfz_text(regions, name))


def multisample(
    model: NSynthAutoencoder,
    sources: Sequence[Path],
    out_dir: Path,
    *,
    pitches: Sequence[int],
    alpha: float = 0.5,
    name: str | None = None,
    sampling: Sampling | None = None,
    batch: int = 32,
    fmt: str = "pcm16",
    model_path: str | None = None,
    offset: float = 0.0,
    seconds: float | None = None,
    file_rate: int | None = None,
    force: bool = False,
) -> tuple[Path, int, int]:
    """Render a sound (or the point ``alpha`` between two) at every pitch; write samples and an SFZ.

    ``pitches``: MIDI numbers or note names ('C4'). Each source file is read from ``offset``
    seconds for ``seconds`` (default: to its end). Samples are written at ``file_rate`` Hz
    (default: the model's rate). Existing samples are skipped (a re-run resumes) unless
    ``force`` renders them again."""
    if not 1 <= len(sources) <= 2:
        raise NSynthError("multisample takes one source, or two to interpolate between")
    pitches = [parse_pitch(p, auto=False) for p in pitches]
    sampling = (sampling or Sampling()).for_model(model)
    rate = model.config.sample_rate
    file_rate = check_rate(file_rate or rate, "file_rate")
    clip = Clip(offset, seconds)
    srcs = [Source.from_path(Path(s), rate, clip) for s in sources]
    name = name or "_".join(Path(s).stem for s in sources)
    manifest = Manifest.open(
        out_dir,
        _settings(
            model_path,
            rate,
            file_rate,
            command="multisample",
            pitches=list(pitches),
            alpha=alpha,
            sources=[str(s) for s in sources],
            **sampling.as_dict(),
            **clip.as_dict(),
        ),
    )
    if not force:
        manifest.refuse_other_settings()
    files = [s.for_pitch(p) for p in pitches for s in srcs]
    emb, n = _encode_files(model, files, clip)
    todo, skipped, rel = [], 0, []
    for p in pitches:
        out = out_dir / "samples" / f"{name}_{p:03d}.wav"
        rel.append(str(out.relative_to(out_dir)))
        if out.exists() and not force:
            skipped += 1
            continue
        zs = [emb[s.for_pitch(p)] for s in srcs]
        z = zs[0] if len(zs) == 1 else ((1 - alpha) * zs[0] + alpha * zs[1]).astype(np.float32)
        todo.append((out, z, p, n, {"sources": [str(s.for_pitch(p)) for s in srcs]}))
    written = _render(
        model,
        todo,
        manifest,
        sampling=sampling,
        batch=batch,
        fmt=fmt,
        file_rate=file_rate,
    )
    sfz = out_dir / f"{name}.sfz"
    write_sfz(sfz, sfz_regions(pitches, rel), name, force=True)
    manifest.add(sfz, pitch=None, regions=len(rel))
    manifest.write()
    return sfz, written, skipped
