"""Where a note really sits: ``comb_f0`` around its label (the parallel decoder's training f0)
or around pYIN's 10-cent curve (``f0_frames(refine=True)``), and ``note_f0``, what a parallel
model follows: the comb around the note's pitch, or pYIN's refined curve where the note glides."""

import numpy as np
import pytest
from conftest import tiny_parallel

from nsynth.api import resolve_f0
from nsynth.pitch import TRACK_CENTS, comb_f0, f0_frames, f0_track, note_f0, suboctave

SR = 16000
T = np.arange(2 * SR) / SR


def harmonic(hz: np.ndarray | float, harmonics: int = 30, seed: int = 0) -> np.ndarray:
    """A decaying tone with harmonics at 1/k along the f0 ``hz`` (per sample), a little noise."""
    hz = np.broadcast_to(np.asarray(hz, dtype=np.float64), T.shape)
    phase = 2 * np.pi * np.cumsum(hz) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, harmonics + 1) if k * hz.max() < SR / 2)
    noise = np.random.default_rng(seed).standard_normal(T.size)
    return (0.3 * x * np.exp(-0.7 * T) + 0.003 * noise).astype(np.float32)


def cents(f: np.ndarray, midi: float) -> np.ndarray:
    return 1200 * np.log2(f / (440 * 2 ** ((midi - 69) / 12)))


