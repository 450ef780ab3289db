"""Pitch estimation (pYIN, ``nsynth.pyin``) for notes whose MIDI pitch is not given."""

from __future__ import annotations

import numbers
import re
import reprlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from nsynth.errors import NSynthError, OptionError

# nsynth.pyin (numba, scipy.fft) is imported where pYIN runs: parsing a pitch needs none of it.
FMIN = 440.0 * 2 ** ((21 - 69) / 12)  # 27.5 Hz (A0), the lowest NSynth pitch (MIDI 21)
FMAX = 440.0 * 2 ** ((108 - 69) / 12)  # 4186 Hz (C8), the highest (MIDI 108)


@dataclass(frozen=True)
class PitchEstimate:
    midi: int  # nearest MIDI note
    hz: float  # median f0 over voiced frames
    voiced_fraction: float


def f0_track(audio: np.ndarray, sr: int, hop: int = 512) -> np.ndarray:
    """pYIN f0 (Hz, equal to librosa.pyin's) of (T,) audio, one value per ``hop`` (frames centred on i * hop), NaN where unvoiced."""
    frame = 2048
    if audio.size < frame:
        audio = np.pad(audio, (0, frame - audio.size))
    from nsynth.pyin import pyin

    return pyin(audio.astype(np.float32), sr, FMIN, FMAX, frame=frame, hop=hop)[0]


def voiced_f0(audio: np.ndarray, sr: int, hop: int = 512, track: np.ndarray | None = None) -> np.ndarray:
    """f0 (Hz) of the voiced pYIN frames of (T,) audio (or of a ``f0_track`` already computed); empty if none."""
    track = f0_track(audio, sr, hop) if track is None else track
    return track[np.isfinite(track)]


