"""Audio in and out: whatever soundfile reads, at any rate and channel count.

Loading returns mono float32 at the model rate (16 kHz by default); every problem is an
``AudioError`` whose message starts with the file name. Writing is 16-bit PCM WAV (or
32-bit float), atomic, and never overwrites without ``force``.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from nsynth.errors import AudioError, ClipError, NSynthError
from nsynth.files import atomic_path

SAMPLE_RATE = 16000
SUBTYPES = {"pcm16": "PCM_16", "float": "FLOAT"}


def resample(audio: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """(T,) float32 at ``orig_sr`` -> (T',) float32 at ``new_sr`` (band-limited sinc)."""
    if orig_sr == new_sr:
        return audio
    import torch  # here, not above: reading and writing files at the model rate need no torch
    import torchaudio.functional as AF

    out = AF.resample(torch.from_numpy(np.ascontiguousarray(audio)), orig_sr, new_sr)
    return out.numpy().astype(np.float32, copy=False)


#: The sample rates ``load_audio`` reads: telephone audio to the highest studio rate.
MIN_FILE_RATE, MAX_FILE_RATE = 1_000, 768_000


def check_rate(rate: int, what: str = "sample rate") -> int:
    """``rate`` if it is a positive whole number of Hz, else ``NSynthError`` naming it."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Integral) or rate <= 0:
        raise NSynthError(f"{what} {rate!r}: must be a whole number of Hz > 0")
    return int(rate)


def load_audio(
    path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, *, offset: float = 0.0, seconds: float | None = None
) -> np.ndarray:
    """Read an audio file as mono float32 (T,) at ``sample_rate``.

    Channels are averaged; other rates are resampled. ``offset`` / ``seconds``: read only the
    part of the file that starts ``offset`` seconds in and lasts ``seconds`` (default: to the
    end; a part running past the end stops there); the rest is not read. Raises ``AudioError``
    naming the file for a missing, unreadable, empty or non-finite file, and ``ClipError`` for
    a negative offset, an offset past the end or a length that is not positive.
    """
    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory, not an audio file")
    _check_clip(str(p), offset, seconds)
    try:
        with sf.SoundFile(str(p)) as f:
            sr, total = int(f.samplerate), int(f.frames)
            if not MIN_FILE_RATE <= sr <= MAX_FILE_RATE:  # a damaged header: resampling would not fit in memory
                raise AudioError(f"{p}: a sample rate of {sr} Hz (readable: {MIN_FILE_RATE:,} to {MAX_FILE_RATE:,} Hz)")
            start, count = _frame_range(str(p), total, sr, offset, seconds)
            if start and f.seekable():
                f.seek(start)
            elif start:
                f.read(start, dtype="float32")  # a stream that cannot seek: read past the start
            data = f.read(count, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise AudioError(f"{p}: not a readable audio file ({_reason(e)})") from None
    except OSError as e:
        raise AudioError(f"{p}: cannot read ({e.strerror or e})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{p}: contains no samples")
    if not np.isfinite(data).all():
        raise AudioError(f"{p}: contains NaN or infinite samples")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    out = resample(np.ascontiguousarray(mono), sr, sample_rate)
    if out.size == 0:
        raise AudioError(f"{p}: too short ({data.shape[0]} samples at {sr} Hz)")
    return out


def clip_audio(
    audio: np.ndarray, sample_rate: int, offset: float = 0.0, seconds: float | None = None, name: str = "audio"
) -> np.ndarray:
    """The part of (T,) audio at ``sample_rate`` that ``load_audio``'s ``offset`` / ``seconds``
    would read: (T',) with T' <= T. Raises ``ClipError`` naming ``name`` as ``load_audio`` does."""
    _check_clip(name, offset, seconds)
    if audio.size == 0:
        raise AudioError(f"{name}: contains no samples")
    start, count = _frame_range(name, audio.size, sample_rate, offset, seconds)
    return audio[start : start + count]


def _check_clip(name: str, offset: float, seconds: float | None) -> None:
    if not (math.isfinite(offset) and offset >= 0):
        raise ClipError(name, "offset", offset, "must be a number of seconds >= 0")
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise ClipError(name, "seconds", seconds, "must be a number of seconds > 0")


def _frame_range(name: str, total: int, sr: int, offset: float, seconds: float | None) -> tuple[int, int]:
    """(first frame, frame count) of the part of ``total`` frames at ``sr`` that offset/seconds select."""
    start = round(offset * sr)
    if total and start >= total:
        raise ClipError(name, "offset", offset, f"past the end (the sound is {total / sr:.2f} s long)")
    left = total - start
    return start, left if seconds is None else min(left, max(1, round(seconds * sr)))


def save_audio(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    fmt: str = "pcm16",
    force: bool = False,
    file_rate: int | None = None,
) -> None:
    """Write (T,) float audio at ``sample_rate`` as a WAV file, atomically; refuses to overwrite
    unless ``force``. ``file_rate``: the file's rate (e.g. 44100 for a DAW), resampled to from
    ``sample_rate`` (default: ``sample_rate``, no resampling)."""
    if fmt not in SUBTYPES:
        raise ValueError(f"unknown output format {fmt!r}; choose one of {sorted(SUBTYPES)}")
    audio = np.asarray(audio, dtype=np.float32)
    if file_rate is not None and file_rate != sample_rate:
        check_rate(file_rate)
        audio, sample_rate = resample(audio, sample_rate, file_rate), file_rate
    if fmt == "pcm16":
        audio = np.clip(audio, -1.0, 1.0)
    with atomic_path(path, force=force) as tmp:
        sf.write(str(tmp), audio, sample_rate, subtype=SUBTYPES[fmt], format="WAV")


def _reason(e: Exception) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    # libsndfile repeats the path in its message; keep only the reason.
    return msg.split(": ", 1)[-1] if ": " in msg else msg
