"""nsynth evaluate: metrics, baselines and the report's contract."""

import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import tiny_parallel, tone

from nsynth.cli import main
from nsynth.evaluate import agrees, lsd, runaway, sine_baseline


def test_metrics():
    x = np.random.default_rng(0).normal(0, 0.2, 8000).astype(np.float32)
    assert lsd(x, x) == 0.0
    assert lsd(x, 0.5 * x) == pytest.approx(20 * np.log10(2), abs=0.1)  # half the amplitude: 6 dB everywhere
    assert agrees(440.0, 452.0) and not agrees(440.0, 880.0) and not agrees(440.0, None)
    env = np.linspace(1, 0, 8000).astype(np.float32)
    s = sine_baseline(tone(440, 0.5, amp=1.0) * env, 440.0, 16000)
    assert abs(np.sqrt(np.mean(s[:512] ** 2)) - np.sqrt(np.mean((tone(440, 0.5, amp=1.0) * env)[:512] ** 2))) < 0.02


def _tiny_dataset(root):
    (root / "audio").mkdir(parents=True)
    meta = {}
    for fam, p in (("flute", 69), ("flute", 72), ("brass", 64)):
        key = f"{fam}_acoustic_000-{p:03d}-100"
        sf.write(root / "audio" / f"{key}.wav", tone(440 * 2 ** ((p - 69) / 12), 0.2), 16000)
        meta[key] = {
            "note_str": key,
            "pitch": p,
            "velocity": 100,
            "instrument_family_str": fam,
            "instrument_source_str": "acoustic",
        }
    (root / "examples.json").write_text(json.dumps(meta))