def f0_frames(audio: np.ndarray, sr: int, hop: int = 512, track: np.ndarray | None = None) -> np.ndarray | None:
    """Per-frame f0 (Hz) of (T,) audio for the decoder's pitch lock, or None if nothing is voiced.

    One value per frame of ``hop`` samples (ceil(T / hop) frames), at the frame's centre
    f * hop + (hop - 1) / 2: pYIN's f0 track (hop ``hop``, centred frames) with a 3-frame
    median against single-frame octave slips, interpolated in log-frequency across unvoiced
    frames and held at the ends. Frames more than ``GATE_DB`` under the loudest are taken as
    unvoiced, whatever pYIN says: in a recording's tail pYIN finds a steady "pitch" in the
    noise (measured: trumpet C4 -> 93.2 at -78 dB, piano C4 -> 71.8 at -81 dB), which a decoder
    following the curve would play as a chirp out of the note's release.
    """
    frames = max(1, -(-audio.size // hop))
    # ``track``: the audio's ``f0_track`` at this hop, when the caller has it already
    f0 = f0_track(audio, sr, hop) if track is None else track
    ok = np.isfinite(f0) & (frame_db(audio, hop, f0.size) > -GATE_DB)
    if not ok.any():
        return None
    pos = np.arange(f0.size)[ok] * hop  # pYIN frame i is centred on sample i * hop
    logf = np.log2(f0[ok])
    if logf.size >= 3:
        logf = np.concatenate([logf[:1], np.median(np.stack([logf[:-2], logf[1:-1], logf[2:]]), axis=0), logf[-1:]])
    keep = steady_attack(12 * logf)
    centres = np.arange(frames) * hop + (hop - 1) / 2
    return (2.0 ** np.interp(centres, pos[keep:], logf[keep:])).astype(np.float64)


GATE_DB = 60.0  # f0_frames: frames this far under the note's loudest are unvoiced


def frame_db(audio: np.ndarray, hop: int, n: int) -> np.ndarray:
    """(n,) level in dB of the 2 * hop samples around each of ``n`` frame centres i * hop (as
    pYIN's frames are centred), relative to the loudest; -inf where silent (0 everywhere where
    the whole of ``audio`` is: no level to go by)."""
    a = np.pad(np.asarray(audio, dtype=np.float64), (hop, hop + n * hop))
    idx = np.arange(2 * hop)[None] + hop * np.arange(n)[:, None]
    rms = np.sqrt(np.mean(a[idx] ** 2, axis=1))
    if not rms.max() > 0:
        return np.zeros(n)
    with np.errstate(divide="ignore"):
        return 20 * np.log10(rms / rms.max())


def steady_attack(semitones: np.ndarray, window: int = 3, tolerance: float = 0.75, jump: float = 1.5) -> int:
    """How many leading frames of a voiced f0 track (in semitones, one value per voiced frame)
    belong to an attack that jumps into the note's pitch rather than gliding there.

    The note's steady start is the first frame from which ``window`` frames lie within
    ``tolerance`` semitones of their median. Walking back from it, the track is kept while each
    frame is within ``jump`` semitones of the next (a real glide or scoop, one frame = 32 ms);
    from the first larger jump back to the start, the frames are an attack transient (an octave
    slip of pYIN on a hammer or breath noise) and are dropped, so the f0 curve holds the steady
    pitch through the attack instead of sweeping into it. Returns 0 when no steady stretch exists.
    """
    n = semitones.size
    for start in range(0, n - window + 1):
        seg = semitones[start : start + window]
        if np.abs(seg - np.median(seg)).max() <= tolerance:
            break
    else:
        return 0
    for j in range(start - 1, -1, -1):
        if abs(semitones[j] - semitones[j + 1]) > jump:
            return j + 1
    return 0


def estimate_pitch(
    audio: np.ndarray,
    sr: int,
    name: str = "audio",
    max_seconds: float = 1.0,
    track: np.ndarray | None = None,
    hop: int = 1024,
) -> PitchEstimate:
    """MIDI pitch of a (T,) note, from its first ``max_seconds`` (a note's pitch is set by
    then, and pYIN's cost grows with length). ``track``: the whole note's ``f0_track`` at
    ``hop``, when the caller has it already (its frames in the first ``max_seconds`` are used,
    and no pYIN runs). Raises ``NSynthError`` naming ``name`` when no pitch is found."""
    audio = audio[: int(max_seconds * sr)]
    if track is not None:
        track = track[: 1 + max(audio.size, 2048) // hop]
    f0 = voiced_f0(audio, sr, hop=hop, track=track)
    if f0.size == 0:
        sound = int(np.flatnonzero(audio)[-1]) + 1 if audio.any() else 0  # its length before any padding
        if 0 < sound < 2048:  # shorter than one frame of f0_track's pYIN
            raise OptionError(
                "pitch",
                "auto",
                f"{name}: too short to find its pitch ({sound / sr:.2g} s; needs at least {2048 / sr:.2g} s);"
                " give a MIDI pitch or a note name",
            )
        raise OptionError("pitch", "auto", f"{name}: no pitch found (silent or unpitched); give a MIDI pitch or a note name")
    hz = float(np.median(f0))
    midi = int(np.clip(np.round(69 + 12 * np.log2(hz / 440.0)), 0, 127))
    frames = 1 + max(audio.size, 2048) // hop
    return PitchEstimate(midi, hz, min(1.0, f0.size / frames))



# --- Pitches as the user gives them -------------------------------------------------------------

AUTO = "auto"
_NOTE = re.compile(r"([A-Ga-g])([#♯b♭]?)(-?[0-9]+)")
_STEPS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTALS = {"": 0, "#": 1, "♯": 1, "b": -1, "♭": -1}
_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def parse_pitch(value: int | str, *, auto: bool = True) -> int | Literal["auto"]:
    """The one pitch type the library carries: a MIDI note number 0-127, or ``"auto"`` (estimate
    it from the audio). The API and the CLI both parse with this, once, at their boundary.

    ``value``: a MIDI number (``60``, ``"60"``), a note name in scientific pitch notation as
    in NSynth and ``librosa.note_to_midi`` (``"C4"`` = 60, ``"F#2"`` = 42, ``"Bb3"`` = 58,
    ``"c#-1"`` = 1; one ``#`` or ``b``, any case), or ``"auto"`` (refused with ``auto=False``).
    Raises ``NSynthError`` naming the value.
    """
    midi = None
    if isinstance(value, str):
        text = value.strip()
        if auto and text.lower() == AUTO:
            return AUTO
        note = _NOTE.fullmatch(text)
        if re.fullmatch(r"[+-]?[0-9]+", text):
            significant = text.lstrip("+-").lstrip("0")
            midi = int(text) if len(significant) <= 3 else 128  # out of range either way; int() refuses > 4,300 digits
        elif note:
            letter, accidental, octave = note.groups()
            midi = 12 * (int(octave) + 1) + _STEPS[letter.lower()] + _ACCIDENTALS[accidental]
    elif isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
        midi = int(value)  # 60, numpy integers, 60.0
    if midi is None:
        forms = "a MIDI note number 0-127, a note name such as C4 (= 60), F#2 or Bb3" + (", or 'auto'" if auto else "")
        raise NSynthError(f"{reprlib.repr(value)} is not a pitch: give {forms}")
    if not 0 <= midi <= 127:
        named = isinstance(value, str) and _NOTE.fullmatch(value.strip())
        shown = str(value) if len(str(value)) <= 30 else reprlib.repr(value)  # a message is one short line
        raise NSynthError(f"pitch {shown}{f' (MIDI {midi})' if named else ''} is not a MIDI note number 0-127")
    return midi


def note_name(midi: int) -> str:
    """The scientific name of MIDI note ``midi`` (60 -> "C4", 61 -> "C#4"); ``parse_pitch`` reads it back."""
    return f"{_NAMES[midi % 12]}{midi // 12 - 1}"
