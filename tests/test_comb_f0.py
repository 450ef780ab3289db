"""Where a note really sits: ``comb_f0`` around its label (the parallel decoder's training f0)
or around pYIN's 10-cent curve (``f0_frames(refine=True)``, what a parallel model follows)."""

import numpy as np
import pytest
from conftest import tiny_parallel

from nsynth.api import resolve_f0
from nsynth.pitch import comb_f0, f0_frames

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


def test_a_parallel_model_follows_the_refined_curve():
    x = harmonic(440 * 2 ** (4.0 / 1200))
    model = tiny_parallel()
    hop = model.config.hop
    f = resolve_f0(x, "auto", model=model)
    np.testing.assert_allclose(f, f0_frames(x, SR, hop, refine=True))
    assert not np.allclose(f, f0_frames(x, SR, hop))