def test_evaluate_report_contract(tmp_path, tiny_ckpt):
    root = tmp_path / "ds"
    _tiny_dataset(root)
    r = CliRunner().invoke(main, ["evaluate", str(root), "-c", str(tiny_ckpt), "-o", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["n"] == 3 and set(rep["baselines"]) == {"sine", "silence", "mu-law"}
    assert rep["baselines"]["sine"]["pitch_agreement"] == 1.0  # a sine at the input's f0 agrees by construction
    assert rep["baselines"]["silence"]["pitch_agreement"] == 0.0
    assert rep["baselines"]["sine"]["lsd"] < rep["baselines"]["silence"]["lsd"]
    # the input through 8-bit mu-law: pitch intact, but its quantization noise fills the bins that a
    # pure tone leaves empty, so on these tones it is further than silence (docs/model-card.md, "What the LSD measures")
    assert rep["baselines"]["mu-law"]["pitch_agreement"] == 1.0
    assert rep["baselines"]["mu-law"]["lsd"] > rep["baselines"]["silence"]["lsd"] > 0
    assert rep["per_family"]["brass"]["mu-law"]["n"] == 1
    assert [n["family"] for n in rep["notes"]].count("flute") == 2
    assert np.mean([n["lsd"] for n in rep["notes"]]) == pytest.approx(rep["lsd"])
    assert rep["runaways"] == sum(n["runaway"] for n in rep["notes"])
    assert np.mean([n["lsd_sine"] for n in rep["notes"]]) == pytest.approx(rep["baselines"]["sine"]["lsd"])
    assert rep["closer_than_sine"] == sum(n["lsd"] < n["lsd_sine"] for n in rep["notes"])
    assert f"closer than their sine: {rep['closer_than_sine']} of 3 notes" in r.output
    for n in rep["notes"]:  # each note's input f0 is its tone's, whatever the order
        assert n["f0_in"] == pytest.approx(440 * 2 ** ((int(n["key"].split("-")[1]) - 69) / 12), rel=0.03)
    assert set(rep["per_family"]) == {"flute", "brass"} and rep["per_family"]["flute"]["n"] == 2
    assert 0.0 <= rep["pitch_agreement"] <= 1.0 and rep["lsd"] > 0
    assert "sine baseline" in r.output


def test_evaluate_temperature_reaches_the_sampler(tmp_path, tiny_ckpt):
    root = tmp_path / "ds"
    _tiny_dataset(root)

    def run(temperature, seed):
        out = tmp_path / f"r{temperature}-{seed}.json"
        args = ["evaluate", str(root), "-c", str(tiny_ckpt), "-o", str(out), "--seed", str(seed)]
        r = CliRunner().invoke(main, [*args, "--temperature", str(temperature)])
        assert r.exit_code == 0, r.output
        return json.loads(out.read_text())

    greedy = [run(0, seed) for seed in (0, 1)]
    assert greedy[0]["generation"] == {
        "temperature": 0.0,
        "min_p": 0.0,
        "seed": 0,
        "backend": "auto",
        "precision": "auto",
        "postfilter": 0.0,  # a model without the pitch lock: off unless asked for
    }
    assert greedy[0]["lsd"] == greedy[1]["lsd"]  # greedy decoding ignores the sampler's seed
    sampled = [run(1, seed) for seed in (0, 1)]
    assert sampled[0]["lsd"] != sampled[1]["lsd"]


def test_interpolation_metric_parts():
    from nsynth.evaluate import monotonic, spectral_centroid

    assert spectral_centroid(tone(440, 0.5), 16000) == pytest.approx(440, rel=0.03)
    assert spectral_centroid(tone(440, 0.5) + tone(1760, 0.5), 16000) == pytest.approx(1100, rel=0.05)
    assert monotonic([100, 200, 200, 300], 50, 400) and monotonic([300, 200, 100], 400, 50)
    assert not monotonic([100, 250, 200, 300], 50, 400) and not monotonic([1, 2], 5, 5)


def test_evaluate_interpolation_pairs(tmp_path, tiny_ckpt):
    root = tmp_path / "ds"
    (root / "audio").mkdir(parents=True)
    meta = {}
    for inst, (fam, freq) in enumerate((("flute", 440.0), ("brass", 440.0), ("flute", 523.3))):
        key = f"{fam}_acoustic_{inst:03d}-{69 if freq == 440.0 else 72:03d}-100"
        sf.write(root / "audio" / f"{key}.wav", tone(freq, 0.2), 16000)
        meta[key] = {
            "note_str": key,
            "pitch": 69 if freq == 440.0 else 72,
            "instrument_str": f"i{inst}",
            "instrument_family_str": fam,
            "instrument_source_str": "acoustic",
        }
    (root / "examples.json").write_text(json.dumps(meta))
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["evaluate", str(root), "-c", str(tiny_ckpt), "-o", str(out), "--pairs", "3"])
    assert r.exit_code == 0, r.output
    interp = json.loads(out.read_text())["interpolation"]
    assert interp["pairs"] == 1  # only pitch 69 has two instruments
    pair = interp["detail"][0]
    assert {pair["a"], pair["b"]} == {"flute_acoustic_000-069-100", "brass_acoustic_001-069-100"}
    assert len(pair["centroids"]) == 5 and interp["share"] in (0.0, 1.0)
    assert "interpolation: spectral centroid" in r.output


def test_runaway_flags_a_drift_where_the_note_has_died_away():
    decay = tone(220, 2.0) * np.exp(-np.arange(32000) / 2000).astype(np.float32)
    assert not runaway(decay, decay)
    assert not runaway(decay, 0.9 * decay + 0.01 * np.random.default_rng(0).standard_normal(32000))
    drift = decay.copy()
    drift[16000:] += 0.45  # the DC drift seen in free-running generation
    assert runaway(decay, drift)
    assert not runaway(decay, np.zeros_like(decay))


def test_noise_floor_script(tmp_path):
    """scripts/noise_floor_lsd.py: the noise sits SNR dB below the input's envelope, and the LSD
    it reports falls as the SNR rises (on pure tones the sine baseline is nearly exact)."""
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "noise_floor_lsd.py"
    spec = importlib.util.spec_from_file_location("noise_floor_lsd", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x = tone(440, 1.0) * np.linspace(1, 0.1, 16000).astype(np.float32)
    n = mod.noisy(x, 20.0, np.random.default_rng(0), mulaw=False) - x
    assert 10 * np.log10(np.mean(x**2) / np.mean(n**2)) == pytest.approx(20.0, abs=0.5)
    root = tmp_path / "ds"
    _tiny_dataset(root)
    out = tmp_path / "floor.json"
    run = subprocess.run(
        [sys.executable, str(path), str(root), "--limit", "3", "--snr", "0,20,40", "--json", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    rep = json.loads(out.read_text())
    lsds = [r["lsd"] for r in rep["rows"]]
    assert rep["notes"] == 3 and lsds[0] > lsds[1] > lsds[2] > rep["sine"] > 0


def test_evaluate_gives_a_parallel_model_the_f0_around_each_label(tmp_path):
    """The label is the pitch: a parallel model follows ``note_f0`` around it, not pYIN's curve
    in another octave (here a tone labelled an octave under what it plays, as pYIN hears a
    high brass note of FluidR3's held-out set an octave under its label)."""
    from nsynth.data import open_dataset
    from nsynth.evaluate import render
    from nsynth.generation.options import Sampling
    from nsynth.generation.render import note_periods
    from nsynth.pitch import f0_track, note_f0

    root = tmp_path / "ds"
    (root / "audio").mkdir(parents=True)
    key = "flute_acoustic_000-057-100"  # A3 (220 Hz), and it plays A4
    sf.write(root / "audio" / f"{key}.wav", tone(440.0, 0.5), 16000)
    meta = {"note_str": key, "pitch": 57, "velocity": 100, "instrument_family_str": "flute"}
    (root / "examples.json").write_text(json.dumps({key: {**meta, "instrument_source_str": "acoustic"}}))
    ds = open_dataset(root, 16000)
    model = tiny_parallel()
    x = ds.load(0)
    r = render(model, ds, [0], Sampling().for_model(model))
    hop = model.config.hop
    curve = note_f0(x, 16000, 57, hop, f0_track(x, 16000) if hop == 512 else None)
    np.testing.assert_allclose(r.periods[0], note_periods(model, [57], [x.size], [curve])[0])
    assert np.median(16000 / r.periods[0]) == pytest.approx(220.0, rel=0.02)
    assert np.median(f0_track(x, 16000)) == pytest.approx(440.0, rel=0.02)  # what pYIN hears
