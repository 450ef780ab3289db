"""Read TensorFlow V2 checkpoints (tensor bundles) without TensorFlow.

A bundle is ``PREFIX.index``, a LevelDB-style SSTable mapping each variable name to a
``BundleEntryProto`` (dtype, shape, shard, offset, size, masked CRC-32C), and data
shards ``PREFIX.data-NNNNN-of-MMMMM`` holding the raw little-endian tensor bytes. The
empty key holds the ``BundleHeaderProto``. Only uncompressed blocks are supported (TF
writes its index uncompressed).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nsynth.data.tfrecord import _fields, _varint, masked_crc
from nsynth.errors import CheckpointError

_MAGIC = 0xDB4775248B80FB57
_DTYPES = {
    1: "<f4",
    2: "<f8",
    3: "<i4",
    4: "u1",
    5: "<i2",
    6: "i1",
    9: "<i8",
    10: "?",
    19: "<f2",
    17: "<u2",
    22: "<u4",
    23: "<u8",
}
_CRC_LIMIT = 1 << 18  # verify checksums of tensors up to 256 KiB (pure-Python CRC is slow)


@dataclass(frozen=True)
class Entry:
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc: int | None


def _block(data: bytes, offset: int, size: int, name: str) -> list[tuple[bytes, bytes]]:
    if offset + size + 5 > len(data):
        raise CheckpointError(f"{name}: truncated index (block at {offset})")
    if data[offset + size] != 0:
        raise CheckpointError(f"{name}: compressed index blocks are not supported")
    block = data[offset : offset + size]
    n_restarts = struct.unpack("<I", block[-4:])[0]
    end = len(block) - 4 - 4 * n_restarts
    out, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        out.append((key, block[pos : pos + vlen]))
        pos += vlen
    return out


def _entry(value: bytes) -> Entry:
    dtype, shape, shard, offset, size, crc = 0, [], 0, 0, 0, None
    for num, _, v in _fields(value):
        if num == 1:
            dtype = v
        elif num == 2:
            shape = [next((d for n, _, d in _fields(dim) if n == 1), 0) for n, _, dim in _fields(v) if n == 2]
        elif num == 3:
            shard = v
        elif num == 4:
            offset = v
        elif num == 5:
            size = v
        elif num == 6:
            crc = struct.unpack("<I", v)[0]
        elif num == 7:
            raise ValueError("sliced (partitioned) variables are not supported")
    return Entry(dtype, tuple(shape), shard, offset, size, crc)


class TFCheckpoint:
    """``names()``, ``shape(name)`` and ``read(name) -> np.ndarray`` over a V2 checkpoint."""

    def __init__(self, prefix: str | os.PathLike) -> None:
        prefix = str(prefix)
        for suffix in (".index", ".meta"):
            if prefix.endswith(suffix):
                prefix = prefix[: -len(suffix)]
        if Path(prefix).is_dir():  # a folder with a `checkpoint` file naming the latest prefix
            prefix = _latest(Path(prefix))
        self.prefix = prefix
        index = Path(prefix + ".index")
        if not index.is_file():
            raise CheckpointError(f"{index}: no such file (expected a TensorFlow checkpoint prefix)")
        data = index.read_bytes()
        name = str(index)
        if len(data) < 48 or struct.unpack("<Q", data[-8:])[0] != _MAGIC:
            raise CheckpointError(f"{name}: not a TensorFlow checkpoint index (bad magic number)")
        try:
            footer = data[-48:-8]
            _, p = _varint(footer, 0)
            _, p = _varint(footer, p)
            idx_off, p = _varint(footer, p)
            idx_size, p = _varint(footer, p)
            self.entries: dict[str, Entry] = {}
            num_shards = 1
            for _, handle in _block(data, idx_off, idx_size, name):
                off, q = _varint(handle, 0)
                size, _ = _varint(handle, q)
                for key, value in _block(data, off, size, name):
                    if key == b"":
                        num_shards = next((v for n, _, v in _fields(value) if n == 1), 1)
                    else:
                        self.entries[key.decode()] = _entry(value)
        except (ValueError, IndexError, struct.error) as e:
            raise CheckpointError(f"{name}: corrupt checkpoint index ({e})") from None
        self.num_shards = num_shards

    def names(self) -> list[str]:
        return sorted(self.entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.entries[name].shape

    def _shard(self, i: int) -> Path:
        return Path(f"{self.prefix}.data-{i:05d}-of-{self.num_shards:05d}")

    def read(self, name: str) -> np.ndarray:
        e = self.entries[name]
        if e.dtype not in _DTYPES:
            raise CheckpointError(f"{self.prefix}: {name} has unsupported dtype {e.dtype}")
        path = self._shard(e.shard)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such file (data shard of {self.prefix})")
        with open(path, "rb") as f:
            f.seek(e.offset)
            raw = f.read(e.size)
        if len(raw) < e.size:
            raise CheckpointError(
                f"{path}: truncated ({name} needs bytes {e.offset}..{e.offset + e.size}, "
                f"file has {path.stat().st_size})"
            )
        if e.crc is not None and e.size <= _CRC_LIMIT and masked_crc(raw) != e.crc:
            raise CheckpointError(f"{path}: checksum mismatch for {name} (corrupt file)")
        arr = np.frombuffer(raw, dtype=_DTYPES[e.dtype])
        n = int(np.prod(e.shape)) if e.shape else 1
        if arr.size != n:
            raise CheckpointError(f"{path}: {name} holds {arr.size} values for shape {e.shape}")
        return arr.reshape(e.shape).copy()


def _latest(folder: Path) -> str:
    ckpt = folder / "checkpoint"
    if ckpt.is_file():
        for line in ckpt.read_text().splitlines():
            if line.startswith("model_checkpoint_path:"):
                p = line.split(":", 1)[1].strip().strip('"')
                return str(folder / p) if not os.path.isabs(p) else p
    indexes = sorted(folder.glob("*.index"))
    if not indexes:
        raise CheckpointError(f"{folder}: no TensorFlow checkpoint in this folder")
    return str(indexes[-1])[: -len(".index")]
