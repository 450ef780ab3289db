"""Audio in and out: whatever soundfile reads, at any rate and channel count.

Loading returns mono float32 at the model rate (16 kHz by default); every problem is an
``AudioError`` whose message starts with the file name. Writing is 16-bit PCM WAV (or
32-bit float), atomic, and never overwrites without ``force``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from nsynth.errors import AudioError
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


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read an audio file as mono float32 (T,) at ``sample_rate``.

    Channels are averaged; other rates are resampled. Raises ``AudioError`` naming the
    file for a missing, unreadable, empty or non-finite file.
    """
    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory, not an audio file")
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise AudioError(f"{p}: not a readable audio file ({_reason(e)})") from None
    except OSError as e:
        raise AudioError(f"{p}: cannot read ({e.strerror or e})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{p}: contains no samples")
    if not np.isfinite(data).all():
        raise AudioError(f"{p}: contains NaN or infinite samples")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    out = resample(np.ascontiguousarray(mono), int(sr), sample_rate)
    if out.size == 0:
        raise AudioError(f"{p}: too short ({data.shape[0]} samples at {sr} Hz)")
    return out


def save_audio(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    fmt: str = "pcm16",
    force: bool = False,
) -> None:
    """Write (T,) float audio as a WAV file, atomically; refuses to overwrite unless ``force``."""
    if fmt not in SUBTYPES:
        raise ValueError(f"unknown output format {fmt!r}; choose one of {sorted(SUBTYPES)}")
    audio = np.asarray(audio, dtype=np.float32)
    if fmt == "pcm16":
        audio = np.clip(audio, -1.0, 1.0)
    with atomic_path(path, force=force) as tmp:
        sf.write(str(tmp), audio, sample_rate, subtype=SUBTYPES[fmt], format="WAV")


def _reason(e: Exception) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    # libsndfile repeats the path in its message; keep only the reason.
    return msg.split(": ", 1)[-1] if ": " in msg else msg
