"""nsynth.pyin against librosa: the same f0 track and voicing, and a banded Viterbi with the dense one's path."""

import numpy as np
import pytest

import librosa
from nsynth.pitch import FMAX, FMIN
from nsynth.pyin import _log_transitions, pyin, viterbi_banded

SR = 16000
T = np.arange(SR) / SR  # 1 s


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    vibrato = 220 * 2 ** (0.3 / 12 * np.sin(2 * np.pi * 5 * T))
    phase = 2 * np.pi * np.cumsum(vibrato) / SR
    return {
        "harmonic with vibrato": sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.3,
        "sine 30 Hz": np.sin(2 * np.pi * 30 * T),
        "chirp 40 Hz - 2.5 kHz": np.sin(2 * np.pi * np.cumsum(40 * 2 ** (6 * T)) / SR),
        "two-octave jump": np.sin(2 * np.pi * np.cumsum(np.where(T < 0.5, 880, 220)) / SR),
        "gated": np.sin(2 * np.pi * 330 * T) * (np.sin(2 * np.pi * 6 * T) > 0),
        "noise": rng.standard_normal(SR) * 0.1,
        "silence": np.zeros(SR),
    }


def _same_as_librosa(x: np.ndarray, sr: int = SR, frame: int = 2048, hops: tuple[int, ...] = (512, 1024)) -> None:
    for hop in hops:
        f0, voiced, _ = librosa.pyin(x, fmin=FMIN, fmax=FMAX, sr=sr, frame_length=frame, hop_length=hop)
        ours, ours_voiced = pyin(x, sr, FMIN, FMAX, frame=frame, hop=hop)
        np.testing.assert_array_equal(ours_voiced, voiced)
        np.testing.assert_array_equal(ours, f0)  # NaN where unvoiced in both


@pytest.mark.parametrize("name", list(_signals()))
def test_pyin_equals_librosa(name):
    _same_as_librosa(_signals()[name].astype(np.float32))


def test_pyin_equals_librosa_on_short_notes_other_rates_and_odd_frames():
    note = _signals()["harmonic with vibrato"]
    _same_as_librosa(note[:1500].astype(np.float32), hops=(512,))  # shorter than a frame: 3 frames
    _same_as_librosa(note[:1].astype(np.float32), hops=(512,))  # one sample: one frame
    t = np.arange(22050) / 22050  # 0.5 s at 44.1 kHz, a frame of 4095
    x = sum(np.sin(2 * np.pi * 98.0 * k * t) / k for k in range(1, 6)) * 0.2
    _same_as_librosa(x.astype(np.float32), sr=44100, frame=4095, hops=(441,))
    assert np.isfinite(pyin(x.astype(np.float32), 44100, FMIN, FMAX, 4095, 441)[0]).mean() > 0.9  # G2 found


def _dense(bins: int, width: int) -> np.ndarray:
    """librosa's pYIN transition matrix (2 * bins)^2."""
    local = librosa.sequence.transition_local(bins, width, window="triangle", wrap=False)
    return np.kron(librosa.sequence.transition_loop(2, 0.99), local)


def test_transition_tables_are_librosas():
    bins, width = 60, 11
    same, switch = _log_transitions(bins, width)
    dense = np.log(_dense(bins, width) + np.finfo(np.float64).tiny)
    half = width // 2
    for i in range(bins):
        for j in range(bins):
            if abs(i - j) <= half:
                assert dense[i, j] == same[i, j - i + half] and dense[i + bins, j + bins] == same[i, j - i + half]
                assert dense[i, j + bins] == switch[i, j - i + half] and dense[i + bins, j] == switch[i, j - i + half]
            else:
                assert dense[i, j] == np.log(np.finfo(np.float64).tiny)


def _viterbis(prob: np.ndarray, bins: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(librosa's dense path, ours) for observation probabilities (2 * bins, steps)."""
    tiny = np.finfo(np.float64).tiny
    want = librosa.sequence.viterbi(prob, _dense(bins, width), p_init=np.full(2 * bins, 1 / (2 * bins)))
    same, switch = _log_transitions(bins, width)
    log_obs = np.ascontiguousarray(np.log(prob + tiny).T)
    got = viterbi_banded(log_obs, same, switch, width // 2, float(np.log(tiny)), float(np.log(1 / (2 * bins) + tiny)))
    return want, got


# (states allowed in frame 0, in frame 1): two equally good predecessors, so the lowest index must win;
# in the band (10 and 14 are as far from 12), and outside it below and above (voiced and unvoiced)
@pytest.mark.parametrize("first, second", [((10, 14), (12,)), ((2, 4), (35,)), ((30, 35), (3,)), ((42, 44), (75,)), ((70, 75), (43,))])
def test_banded_viterbi_breaks_ties_as_dense(first, second):
    bins, width = 40, 11
    prob = np.zeros((2 * bins, 2))
    prob[list(first), 0] = 1 / len(first)
    prob[list(second), 1] = 1 / len(second)
    want, got = _viterbis(prob, bins, width)
    assert got[0] == first[0]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", ["random", "sparse", "flat"])
def test_banded_viterbi_equals_dense(case):
    bins, width, steps = 40, 11, 30
    rng = np.random.default_rng(1)
    if case == "random":
        prob = rng.random((2 * bins, steps))
    elif case == "sparse":  # one state allowed per frame, far apart: the path must leave the band
        prob = np.zeros((2 * bins, steps))
        prob[rng.integers(0, 2 * bins, steps), np.arange(steps)] = 1.0
    else:  # equal scores everywhere: the matrix's edges decide
        prob = np.full((2 * bins, steps), 0.5)
    prob /= prob.sum(axis=0, keepdims=True)
    want, got = _viterbis(prob, bins, width)
    np.testing.assert_array_equal(got, want)
    if case == "sparse":
        assert (np.abs(np.diff(got % bins)) > width // 2).any()  # the out-of-band branch was taken


def test_pyin_rejects_bad_input():
    with pytest.raises(ValueError, match="finite"):
        pyin(np.full(4096, np.nan, np.float32), SR, FMIN, FMAX)
    with pytest.raises(ValueError, match="float"):
        pyin(np.zeros(4096, np.int16), SR, FMIN, FMAX)
    with pytest.raises(ValueError, match="hop 0"):
        pyin(np.zeros(4096, np.float32), SR, FMIN, FMAX, hop=0)
    with pytest.raises(ValueError, match="fmin"):
        pyin(np.zeros(4096, np.float32), SR, 5.0, FMAX)  # a 5 Hz period does not fit a 2048-sample frame
    with pytest.raises(ValueError, match="whole range"):
        pyin(np.zeros(4096, np.float32), SR, 150.0, 300.0)  # one octave, crossed in a hop
