"""The pitch-synchronous postfilter: what it keeps, what it cuts, and that every generating path applies it."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import tiny_model, tone

import nsynth
from nsynth.cli import main
from nsynth.errors import NSynthError
from nsynth.evaluate import lsd
from nsynth.generation import generate_audio
from nsynth.generation.render import note_periods
from nsynth.postfilter import pitch_postfilter

SR = 16000


def harmonic(f0: float, seconds: float = 1.0, partials: int = 12, amp: float = 0.3) -> np.ndarray:
    """A note of ``partials`` harmonics (those under 7 kHz), 1/h amplitudes."""
    t = np.arange(int(seconds * SR)) / SR
    partials = min(partials, int(7000 // f0))
    return amp * sum(np.sin(2 * np.pi * f0 * h * t + h) / h for h in range(1, partials + 1)) / 2


def db(a: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(a)) + 1e-30)


@pytest.mark.parametrize("f0", [200.0, 233.7, 61.0, 1046.5, 3000.0])  # whole and fractional periods, low and high
def test_a_periodic_note_passes_unchanged(f0):
    x = harmonic(f0)
    y = pitch_postfilter(x, np.full(x.size, SR / f0))
    assert db(y - x) - db(x) < -45  # error 45 dB under the note (Lanczos interpolation of fractional taps)
    if f0 == 200.0:  # a whole period: exact but for float rounding
        assert np.abs(y - x).max() < 1e-5


def test_noise_between_harmonics_is_cut():
    clean = harmonic(220.0, 2.0)
    noise = np.random.default_rng(0).normal(0, 1, clean.size) * np.sqrt(np.mean(clean**2)) * 10 ** (-15 / 20)
    y = pitch_postfilter(clean + noise, np.full(clean.size, SR / 220.0))
    cut = db(noise) - db(y - clean)
    assert cut > 6, cut  # measured 9.4 dB at 15 dB SNR
    assert lsd(clean, y) < lsd(clean, clean + noise) - 3


def test_unvoiced_and_inharmonic_inputs_are_left_nearly_alone():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.1, SR).astype(np.float32)
    y = pitch_postfilter(noise, np.full(noise.size, SR / 220.0))
    assert db(y - noise) - db(noise) < -15
    # a bell: partials at inharmonic ratios of a fundamental the period is set to
    t = np.arange(SR) / SR
    bell = sum(a * np.sin(2 * np.pi * 220 * r * t) for a, r in ((0.3, 1.0), (0.3, 2.76), (0.3, 5.40), (0.2, 8.93)))
    y = pitch_postfilter(bell, np.full(bell.size, SR / 220.0))
    assert db(y - bell) - db(bell) < -6  # most of the inharmonic partials' energy survives


def test_an_attack_is_not_smeared_ahead_of_its_onset():
    onset = 8000
    x = np.zeros(2 * SR)
    x[onset:] = harmonic(233.7, 1.5)
    y = pitch_postfilter(x, np.full(x.size, SR / 233.7))
    assert np.abs(y[: onset - 16]).max() < 1e-6  # nothing more than 1 ms ahead of the onset
    assert db(y[onset - 16 : onset]) < db(x[onset:]) - 10
    first = slice(onset, onset + 160)  # the attack's first 10 ms keep their level
    assert abs(db(y[first]) - db(x[first])) < 1.0


def test_strength_zero_is_identity_and_bad_values_are_refused():
    x = harmonic(330.0) + np.random.default_rng(2).normal(0, 0.01, SR)
    per = np.full(x.size, SR / 330.0)
    np.testing.assert_array_equal(pitch_postfilter(x, per, 0.0), x.astype(np.float32))
    half, full = pitch_postfilter(x, per, 0.5), pitch_postfilter(x, per, 1.0)
    np.testing.assert_allclose(half, (x + full) / 2, atol=1e-3)  # the strength mixes toward the full filter
    with pytest.raises(ValueError):
        pitch_postfilter(x, per, 1.5)
    with pytest.raises(ValueError):
        pitch_postfilter(x, per[:-1])
    with pytest.raises(NSynthError, match="postfilter"):
        nsynth.Sampling(postfilter=2.0)


def _pitched():
    return tiny_model("pitched")


@pytest.mark.parametrize("n,periods", [(6000, "glide"), (4000, 61.25), (4000, 64.0), (300, 1.0), (5, 2.5), (2, 1.0)])
def test_compiled_comb_equals_the_numpy_reference(n, periods):
    """The kernel that runs equals the tap-by-tap numpy comb it replaced, to float rounding:
    gliding, fractional and whole periods, a period of one sample, notes shorter than a tap."""
    from nsynth.postfilter import PostfilterShape, _comb, _comb_reference

    rng = np.random.default_rng(n)
    x = rng.normal(size=n) * np.linspace(1.0, 0.01, n)  # a decay: the envelope gate is exercised
    p = np.geomspace(20.0, 300.0, n) if periods == "glide" else np.full(n, float(periods))
    for shape in (PostfilterShape(), PostfilterShape(periods=3, envelope_frame=16)):
        np.testing.assert_allclose(_comb(x, p, shape), _comb_reference(x, p, shape), rtol=0, atol=1e-12)


def test_generate_audio_applies_it_at_the_generation_period():
    model = _pitched()
    z = [np.random.default_rng(3).normal(0, 1, (6, model.config.latent_dim)).astype(np.float32)] * 2
    f0 = [None, np.linspace(200, 300, 6)]
    lengths = [6 * model.config.hop - 5, 6 * model.config.hop]
    s = nsynth.Sampling(seed=4, temperature=1.0, progress=False)
    raw = generate_audio(model, z, [57, 57], lengths, sampling=nsynth.Sampling(**{**s.__dict__, "postfilter": 0.0}), f0=f0)
    auto = generate_audio(model, z, [57, 57], lengths, sampling=s, f0=f0)
    periods = note_periods(model, [57, 57], lengths, f0)
    assert [p.size for p in periods] == lengths
    assert np.allclose(periods[0], SR / (440 * 2 ** (-12 / 12)))  # MIDI 57 = 220 Hz
    for r, a, p in zip(raw, auto, periods):
        np.testing.assert_allclose(a, pitch_postfilter(r, p, 1.0), atol=1e-6)
    assert periods[1][0] == pytest.approx(SR / 200, rel=0.01) and periods[1][-1] == pytest.approx(SR / 300, rel=0.01)
    # a model without the pitch lock is left alone unless a strength is asked for
    mini = tiny_model("mini")
    assert s.for_model(mini).postfilter == 0.0 and s.for_model(model).postfilter == 1.0


def test_cli_takes_and_records_the_postfilter(tmp_path):
    path = tmp_path / "p.safetensors"
    nsynth.save_model(_pitched(), path)
    import soundfile as sf

    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, tone(220.0, 0.2), SR)
    sf.write(b, tone(330.0, 0.2), SR)
    runner = CliRunner()
    outs = {}
    for pf in ("off", "auto", "0.5"):
        out = tmp_path / f"g_{pf}"
        r = runner.invoke(main, ["grid", str(a), str(b), str(a), str(b), "-o", str(out), "-c", str(path),
                                 "--resolution", "2", "--pitches", "57", "--postfilter", pf])
        assert r.exit_code == 0, r.output
        manifest = json.loads((out / "manifest.json").read_text())
        outs[pf] = manifest
    assert [outs[k]["settings"]["postfilter"] for k in ("off", "auto", "0.5")] == [0.0, 1.0, 0.5]
    r = runner.invoke(main, ["reconstruct", str(a), "-o", str(tmp_path / "r"), "-c", str(path), "--postfilter", "loud"])
    assert r.exit_code != 0 and "--postfilter" in r.output and "Traceback" not in r.output
