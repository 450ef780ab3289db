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


def f0_frames(
    audio: np.ndarray, sr: int, hop: int = 512, track: np.ndarray | None = None, refine: bool = False
) -> np.ndarray | None:
    """Per-frame f0 (Hz) of (T,) audio for the decoder's pitch lock, or None if nothing is voiced.

    One value per frame of ``hop`` samples (ceil(T / hop) frames), at the frame's centre
    f * hop + (hop - 1) / 2: pYIN's f0 track (hop ``hop``, centred frames) with a 3-frame
    median against single-frame octave slips, interpolated in log-frequency across unvoiced
    frames and held at the ends. Frames more than ``GATE_DB`` under the loudest are taken as
    unvoiced, whatever pYIN says: in a recording's tail pYIN finds a steady "pitch" in the
    noise (measured: trumpet C4 -> 93.2 at -78 dB, piano C4 -> 71.8 at -81 dB), which a decoder
    following the curve would play as a chirp out of the note's release.

    pYIN's f0 is on a 10-cent grid; ``refine`` moves each frame to within 0.25 cent by
    ``comb_f0`` within ``REFINE_CENTS`` of it (for the parallel decoder, whose harmonics sit
    exactly at k * f0: 5 cents off puts the 30th harmonic of A4 38 Hz off).
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
    curve = (2.0 ** np.interp(centres, pos[keep:], logf[keep:])).astype(np.float64)
    return comb_f0(audio, sr, curve, hop, REFINE_CENTS) if refine else curve


GATE_DB = 60.0  # f0_frames: frames this far under the note's loudest are unvoiced
REFINE_CENTS = 20.0  # f0_frames(refine=True): how far from pYIN's curve (10-cent grid, median-filtered) it looks
# note_f0 (and ``nsynth train --f0 track``): how far from the note's MIDI pitch the comb looks.
# Searched within 80, 98 % of the SoundFont training notes other than mallets come out within
# it; 22 % of the mallets do not, the comb fitting their inharmonic partials, and a model
# trained on those curves played a held-out low kalimba 60 cents sharp.
TRACK_CENTS = 25.0
GLIDE_CENTS = 40.0  # note_f0: a note whose pitch moves this far (5th to 95th percentile) bends
LOUD_DB = 20.0  # note_f0: where it looks for the pitch moving (pYIN wanders in quiet tails)
SUBOCTAVE = 0.3  # suboctave: the level, against the harmonics', at which partials between them count


def suboctave(audio: np.ndarray, sr: int, midi: int) -> bool:
    """Whether a (T,) note at MIDI pitch ``midi`` repeats at twice its period: partials at the
    odd multiples of half its f0, between its harmonics (an organ's 16' stop, a layer a fifth
    up), whose mean peak level is at least ``SUBOCTAVE`` times the harmonics' (the first 20,
    below 0.45 ``sr``). Measured on the sustain's (frames within 30 dB of the loudest) mean
    magnitude spectrum, Hann windows of 12 periods of half the f0 (2,048 to 16,384 samples). Of
    the SoundFont training notes ~6 % do (drawbar organs, some synth leads, an orchestra hit,
    some mallets); held out, one synth lead at 0.8-0.9, every other note 0.17 or less, most
    under 0.03."""
    x = np.asarray(audio, dtype=np.float64)
    half = 440.0 * 2 ** ((int(midi) - 69) / 12) / 2
    top = 0.45 * sr
    if not x.any() or 2 * half >= top:
        return False
    w = int(2 ** np.clip(np.ceil(np.log2(12 * sr / half)), 11, 14))
    w = min(w, 2 ** int(np.log2(max(x.size, 2048))))
    x = np.pad(x, (0, max(0, w - x.size)))
    idx = np.arange(w)[None] + (w // 2) * np.arange(1 + (x.size - w) // (w // 2))[:, None]
    frames = x[idx] * np.hanning(w)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    spec = np.abs(np.fft.rfft(frames[rms > rms.max() * 10 ** (-30 / 20)], axis=-1)).mean(0)
    bin_hz = sr / w

    def level(j: int) -> float:  # the peak within 1 % (and at least a bin) of j * half
        at = j * half / bin_hz
        lo, hi = min(int(at * 0.99), int(at) - 1), max(int(np.ceil(at * 1.01)) + 1, int(at) + 2)
        return float(spec[max(lo, 0) : min(hi, spec.size)].max())

    on = [level(j) for j in range(2, 41, 2) if j * half < top]
    off = [level(j) for j in range(1, 40, 2) if j * half < top]
    return bool(np.mean(off) >= SUBOCTAVE * np.mean(on))


def note_f0(
    audio: np.ndarray, sr: int, midi: int, hop: int = 512, track: np.ndarray | None = None, glide: bool = True
) -> np.ndarray:
    """Per-frame f0 (Hz, (ceil(T / hop),)) of a (T,) note whose MIDI pitch ``midi`` is known (a
    label, a pitch given, or ``estimate_pitch``'s): the source f0 the parallel decoder follows,
    and the one ``nsynth train --f0 track`` trains it on.

    ``comb_f0`` within ``TRACK_CENTS`` of the pitch, or of half the pitch where the note
    repeats at twice its period (``suboctave``: a harmonic source at the label's f0 cannot make
    those partials): to 0.25 cent and free of pYIN's octave errors. (On FluidR3's 44 held-out
    notes pYIN's median is more than a semitone off the label on 7: on a brass note at MIDI
    102 an octave down where the note has nothing, and a source there fills the gaps between
    its harmonics; on the five notes of a synth lead it is the lead's real period, twice the
    label's, or twice that.)

    With ``glide``, pYIN's curve is followed instead, refined within ``REFINE_CENTS`` as
    ``f0_frames(refine=True)``:

    - where pYIN hears the note elsewhere: its median, moved by whole octaves to the nearest
      of the f0, more than ``TRACK_CENTS`` from it (a note detuned further than the comb's
      span, or another pitch class, as pYIN hears on a lead at MIDI 101, a twelfth down, and
      on a lead at MIDI 22: the label's f0 scores better there, 0.8-1.5 dB, but would not have
      the pitch pYIN hears in the input);
    - where the note's pitch moves further than the comb's span (a wide vibrato, a bend, a
      glide): the refined curve, each frame moved by whole octaves to the nearest of the f0,
      spans more than ``GLIDE_CENTS`` from its 5th to its 95th percentile over the frames
      within ``LOUD_DB`` of the loudest (a +-30 cent vibrato does, a steady note's 10-20
      cents do not) and holds at least a quarter of them within ``TRACK_CENTS`` of the f0.
      pYIN's own errors land here too (a mallet's inharmonic partials, a lead that it hears
      jump by a fourth): those notes get pYIN's refined curve, as before ``note_f0``.

    ``track``: the note's ``f0_track`` at ``hop``, when the caller has it (no second pYIN
    pass); ``glide`` False runs no pYIN at all (training: SoundFont notes do not bend).
    """
    frames = max(1, -(-np.asarray(audio).size // hop))
    base = 440.0 * 2 ** ((int(midi) - 69) / 12) / (2 if suboctave(audio, sr, midi) else 1)
    curve = f0_frames(audio, sr, hop, track) if glide else None
    if curve is not None:
        folded = curve / 2.0 ** np.round(np.log2(curve / base))  # octave errors moved back
        level = frame_db(audio, hop, frames)
        voiced = level > -GATE_DB
        if voiced.any() and abs(np.median(1200 * np.log2(folded[voiced] / base))) > TRACK_CENTS:
            return comb_f0(audio, sr, curve, hop, REFINE_CENTS)  # pYIN hears it elsewhere
        fine = comb_f0(audio, sr, folded, hop, REFINE_CENTS)
        cents = 1200 * np.log2(fine[level > -LOUD_DB] / base)
        moves = cents.size and np.percentile(cents, 95) - np.percentile(cents, 5) > GLIDE_CENTS
        if moves and np.mean(np.abs(cents) <= TRACK_CENTS) >= 0.25:
            return fine
    return comb_f0(audio, sr, np.full(frames, base), hop, TRACK_CENTS)


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



def comb_f0(
    audio: np.ndarray, sr: int, reference: int | np.ndarray, hop: int = 512, span_cents: float = 80.0
) -> np.ndarray:
    """Per-frame f0 (Hz) of a (T,) note whose pitch is known to within ``span_cents``: where it
    really sits, for training a decoder on the f0 it will be given, or to refine a coarse curve.

    ``reference``: the note's MIDI label, or an f0 curve (ceil(T / hop),) in Hz (e.g. pYIN's,
    ``f0_frames``, which is on a 10-cent grid) to refine frame by frame. One value per frame of
    ``hop`` samples (ceil(T / hop) frames, centred on f * hop + (hop - 1) / 2, as ``f0_frames``).
    Each frame's f0 maximises a harmonic comb: the sum over the harmonics below ``sr`` * 0.45
    (40 at most) of the square-rooted magnitude spectrum (a Hann window of about 6 periods,
    512 to 4,096 samples at 16 kHz, zero-padded 4x) at k * f0, over a 2-cent grid within
    ``span_cents`` of the reference and then a 0.25-cent one around the best. Frames more than
    ``GATE_DB`` under the loudest take the note's median offset; a 3-frame median smooths the
    rest (a 5 Hz vibrato of +-30 cents is followed to within a few cents above MIDI 48). A
    silent note gets the reference. Much cheaper than pYIN (~20 ms for a 4 s note at 16 kHz)
    and, tied to the reference, free of octave errors.
    """
    audio = np.asarray(audio, dtype=np.float64)
    frames = max(1, -(-audio.size // hop))
    if np.ndim(reference) == 0:
        ref = np.full(frames, 440.0 * 2 ** ((int(reference) - 69) / 12))
    else:
        ref = np.asarray(reference, dtype=np.float64)
        if ref.shape != (frames,) or not (np.isfinite(ref).all() and (ref > 0).all()):
            raise ValueError(f"reference must be ({frames},) positive Hz, got shape {ref.shape}")
    level = frame_db(audio, hop, frames)
    voiced = level > -GATE_DB
    if not audio.any() or not voiced.any():
        return ref.copy()
    typical = float(np.median(ref))
    window = int(2 ** np.clip(np.ceil(np.log2(6 * sr / typical)), np.log2(sr / 32), np.log2(sr / 4)))
    nfft = 4 * window
    pad = np.pad(audio, (window // 2, window + frames * hop))
    starts = np.arange(frames) * hop + (hop - 1) // 2  # window centred on the frame's centre
    idx = starts[voiced, None] + np.arange(window)[None]
    spec = np.sqrt(np.abs(np.fft.rfft(pad[idx] * np.hanning(window)[None], n=nfft, axis=-1)))  # (V, nfft/2+1)
    bin_hz = sr / nfft
    top = float(ref.max()) * 2 ** (span_cents / 1200)
    ks = np.arange(1, max(1, min(40, int(0.45 * sr / top))) + 1)
    base = ref[voiced][:, None]  # (V, 1)

    def scores(cents: np.ndarray) -> np.ndarray:
        """(V, C) or (C,) candidate offsets in cents -> (V, C) comb sums per voiced frame."""
        pos = (base * 2 ** (np.broadcast_to(cents, (spec.shape[0], cents.shape[-1])) / 1200))[..., None] * ks / bin_hz
        i0 = np.floor(pos).astype(np.int64)  # (V, C, K)
        w = pos - i0
        rows = np.arange(spec.shape[0])[:, None, None]
        return ((1 - w) * spec[rows, i0] + w * spec[rows, i0 + 1]).sum(-1)

    coarse = np.arange(-span_cents, span_cents + 1e-9, 2.0)
    c0 = coarse[scores(coarse).argmax(-1)]  # (V,)
    fine = c0[:, None] + np.arange(-2.0, 2.0 + 1e-9, 0.25)[None]  # (V, 17)
    cents = np.take_along_axis(fine, scores(fine).argmax(-1)[:, None], -1)[:, 0]
    if cents.size >= 3:
        cents = np.median(np.lib.stride_tricks.sliding_window_view(np.pad(cents, 1, mode="edge"), 3), axis=-1)
    out = np.full(frames, float(np.median(cents)))
    out[voiced] = cents
    return ref * 2 ** (out / 1200)


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
