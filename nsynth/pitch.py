"""Pitch estimation (librosa's pYIN) for notes whose MIDI pitch is not given."""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

from nsynth.errors import NSynthError

FMIN = librosa.note_to_hz("A0")  # 27.5 Hz, the lowest NSynth pitch (MIDI 21)
FMAX = librosa.note_to_hz("C8")  # 4186 Hz, the highest (MIDI 108)


@dataclass(frozen=True)
class PitchEstimate:
    midi: int  # nearest MIDI note
    hz: float  # median f0 over voiced frames
    voiced_fraction: float


def voiced_f0(audio: np.ndarray, sr: int, hop: int = 512) -> np.ndarray:
    """f0 (Hz) of the voiced pYIN frames of (T,) audio; empty if nothing is voiced."""
    frame = 2048
    if audio.size < frame:
        audio = np.pad(audio, (0, frame - audio.size))
    f0, voiced, _ = librosa.pyin(
        audio.astype(np.float32), fmin=FMIN, fmax=FMAX, sr=sr, frame_length=frame, hop_length=hop
    )
    return f0[voiced & np.isfinite(f0)]


def estimate_pitch(audio: np.ndarray, sr: int, name: str = "audio", max_seconds: float = 1.0) -> PitchEstimate:
    """MIDI pitch of a (T,) note, from its first ``max_seconds`` (a note's pitch is set by
    then, and pYIN's cost grows with length). Raises ``NSynthError`` naming ``name`` when
    no pitch is found."""
    audio = audio[: int(max_seconds * sr)]
    f0 = voiced_f0(audio, sr, hop=1024)
    if f0.size == 0:
        raise NSynthError(f"{name}: no pitch found (silent or unpitched); give one with --pitch MIDI")
    hz = float(np.median(f0))
    midi = int(np.clip(np.round(librosa.hz_to_midi(hz)), 0, 127))
    frames = 1 + max(audio.size, 2048) // 1024
    return PitchEstimate(midi, hz, min(1.0, f0.size / frames))
