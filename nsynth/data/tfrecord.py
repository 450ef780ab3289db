"""NSynth TFRecord files, read (and, for tests and export, written) without TensorFlow.

A TFRecord file is a sequence of records: uint64 length, uint32 masked CRC-32C of the
length, the payload, uint32 masked CRC-32C of the payload. Each payload is a serialized
``tf.train.Example``; we decode its small protobuf subset by hand (wire types 0 and 2).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np

from nsynth.audio import resample
from nsynth.data.notes import FAMILIES, SOURCES, Note, NoteDataset
from nsynth.errors import NSynthError

_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --- protobuf wire format -------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated field")
            val, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        elif wire == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield num, wire, val


def parse_example(payload: bytes) -> dict[str, Any]:
    """Serialized tf.train.Example -> {name: list of bytes | float32 array | int64 array}."""
    out: dict[str, Any] = {}
    for num, _, features in _fields(payload):
        if num != 1:
            continue
        for fnum, _, entry in _fields(features):  # map<string, Feature> entries
            if fnum != 1:
                continue
            name, feature = None, b""
            for enum, _, v in _fields(entry):
                if enum == 1:
                    name = v.decode()
                elif enum == 2:
                    feature = v
            for kind, _, lst in _fields(feature):
                values = [v for n, _, v in _fields(lst) if n == 1] if lst else []
                if kind == 1:
                    out[name] = values
                elif kind == 2:  # packed float32 (or one value per field if unpacked)
                    raw = b"".join(values)
                    out[name] = np.frombuffer(raw, dtype="<f4").copy()
                elif kind == 3:
                    ints: list[int] = []
                    for _, w, v in _fields(lst):
                        if w == 2:
                            p = 0
                            while p < len(v):
                                x, p = _varint(v, p)
                                ints.append(x - (1 << 64) if x >= 1 << 63 else x)
                        else:
                            ints.append(v - (1 << 64) if v >= 1 << 63 else v)
                    out[name] = np.array(ints, dtype=np.int64)
    return out


def _len_delim(num: int, data: bytes) -> bytes:
    return _enc_varint((num << 3) | 2) + _enc_varint(len(data)) + data


def _enc_varint(x: int) -> bytes:
    x &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = x & 0x7F
        x >>= 7
        out.append(b | (0x80 if x else 0))
        if not x:
            return bytes(out)


def serialize_example(features: dict[str, Any]) -> bytes:
    """{name: str | bytes | int | float array | int array} -> serialized tf.train.Example."""
    entries = b""
    for name, value in features.items():
        if isinstance(value, (str, bytes)):
            raw = value.encode() if isinstance(value, str) else value
            feature = _len_delim(1, _len_delim(1, raw))
        else:
            arr = np.atleast_1d(np.asarray(value))
            if arr.dtype.kind == "f":
                feature = _len_delim(2, _len_delim(1, arr.astype("<f4").tobytes()))
            else:
                feature = _len_delim(3, _len_delim(1, b"".join(_enc_varint(int(v)) for v in arr)))
        entries += _len_delim(1, _len_delim(1, name.encode()) + _len_delim(2, feature))
    return _len_delim(1, entries)


def write_tfrecord(path: str | Path, payloads: list[bytes]) -> None:
    with open(path, "wb") as f:
        for p in payloads:
            length = struct.pack("<Q", len(p))
            f.write(length + struct.pack("<I", masked_crc(length)) + p + struct.pack("<I", masked_crc(p)))


def iter_records(f: BinaryIO, name: str, verify: bool = False) -> Iterator[bytes]:
    """Payloads of a TFRecord stream; the length CRC is always checked, the payload's if ``verify``."""
    index = 0
    while True:
        head = f.read(12)
        if not head:
            return
        if len(head) < 12:
            raise NSynthError(f"{name}: truncated TFRecord (record {index} header)")
        length, crc = struct.unpack("<QI", head)
        if masked_crc(head[:8]) != crc:
            raise NSynthError(f"{name}: not a TFRecord file or corrupt (record {index} length checksum)")
        payload = f.read(length)
        tail = f.read(4)
        if len(payload) < length or len(tail) < 4:
            raise NSynthError(f"{name}: truncated TFRecord (record {index})")
        if verify and masked_crc(payload) != struct.unpack("<I", tail)[0]:
            raise NSynthError(f"{name}: corrupt TFRecord (record {index} payload checksum)")
        yield payload
        index += 1


def _label(names: list[str], value: Any) -> str | None:
    try:
        return names[int(np.asarray(value).ravel()[0])]
    except (IndexError, ValueError, TypeError):
        return None


def _note(ex: dict[str, Any], path: Path, index: int) -> tuple[Note, np.ndarray]:
    try:
        key = ex["note_str"][0].decode()
        wav = ex["audio"].astype(np.float32)
        pitch = int(ex["pitch"][0])
    except (KeyError, IndexError, ValueError, UnicodeDecodeError) as e:
        raise NSynthError(f"{path}: record {index} is not an NSynth example ({e})") from None
    if wav.size == 0 or not np.isfinite(wav).all():
        raise NSynthError(f"{path}: note {key} has empty or non-finite audio")
    note = Note(
        key=key,
        pitch=pitch,
        velocity=int(ex["velocity"][0]) if "velocity" in ex else None,
        instrument=str(int(ex["instrument"][0])) if "instrument" in ex else None,
        family=_label(FAMILIES, ex["instrument_family"]) if "instrument_family" in ex else None,
        source=_label(SOURCES, ex["instrument_source"]) if "instrument_source" in ex else None,
        extra={"qualities": ex["qualities"].tolist()} if "qualities" in ex else {},
    )
    return note, wav


def read_nsynth_tfrecord(paths: list[Path], sample_rate: int = 16000, file_rate: int = 16000) -> NoteDataset:
    """Index NSynth TFRecord files (features note_str, pitch, velocity, audio,
    instrument_family, instrument_source, qualities).

    One pass reads the metadata and remembers where each record lies; audio is read
    back from disk on demand, so memory stays bounded for the full dataset.
    """
    notes: list[Note] = []
    where: list[tuple[Path, int]] = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                for payload in iter_records(f, str(path)):
                    note, _ = _note(parse_example(payload), path, len(notes))
                    notes.append(note)
                    where.append((path, f.tell() - 4 - len(payload)))
        except OSError as e:
            raise NSynthError(f"{path}: cannot read ({e.strerror or e})") from None

    def load(i: int) -> np.ndarray:
        path, offset = where[i]
        with open(path, "rb") as f:
            f.seek(offset - 12)
            payload = next(iter_records(f, str(path)))
        return resample(_note(parse_example(payload), path, i)[1], file_rate, sample_rate)

    return NoteDataset(",".join(map(str, paths)), notes, load, sample_rate)
