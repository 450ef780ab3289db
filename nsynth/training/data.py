"""Training data as the model sees it: notes decoded once to 8-bit mu-law codes (or, for the
parallel decoder, whose targets are not quantised, 16-bit PCM), cached on disk, and random crops
drawn from a counter-based RNG so any step's batch can be redrawn."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from nsynth.data import NoteDataset
from nsynth.errors import NSynthError
from nsynth.files import atomic_path
from nsynth.mulaw import dequantize, quantize
from nsynth.pitch import note_f0
from nsynth.training.augment import ROOM_SAMPLES, in_room


@dataclass
class CodeSet:
    """Notes as 8-bit mu-law codes (exactly what the WaveNet sees) or 16-bit PCM, plus their pitches."""

    codes: np.ndarray  # (N, T) int8 mu-law codes, or int16 PCM; each note zero-padded to the longest
    lengths: np.ndarray  # (N,) true lengths
    pitch: np.ndarray  # (N,) int64, -1 where unknown
    families: list[str | None]
    f0: np.ndarray | None = None  # (N, F) float32 Hz per frame of hop samples (``with_f0``), NaN where unknown

    def pitched(self) -> CodeSet:
        """Only the notes with a pitch label."""
        keep = self.pitch >= 0
        return CodeSet(
            self.codes[keep],
            self.lengths[keep],
            self.pitch[keep],
            [f for f, k in zip(self.families, keep) if k],
            None if self.f0 is None else self.f0[keep],
        )

    @property
    def pcm(self) -> bool:
        """Whether ``codes`` are 16-bit PCM (else 8-bit mu-law)."""
        return self.codes.dtype == np.int16

    def audio(self, codes: np.ndarray) -> torch.Tensor:
        """Rows of ``codes`` (as this set stores them) -> float audio in [-1, 1)."""
        if self.pcm:
            return torch.from_numpy(codes.astype(np.float32) / 32768.0)
        return dequantize(torch.from_numpy(codes).long() + 128)


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nsynth" / "codes"


def load_codes(
    ds: NoteDataset, min_length: int = 1, progress: bool = True, cache: bool = True, pcm: bool = False
) -> CodeSet:
    """Decode every note once to int8 mu-law codes (1 byte per sample), or with ``pcm`` to
    int16 PCM (2 bytes), cached on disk."""
    if len(ds) == 0:
        raise NSynthError(f"{ds.name}: no notes to train on")
    path = _cache_dir() / f"{_key(ds, ['pcm16'] if pcm else [])}.npz"
    if cache and path.exists():
        with np.load(path, allow_pickle=False) as z:
            fam = [f or None for f in z["families"].tolist()]
            return CodeSet(z["codes"], z["lengths"], z["pitch"], fam)
    # One preallocated (N, T) array, widened in the rare case of a longer note: per-note
    # arrays would each keep a heap hole of the float decode's size (~4x the codes' memory).
    codes = np.zeros((len(ds), min_length), np.int16 if pcm else np.int8)
    lengths = np.zeros(len(ds), np.int64)
    for i in tqdm(range(len(ds)), desc="decoding notes", unit="note", disable=not progress):
        code = _pcm16(ds.load(i)) if pcm else (quantize(torch.from_numpy(ds.load(i))) - 128).to(torch.int8).numpy()
        if code.size > codes.shape[1]:
            codes = np.pad(codes, ((0, 0), (0, code.size - codes.shape[1])))
        codes[i, : code.size] = code
        lengths[i] = code.size
    out = CodeSet(
        codes,
        lengths,
        np.array([-1 if n.pitch is None else n.pitch for n in ds.notes]),
        [n.family for n in ds.notes],
    )
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, force=True) as tmp:
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    codes=out.codes,
                    lengths=out.lengths,
                    pitch=out.pitch,
                    families=np.array([f or "" for f in out.families]),
                )
    return out


def _key(ds: NoteDataset, extra: list) -> str:
    what = [ds.name, ds.sample_rate, [n.key for n in ds.notes]] + extra
    return hashlib.sha1(json.dumps(what).encode()).hexdigest()[:16]


# of ``note_f0``: a change to it that moves its curves bumps this (and the cache); 2: ``suboctave``, 3: 25 cents
F0_VERSION = 3
_F0_WORK: tuple[CodeSet, int, int] | None = None  # what the forked workers of ``with_f0`` read


def _f0_rows(rows: range) -> np.ndarray:
    codes, sr, hop = _F0_WORK
    frames = -(-codes.codes.shape[1] // hop)
    out = np.full((len(rows), frames), np.nan, np.float32)
    for j, n in enumerate(rows):
        if codes.pitch[n] >= 0:
            x = codes.audio(codes.codes[n, : codes.lengths[n]]).numpy()
            f = note_f0(x, sr, int(codes.pitch[n]), hop, glide=False)
            out[j, : f.size] = f
            out[j, f.size :] = f[-1]  # the zero padding holds the last frame's f0
    return out


def with_f0(
    ds: NoteDataset, codes: CodeSet, hop: int, progress: bool = True, cache: bool = True, workers: int = 1
) -> CodeSet:
    """``codes`` with each labelled note's own f0 curve (``nsynth.pitch.note_f0`` around its
    label, the curve a parallel model follows at inference: where the note really sits; of the
    SoundFont training notes 14 % sit 10 cents or more from their label, 30 % 5 or more, and ~6 %
    repeat at twice the label's period), (N, ceil(T / hop)) Hz per frame, cached on disk beside
    the codes; ``workers`` processes (forked: they share the codes) compute it the first time (~25 ms a note)."""
    global _F0_WORK
    path = _cache_dir() / f"{_key(ds, ['f0', F0_VERSION, hop, codes.pcm])}.npy"
    if cache and path.exists():
        f0 = np.load(path, allow_pickle=False)
        if f0.shape == (len(codes.codes), -(-codes.codes.shape[1] // hop)):
            return dataclasses.replace(codes, f0=f0)
    n = len(codes.codes)
    chunks = [range(i, min(n, i + 256)) for i in range(0, n, 256)]
    _F0_WORK = (codes, ds.sample_rate, hop)
    bar = tqdm(total=n, desc="tracking f0", unit="note", disable=not progress)
    forked = workers > 1 and "fork" in multiprocessing.get_all_start_methods()
    pool = multiprocessing.get_context("fork").Pool(workers) if forked else None
    try:
        parts = []
        for part in pool.imap(_f0_rows, chunks) if pool else map(_f0_rows, chunks):
            parts.append(part)
            bar.update(len(part))
    finally:
        _F0_WORK = None
        bar.close()
        if pool:
            pool.close()
            pool.join()
    f0 = np.concatenate(parts)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, force=True) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, f0, allow_pickle=False)
    return dataclasses.replace(codes, f0=f0)


def _pcm16(audio: np.ndarray) -> np.ndarray:
    """(T,) float audio -> int16 PCM, clipped to [-1, 1)."""
    return np.clip(np.round(np.asarray(audio, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


class CropBatches(torch.utils.data.Dataset):
    """Map-style dataset whose item ``s`` is the whole batch of step ``s``: random crops,
    drawn from a counter-based RNG so any step can be reproduced (exact resume)."""

    def __init__(
        self,
        data: CodeSet,
        crop: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        start: int = 0,
        stop: int = 2**62,
        rooms: float = 0.0,
        level_db: float = 0.0,
        align: int = 1,
    ) -> None:
        """``rooms``: probability per crop of a synthetic room (``augment.in_room``); ``level_db``:
        each crop attenuated by a uniform 0..level_db dB. Without them a step's batch is the same
        as before they existed (their draws come after the crops'). ``align``: crops start at a
        multiple of it (whole frames: the encoder sees the framing it sees in use)."""
        self.data, self.crop, self.batch_size = data, crop, batch_size
        self.seed, self.rank, self.start, self.stop = seed, rank, start, stop
        self.rooms, self.level_db, self.align = rooms, level_db, align

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        """(batch_size, crop) audio in [-1, 1] (mu-law decoded, or PCM) and (batch_size,) pitches;
        where the set has f0 curves, (batch_size, crop / align) the crops' f0 per frame too."""
        step = self.start + i
        rng = np.random.default_rng([self.seed, self.rank, step])
        idx = rng.integers(0, len(self.data.codes), self.batch_size)
        out = np.zeros((self.batch_size, self.crop), self.data.codes.dtype)
        offsets = []
        for j, n in enumerate(idx):
            room = max(0, int(self.data.lengths[n]) - self.crop)
            off = int(rng.integers(0, room + 1)) if self.align == 1 else self.align * int(rng.integers(0, room // self.align + 1))
            piece = self.data.codes[n, off : off + self.crop]
            out[j, : piece.size] = piece
            offsets.append(off)
        audio = self.data.audio(out)
        if self.rooms > 0 or self.level_db > 0:
            audio = self._augmented(audio, idx, offsets, rng)
        pitch = torch.from_numpy(self.data.pitch[idx].astype(np.int64))
        if self.data.f0 is None:
            return audio, pitch
        frames = self.crop // self.align
        f0 = np.stack([self.data.f0[n, off // self.align : off // self.align + frames] for n, off in zip(idx, offsets)])
        return audio, pitch, torch.from_numpy(f0)

    def _augmented(
        self, audio: torch.Tensor, idx: np.ndarray, offsets: list[int], rng: np.random.Generator
    ) -> torch.Tensor:
        """(B, crop) crops -> the same with rooms and levels applied, back on the 8-bit grid."""
        x = audio.double().numpy().copy()
        for j, (n, off) in enumerate(zip(idx, offsets)):
            if self.rooms > 0 and rng.random() < self.rooms:
                lead = max(0, off - ROOM_SAMPLES)
                before = self.data.audio(self.data.codes[n, lead:off]).double().numpy()
                x[j] = in_room(np.concatenate([before, x[j]]), self.crop, rng)
            if self.level_db > 0:
                x[j] *= 10 ** (-rng.uniform(0, self.level_db) / 20)
        if self.data.pcm:
            return torch.from_numpy(_pcm16(x).astype(np.float32) / 32768.0)
        return dequantize(quantize(torch.from_numpy(x).float()))