@pytest.mark.parametrize("midi, off", [(21, 30.0), (33, -41.0), (60, 23.0), (72, 0.0), (96, 12.0), (108, -20.0)])
def test_a_detuned_note_is_found_where_it_sits(midi, off):
    f = comb_f0(harmonic(440 * 2 ** ((midi - 69 + off / 100) / 12)), SR, midi)
    assert f.shape == (-(-T.size // 512),)
    assert abs(np.median(cents(f, midi)) - off) < 1.0
    assert np.abs(cents(f, midi)[2:-2] - off).max() < 3.5


@pytest.mark.parametrize("midi", [52, 64, 80])
def test_a_vibrato_is_followed(midi):
    base = 440 * 2 ** ((midi - 69) / 12)
    curve = base * 2 ** (30 * np.sin(2 * np.pi * 5 * T) / 1200)  # +-30 cents at 5 Hz
    f = comb_f0(harmonic(curve), SR, midi)
    true = cents(curve[np.arange(f.size) * 512 + 255], midi)
    err = np.abs(cents(f, midi) - true)[3:-3]
    assert err.mean() < 4.0 and err.max() < 15.0, (err.mean(), err.max())
    assert np.corrcoef(true[3:-3], cents(f, midi)[3:-3])[0, 1] > 0.9


def test_silence_gets_the_reference_and_a_bad_reference_is_refused():
    f = comb_f0(np.zeros(SR, np.float32), SR, 69)
    np.testing.assert_array_equal(f, 440.0)
    with pytest.raises(ValueError, match="reference"):
        comb_f0(harmonic(440.0), SR, np.full(5, 440.0))
    with pytest.raises(ValueError, match="reference"):
        comb_f0(harmonic(440.0), SR, np.full(-(-T.size // 512), np.nan))


def test_refine_takes_pyin_s_10_cent_grid_to_where_the_note_is():
    x = harmonic(440 * 2 ** (4.0 / 1200))  # A4 + 4 cents
    coarse = f0_frames(x, SR, 512)
    fine = f0_frames(x, SR, 512, refine=True)
    assert np.abs(np.median(cents(coarse, 69)) - 4.0) > 0.9  # pYIN's grid is 10 cents
    assert abs(np.median(cents(fine, 69)) - 4.0) < 0.5


def test_a_parallel_model_follows_the_curve_around_the_note_s_pitch():
    x = harmonic(440 * 2 ** (4.0 / 1200))
    model = tiny_parallel()
    hop = model.config.hop
    f = resolve_f0(x, "auto", model=model)
    np.testing.assert_allclose(f, note_f0(x, SR, 69, hop))  # the pitch estimated: A4
    assert abs(np.median(cents(f, 69)) - 4.0) < 0.5
    assert not np.allclose(f, f0_frames(x, SR, hop))
    # a pitch given and the curve asked for: the curve around that pitch
    np.testing.assert_allclose(resolve_f0(x, 69, True, model=model), f)


@pytest.mark.parametrize("error_cents", [-1200.0, 1200.0, -2400.0])
def test_note_f0_is_free_of_pyin_s_octave_errors(error_cents):
    """pYIN octaves off the note, as on a high brass note of FluidR3's held-out set: the refined
    pYIN curve keeps the error, ``note_f0`` around the label does not."""
    x = harmonic(440 * 2 ** (7.0 / 1200))  # A4 + 7 cents
    wrong = f0_track(x, SR, 512) * 2 ** (error_cents / 1200)
    assert abs(np.median(cents(f0_frames(x, SR, 512, wrong, refine=True), 69)) - 7.0) > 500
    f = note_f0(x, SR, 69, 512, track=wrong)
    assert np.abs(cents(f, 69)[2:-2] - 7.0).max() < 2.0
    model = tiny_parallel()  # and the parallel model is given it, for a pitch given
    hop = model.config.hop
    wrong = f0_track(x, SR, hop) * 2 ** (error_cents / 1200)
    f = resolve_f0(x, 69, True, model=model, track=wrong)
    np.testing.assert_allclose(f, note_f0(x, SR, 69, hop, track=wrong))
    assert abs(np.median(cents(f, 69)) - 7.0) < 1.0


def test_note_f0_follows_pyin_where_it_hears_another_pitch_class():
    """pYIN a fifth off the label (steady): the pitch it hears in the input is followed, so the
    output has it too (its median, refined)."""
    x = harmonic(440 * 2 ** (7.0 / 1200))
    wrong = f0_track(x, SR, 512) * 2 ** (700 / 1200)
    f = note_f0(x, SR, 69, 512, track=wrong)
    np.testing.assert_allclose(f, f0_frames(x, SR, 512, wrong, refine=True))
    assert abs(np.median(cents(f, 69)) - 707) < 15


def test_note_f0_follows_a_vibrato_wider_than_its_span():
    base = 440 * 2 ** ((64 - 69) / 12)
    curve = base * 2 ** (45 * np.sin(2 * np.pi * 5 * T) / 1200)  # +-45 cents at 5 Hz
    x = harmonic(curve)
    f = note_f0(x, SR, 64, 512)
    true = cents(curve[np.arange(f.size) * 512 + 255], 64)
    err = np.abs(cents(f, 64) - true)[3:-3]
    clipped = np.abs(cents(comb_f0(x, SR, 64, 512, TRACK_CENTS), 64) - true)[3:-3]  # the comb alone
    assert err.mean() < 8.0 and err.mean() < 0.8 * clipped.mean(), (err.mean(), clipped.mean())
    assert cents(f, 64)[3:-3].max() > 35 and cents(f, 64)[3:-3].min() < -35


def test_note_f0_follows_a_glide_beyond_its_span():
    start = 440 * 2 ** ((60 - 69) / 12)
    curve = start * 2 ** (np.clip(T - 0.5, 0, 1) * 300 / 1200)  # C4, then 3 semitones up over a second
    x = harmonic(curve)
    f = note_f0(x, SR, 60, 512)
    true = cents(curve[np.arange(f.size) * 512 + 255], 60)
    err = np.abs(cents(f, 60) - true)[3:-3]
    assert err.max() < 15.0 and err.mean() < 3.0, (err.mean(), err.max())
    stuck = comb_f0(x, SR, 60, 512, TRACK_CENTS)  # the comb alone stops at its span
    assert cents(stuck, 60)[-5:].max() < TRACK_CENTS + 1


@pytest.mark.parametrize("midi", [40, 64, 88])
def test_a_note_that_repeats_at_twice_its_period_gets_half_its_f0(midi):
    """A 16' stop under the note (partials at the odd multiples of half its f0): the source
    must sit at half the label's f0 to make them; a plain note keeps its own."""
    hz = 440 * 2 ** ((midi - 69) / 12)
    plain = harmonic(hz)
    organ = plain + harmonic(hz / 2, seed=1)  # the 16' as loud as the 8'
    assert not suboctave(plain, SR, midi)
    assert not suboctave(plain + 0.2 * harmonic(hz / 2, seed=1), SR, midi)  # a faint one is not the note's period
    assert suboctave(organ, SR, midi)
    f = note_f0(organ, SR, midi, 512)
    assert np.abs(cents(f, midi)[2:-2] + 1200).max() < 2.0
    f = note_f0(plain, SR, midi, 512)
    assert np.abs(cents(f, midi)[2:-2]).max() < 2.0


def test_suboctave_of_silence_and_of_a_pitch_at_nyquist():
    assert not suboctave(np.zeros(SR, np.float32), SR, 60)
    assert not suboctave(harmonic(7000.0), SR, 127)
