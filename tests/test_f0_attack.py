"""The f0 curve a pitch-locked decoder follows holds the note's pitch through its attack."""

import librosa
import numpy as np

from nsynth.pitch import f0_frames, steady_attack

HOP = 512


def curve(track_midi: list[float]) -> np.ndarray:
    track = np.array([np.nan if v is None else librosa.midi_to_hz(v) for v in track_midi])
    out = f0_frames(np.zeros(track.size * HOP, np.float32), 16000, HOP, track=track)
    return librosa.hz_to_midi(out)


def test_an_attack_that_jumps_into_the_note_is_held_at_its_pitch():
    # a low piano note whose hammer noise pYIN reads as C5 falling to an octave slip, then A#1
    track = [None, 72, 66, 58, None, 46, 34.1, 34.0, 34.1, 34.0, 34.1, 34.0, 34.1, 34.0]
    out = curve(track)
    assert np.abs(out - 34.05).max() < 0.1, np.round(out, 1)  # no sweep from C5 down


def test_a_real_glide_into_the_note_is_kept():
    track = [45, 44, 43, 42, 41, 40, 39, 38, 38, 38, 38, 38]  # a scoop of a semitone per frame (32 ms)
    out = curve(track)
    assert out[0] > 44 and abs(out[-1] - 38) < 0.1
    assert (np.diff(out) <= 1e-9).all()  # still falls all the way


def test_steady_attack_counts():
    assert steady_attack(np.array([72, 70, 65, 55, 45, 34.1, 34.1, 34.0, 34.1])) == 5
    assert steady_attack(np.array([60, 60.1, 60.0, 59.9])) == 0
    assert steady_attack(np.array([60, 64, 58, 66, 57])) == 0  # no steady stretch: nothing is dropped


def test_a_steady_pitch_in_the_tail_far_under_the_note_is_not_followed():
    """pYIN reads a steady 'pitch' in a recording's tail noise (measured on freepats: a trumpet
    C4 went to MIDI 93 at -78 dB): frames more than 60 dB under the loudest are unvoiced, so the
    curve holds the note's pitch instead of chirping up into the tail."""
    sr, t = 16000, np.arange(16000) / 16000
    note = 0.5 * np.sin(2 * np.pi * 220.0 * t) * np.linspace(1, 0.5, t.size)
    tail = 1e-4 * 0.5 * np.sin(2 * np.pi * 1244.5 * t)  # -80 dB, a clean tone pYIN does find
    out = librosa.hz_to_midi(f0_frames(np.concatenate([note, tail]).astype(np.float32), sr, HOP))
    assert np.abs(out - librosa.hz_to_midi(220.0)).max() < 0.3, np.round(out, 1)
    louder = np.concatenate([note, tail * 100]).astype(np.float32)  # -40 dB: still part of the note
    assert librosa.hz_to_midi(f0_frames(louder, sr, HOP))[-5:].min() > 80
