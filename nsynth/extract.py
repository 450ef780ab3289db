"""Embedding extraction over whole datasets: mirrored outputs, resumable, sharded, bounded memory.

Inputs are audio files, folders (recursive) and NSynth datasets (JSON/WAV or TFRecord).
Each note becomes ``OUT/<relative path>/<stem>.npy`` (float32, (frames, latent_dim)):
a folder argument's tree is mirrored under its own name, an NSynth dataset's notes go
under the dataset's name as ``<note_str>.npy``, and files given directly go to
``OUT/<stem>.npy``. Files whose stems collide in one output folder keep their extension
(``x.wav.npy``, ``x.flac.npy``). Outputs are written atomically, so an existing output is
complete and a re-run skips it. Long files are encoded in windows with enough context
that the result equals encoding the whole file.

A note's *name* is its output path relative to the output folder, without ``.npy``
(``nsynth-valid/brass_acoustic_001-057-100``, ``sounds/flute/same.wav``): the same name
whether the embeddings are read from the folder or from the consolidated ``.npz``.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from nsynth.audio import load_audio
from nsynth.data import open_dataset
from nsynth.data.folder import audio_files
from nsynth.data.nsynth_json import is_nsynth_json
from nsynth.encoders.temporal import pad_to_hop
from nsynth.errors import NSynthError
from nsynth.files import atomic_path, unique_outputs
from nsynth.generation.render import encode_audio
from nsynth.model import NSynthAutoencoder
from nsynth.mulaw import audio_to_input


@dataclass(frozen=True)
class Job:
    """One note to encode: where its audio comes from (``path``: a file, or ``<dataset>:<note
    key>``), where its embedding goes (``out``), its ``name`` and its NSynth metadata."""

    out: Path
    load: Callable[[], np.ndarray] = field(compare=False, repr=False)
    path: str = ""
    meta: dict = field(default_factory=dict, compare=False)
    name: str = ""


def collect_jobs(inputs: list[Path], out_dir: Path, sample_rate: int) -> list[Job]:
    """Jobs for every note under ``inputs``, in a deterministic order, with unique outputs."""
    jobs: list[Job] = []
    for p in inputs:
        if not p.exists():
            raise NSynthError(f"{p}: no such file or folder")
        if p.is_file() and ".tfrecord" not in p.name:
            jobs.append(Job(out_dir / f"{p.stem}.npy", lambda p=p: load_audio(p, sample_rate), str(p)))
        elif is_nsynth_json(p) or ".tfrecord" in p.name or (p.is_dir() and any(p.glob("*.tfrecord*"))):
            ds = open_dataset(p, sample_rate)
            name = p.name.split(".tfrecord")[0]
            for i, n in enumerate(ds.notes):
                meta = {
                    "pitch": n.pitch,
                    "velocity": n.velocity,
                    "instrument": n.instrument,
                    "family": n.family,
                    "source": n.source,
                }
                jobs.append(Job(out_dir / name / f"{n.key}.npy", lambda ds=ds, i=i: ds.load(i), f"{p}:{n.key}", meta))
        else:
            for f in audio_files(p):
                rel = f.relative_to(p)
                jobs.append(
                    Job(out_dir / p.name / rel.parent / f"{f.stem}.npy", lambda f=f: load_audio(f, sample_rate), str(f))
                )
    return _unique_sorted(jobs, out_dir)


def note_name(npy: Path, root: Path) -> str:
    """The name of the note whose embedding is ``npy`` under the output folder ``root``."""
    return npy.relative_to(root).with_suffix("").as_posix()


def _unique_sorted(jobs: list[Job], out_dir: Path) -> list[Job]:
    outs = unique_outputs([j.out for j in jobs], [Path(j.path.split(":")[-1]).name for j in jobs])
    return sorted(
        (Job(o, j.load, j.path, j.meta, note_name(o, out_dir)) for o, j in zip(outs, jobs)), key=lambda j: str(j.out)
    )


def shard(jobs: list[Job], index: int, count: int) -> list[Job]:
    """Every ``count``-th job starting at ``index``: shards are disjoint and cover all jobs."""
    if not 0 <= index < count:
        raise NSynthError(f"shard {index}/{count}: need 0 <= I < N")
    return jobs[index::count]


def is_complete(path: Path, latent_dim: int) -> bool:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        return arr.ndim == 2 and arr.shape[1] == latent_dim and arr.dtype == np.float32
    except (OSError, ValueError, EOFError):
        return False


def encode_long(model: NSynthAutoencoder, audio: np.ndarray, window: int = 2**18) -> np.ndarray:
    """(T,) audio -> (ceil(T / hop), latent_dim), in windows of about ``window`` samples.

    Each window carries ``context`` extra samples on both sides (the encoder's reach,
    rounded up to whole frames), so the result equals a single pass over the whole file.
    """
    hop = model.config.hop
    enc = model.encoder
    reach = (enc.start.kernel_size[0] // 2) + sum(d * (enc.start.kernel_size[0] // 2) for d in enc.dilations)
    context = -(-reach // hop) * hop
    device = next(model.parameters()).device
    x = pad_to_hop(audio_to_input(torch.from_numpy(np.ascontiguousarray(audio, np.float32)))[None, None], hop)
    total = x.shape[-1]
    step = max(hop, window // hop * hop)
    out = []
    with torch.inference_mode():
        for start in range(0, total, step):
            lo, hi = max(0, start - context), min(total, start + step + context)
            pre = enc.forward_prepool(x[..., lo:hi].to(device))
            keep = pre[..., start - lo : start - lo + min(step, total - start)]
            out.append(torch.nn.functional.avg_pool1d(keep, hop)[0].T.float().cpu().numpy())
    return np.concatenate(out)


class _Loader(torch.utils.data.Dataset):
    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str | None]:
        try:
            return i, self.jobs[i].load(), None
        except NSynthError as e:
            return i, None, str(e)


def _keep(item):
    return item  # keep numpy arrays as they are (the default would make tensors)


@dataclass
class ExtractReport:
    done: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    seconds_of_audio: float = 0.0
    wall_seconds: float = 0.0


def extract(
    model: NSynthAutoencoder,
    jobs: list[Job],
    *,
    force: bool = False,
    batch_size: int = 16,
    workers: int = 2,
    window: int = 2**18,
    progress: bool = True,
    on_error: Callable[[str], None] = print,
) -> ExtractReport:
    """Encode every job not yet done (or all with ``force``); bad inputs are reported and skipped."""
    rate, dim = model.config.sample_rate, model.config.latent_dim
    report = ExtractReport()
    todo = [j for j in jobs if force or not is_complete(j.out, dim)]
    report.skipped = len(jobs) - len(todo)
    n_workers = workers if len(todo) > 1 else 0
    loader = torch.utils.data.DataLoader(
        _Loader(todo),
        batch_size=None,
        num_workers=n_workers,
        collate_fn=_keep,
        prefetch_factor=4 if n_workers else None,
    )
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), unit="file", desc="encoding", disable=not progress, dynamic_ncols=True)
    pending: dict[int, list[tuple[int, np.ndarray]]] = {}

    def flush(length: int) -> None:
        items = pending.pop(length)
        if length > window:
            embs = [encode_long(model, a, window) for _, a in items]
        else:
            embs = encode_audio(model, [a for _, a in items])  # batched on GPU, note by note on CPU
        for (i, a), e in zip(items, embs):
            with atomic_path(todo[i].out, force=True) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, np.ascontiguousarray(e, np.float32))
            report.done += 1
            report.seconds_of_audio += a.size / rate
        bar.update(len(items))
        elapsed = time.perf_counter() - t0
        bar.set_postfix(x_realtime=f"{report.seconds_of_audio / max(elapsed, 1e-9):.0f}")

    for i, audio, err in loader:
        if err is not None:
            report.failed.append(err)
            on_error(err)
            bar.update(1)
            continue
        pending.setdefault(audio.size, []).append((i, audio))
        if len(pending[audio.size]) >= batch_size or audio.size > window:
            flush(audio.size)
    for length in list(pending):
        flush(length)
    bar.close()
    report.wall_seconds = time.perf_counter() - t0
    return report


# Version 1 (no ``format`` member) wrote each row as {"source": path, ..., **metadata}, so a
# note's NSynth ``source`` field ("acoustic") overwrote its path; version 2 keeps them apart.
INDEX_FORMAT = 2
_NSYNTH_FIELDS = ("pitch", "velocity", "instrument", "family", "source")


def consolidate(jobs: list[Job], path: Path, latent_dim: int, hop: int, sample_rate: int) -> int:
    """Stream every job's embedding into one ``.npz``: ``embeddings`` (total_frames, D),
    ``offsets`` (N + 1,), ``format`` (``INDEX_FORMAT``) and ``index``: JSON, one row per note,
    ``{"name", "path", "output", "frames", "duration", "meta": {NSynth metadata}}``."""
    done = [j for j in jobs if is_complete(j.out, latent_dim)]
    shapes = [np.load(j.out, mmap_mode="r").shape[0] for j in done]
    offsets = np.concatenate([[0], np.cumsum(shapes)]).astype(np.int64)
    index = [
        {
            "name": j.name,
            "path": j.path,
            "output": str(j.out),
            "frames": n,
            "duration": n * hop / sample_rate,
            "meta": j.meta,
        }
        for j, n in zip(done, shapes)
    ]
    with atomic_path(path, force=True) as tmp:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            with zf.open("embeddings.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_2_0(
                    f, {"descr": "<f4", "fortran_order": False, "shape": (int(offsets[-1]), latent_dim)}
                )
                for j in done:
                    f.write(np.ascontiguousarray(np.load(j.out), "<f4").tobytes())
            with zf.open("offsets.npy", "w") as f:
                np.lib.format.write_array(f, offsets)
            with zf.open("format.npy", "w") as f:
                np.lib.format.write_array(f, np.array(INDEX_FORMAT))
            with zf.open("index.npy", "w") as f:
                np.lib.format.write_array(f, np.array(json.dumps(index)))
    return len(done)


class ConsolidatedIndex(NamedTuple):
    embeddings: np.ndarray  # (total_frames, D) float32
    offsets: np.ndarray  # (N + 1,): note k is embeddings[offsets[k]:offsets[k + 1]]
    rows: list[dict]  # N rows in the current format (see ``consolidate``)


def _row_from_v1(row: dict) -> dict:
    """A version-1 row in the current format. NSynth notes had lost their path (the name comes
    back from the output file: ``<dataset>/<note key>``); other files kept theirs as ``source``."""
    nsynth_note = "pitch" in row
    out = Path(row["output"])
    return {
        "name": f"{out.parent.name}/{out.stem}" if nsynth_note else row["source"],
        "path": "" if nsynth_note else row["source"],
        "output": row["output"],
        "frames": row["frames"],
        "duration": row["duration"],
        "meta": {k: row[k] for k in _NSYNTH_FIELDS if k in row} if nsynth_note else {},
    }


def read_index(path: Path) -> ConsolidatedIndex:
    """Read a consolidated ``.npz`` written by ``consolidate`` (this format or version 1)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format"]) if "format" in z.files else 1
            if version > INDEX_FORMAT:
                raise NSynthError(
                    f"{path}: consolidated index format {version} is newer than this nsynth reads"
                    f" ({INDEX_FORMAT}); upgrade nsynth"
                )
            emb, off, rows = z["embeddings"], z["offsets"], json.loads(str(z["index"]))
            if version == 1:
                rows = [_row_from_v1(r) for r in rows]
    except NSynthError:
        raise
    except (KeyError, TypeError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        reason = f"missing {e}" if isinstance(e, KeyError) else str(e).splitlines()[0][:120]
        raise NSynthError(f"{path}: not a consolidated embedding index ({reason})") from None
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and isinstance(r.get("name"), str) and isinstance(r.get("meta"), dict) for r in rows
    ):
        raise NSynthError(f"{path}: not a consolidated embedding index (a row without a name or metadata)")
    if emb.ndim != 2 or off.shape != (len(rows) + 1,) or off[-1] != emb.shape[0]:
        raise NSynthError(
            f"{path}: not a consolidated embedding index ({len(rows)} rows, offsets {off.shape},"
            f" embeddings {emb.shape})"
        )
    return ConsolidatedIndex(emb, off, rows)


