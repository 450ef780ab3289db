"""Embedding extraction over whole datasets: mirrored outputs, resumable, sharded, bounded memory.

Inputs are audio files, folders (recursive) and NSynth datasets (JSON/WAV or TFRecord).
Each note becomes ``OUT/<relative path>/<stem>.npy`` (float32, (frames, latent_dim)):
a folder argument's tree is mirrored under its own name, an NSynth dataset's notes go
under the dataset's name as ``<note_str>.npy``, and files given directly go to
``OUT/<stem>.npy``. Files whose stems collide in one output folder keep their extension
(``x.wav.npy``, ``x.flac.npy``). Outputs are written atomically, so an existing output is
complete and a re-run skips it. Long files are encoded in windows with enough context
that the result equals encoding the whole file.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

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
from nsynth.generation.notes import encode_audio
from nsynth.model import NSynthAutoencoder
from nsynth.mulaw import audio_to_input


@dataclass(frozen=True)
class Job:
    """One note to encode: where its audio comes from and where its embedding goes."""

    out: Path
    load: Callable[[], np.ndarray] = field(compare=False, repr=False)
    source: str = ""
    meta: dict = field(default_factory=dict, compare=False)


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
    return _unique_sorted(jobs)


def _unique_sorted(jobs: list[Job]) -> list[Job]:
    outs = unique_outputs([j.out for j in jobs], [Path(j.source.split(":")[-1]).name for j in jobs])
    return sorted((Job(o, j.load, j.source, j.meta) for o, j in zip(outs, jobs)), key=lambda j: str(j.out))


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


def consolidate(jobs: list[Job], path: Path, latent_dim: int, hop: int, sample_rate: int) -> int:
    """Stream every job's embedding into one ``.npz``: ``embeddings`` (total_frames, D),
    ``offsets`` (N + 1,) and ``index`` (JSON: path, output, duration, frames, metadata)."""
    done = [j for j in jobs if is_complete(j.out, latent_dim)]
    shapes = [np.load(j.out, mmap_mode="r").shape[0] for j in done]
    offsets = np.concatenate([[0], np.cumsum(shapes)]).astype(np.int64)
    index = [
        {"source": j.source, "output": str(j.out), "frames": n, "duration": n * hop / sample_rate, **j.meta}
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
            with zf.open("index.npy", "w") as f:
                np.lib.format.write_array(f, np.array(json.dumps(index)))
    return len(done)


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
    jobs = _unique_sorted(jobs)
    dist = dist_shard()
    if shard_of is None and dist is not None:
        shard_of = (dist[0], dist[1])
    mine = shard(jobs, *shard_of) if shard_of is not None else jobs
    return Plan(jobs, mine, failed, shard_of is not None)


def iter_embeddings(path: Path) -> Iterator[tuple[str, np.ndarray, dict]]:
    """(name, (frames, D) embedding, metadata) from a consolidated .npz or a folder of .npy."""
    if path.is_file() and path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            emb, off = z["embeddings"], z["offsets"]
            for k, entry in enumerate(json.loads(str(z["index"]))):
                yield entry["source"], emb[off[k] : off[k + 1]], entry
    elif path.is_dir():
        for f in sorted(path.rglob("*.npy")):
            yield str(f.relative_to(path)), np.load(f, allow_pickle=False), {}
    elif path.is_file() and path.suffix == ".npy":
        yield path.name, np.load(path, allow_pickle=False), {}
    else:
        raise NSynthError(f"{path}: not an embedding folder, .npy or consolidated .npz")
