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


def f0_track(audio: np.ndarray, sr: int, hop: int = 512) -> np.ndarray:
    """pYIN f0 (Hz) of (T,) audio, one value per ``hop`` (frames centred on i * hop), NaN where unvoiced."""
    frame = 2048
    if audio.size < frame:
        audio = np.pad(audio, (0, frame - audio.size))
    f0, voiced, _ = librosa.pyin(
        audio.astype(np.float32), fmin=FMIN, fmax=FMAX, sr=sr, frame_length=frame, hop_length=hop
    )
    return np.where(voiced & np.isfinite(f0), f0, np.nan)


def voiced_f0(audio: np.ndarray, sr: int, hop: int = 512, track: np.ndarray | None = None) -> np.ndarray:
    """f0 (Hz) of the voiced pYIN frames of (T,) audio (or of a ``f0_track`` already computed); empty if none."""
    track = f0_track(audio, sr, hop) if track is None else track
    return track[np.isfinite(track)]


def f0_frames(audio: np.ndarray, sr: int, hop: int = 512, track: np.ndarray | None = None) -> np.ndarray | None:
    """Per-frame f0 (Hz) of (T,) audio for the decoder's pitch lock, or None if nothing is voiced.

    One value per frame of ``hop`` samples (ceil(T / hop) frames), at the frame's centre
    f * hop + (hop - 1) / 2: pYIN's f0 track (hop ``hop``, centred frames) with a 3-frame
    median against single-frame octave slips, interpolated in log-frequency across unvoiced
    frames and held at the ends.
    """
    frames = max(1, -(-audio.size // hop))
    # ``track``: the audio's ``f0_track`` at this hop, when the caller has it already
    f0 = f0_track(audio, sr, hop) if track is None else track
    ok = np.isfinite(f0)
    if not ok.any():
        return None
    pos = np.arange(f0.size) * hop  # pYIN frame i is centred on sample i * hop
    logf = np.log2(f0[ok])
    if logf.size >= 3:
        logf = np.concatenate([logf[:1], np.median(np.stack([logf[:-2], logf[1:-1], logf[2:]]), axis=0), logf[-1:]])
    centres = np.arange(frames) * hop + (hop - 1) / 2
    return (2.0 ** np.interp(centres, pos[ok], logf)).astype(np.float64)


def estimate_pitch(audio: np.ndarray, sr: int, name: str = "audio", max_seconds: float = 1.0) -> PitchEstimate:
    """MIDI pitch of a (T,) note, from its first ``max_seconds`` (a note's pitch is set by
    then, and pYIN's cost grows with length). Raises ``NSynthError`` naming ``name`` when
    no pitch is found."""
    audio = audio[: int(max_seconds * sr)]
    f0 = voiced_f0(audio, sr, hop=1024)
    if f0.size == 0:
        sound = int(np.flatnonzero(audio)[-1]) + 1 if audio.any() else 0  # its length before any padding
        if 0 < sound < 2048:  # shorter than one frame of f0_track's pYIN
            raise NSynthError(
                f"{name}: too short to find its pitch ({sound / sr:.2g} s; needs at least {2048 / sr:.2g} s);"
                " give one with --pitch MIDI"
            )
        raise NSynthError(f"{name}: no pitch found (silent or unpitched); give one with --pitch MIDI")
    hz = float(np.median(f0))
    midi = int(np.clip(np.round(librosa.hz_to_midi(hz)), 0, 127))
    frames = 1 + max(audio.size, 2048) // 1024
    return PitchEstimate(midi, hz, min(1.0, f0.size / frames))