def dist_shard() -> tuple[int, int, int] | None:
    """(rank, world, local_rank) under torchrun, else None."""
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    return None


def worker_device(device: str) -> str:
    """The device this process encodes on: under torchrun with CUDA, its own GPU."""
    dist = dist_shard()
    if dist is not None and device != "cpu" and torch.cuda.is_available():
        return f"cuda:{dist[2]}"
    return device


@dataclass
class Plan:
    """What one process encodes: ``jobs`` (its shard) of ``all_jobs``, and the inputs that failed."""

    all_jobs: list[Job]
    jobs: list[Job]
    failed_inputs: int
    sharded: bool


def plan(
    inputs: list[Path],
    out_dir: Path,
    sample_rate: int,
    shard_of: tuple[int, int] | None = None,
    on_error: Callable[[str], None] = print,
) -> Plan:
    """Jobs for ``inputs`` (a missing or unreadable input is reported and the others kept), then
    shard I of N: ``shard_of``, or under torchrun this process's rank of the world."""
    jobs, failed = [], 0
    for p in inputs:
        try:
            jobs += collect_jobs([p], out_dir, sample_rate)
        except NSynthError as e:
            on_error(str(e))
            failed += 1
    jobs = _unique_sorted(jobs, out_dir)
    dist = dist_shard()
    if shard_of is None and dist is not None:
        shard_of = (dist[0], dist[1])
    mine = shard(jobs, *shard_of) if shard_of is not None else jobs
    return Plan(jobs, mine, failed, shard_of is not None)


def iter_embeddings(path: Path) -> Iterator[tuple[str, np.ndarray, dict]]:
    """(note name, (frames, D) embedding, NSynth metadata) from a consolidated .npz, a folder
    of .npy (names relative to it) or one .npy. Only the .npz carries metadata."""
    if path.is_file() and path.suffix == ".npz":
        emb, off, rows = read_index(path)
        for k, row in enumerate(rows):
            yield row["name"], emb[off[k] : off[k + 1]], row["meta"]
    elif path.is_dir():
        for f in sorted(path.rglob("*.npy")):
            yield note_name(f, path), np.load(f, allow_pickle=False), {}
    elif path.is_file() and path.suffix == ".npy":
        yield path.stem, np.load(path, allow_pickle=False), {}
    else:
        raise NSynthError(f"{path}: not an embedding folder, .npy or consolidated .npz")
