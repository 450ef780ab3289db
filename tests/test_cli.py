"""The command line, end to end, with a tiny random checkpoint made by the test."""

import subprocess
import sys

import numpy as np
import soundfile as sf
from click.testing import CliRunner

from nsynth.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_help_lists_commands():
    out = run("--help").output
    for cmd in ("encode", "decode", "reconstruct", "interpolate", "info"):
        assert cmd in out


def test_interpolate_end_to_end(tmp_path, tiny_ckpt, wav_pair):
    a, b = wav_pair
    out = tmp_path / "morph"
    r = run("interpolate", a, b, "-c", tiny_ckpt, "-o", out, "--steps", 5, "--seed", 3)
    assert r.exit_code == 0, r.output
    assert "pitch 69" in r.output  # A is a 440 Hz tone
    names = sorted(p.name for p in out.glob("*.wav"))
    assert names == ["00_alpha0.00.wav", "01_alpha0.25.wav", "02_alpha0.50.wav", "03_alpha0.75.wav", "04_alpha1.00.wav"]
    assert sorted(p.name for p in out.iterdir()) == [*names, "manifest.json"]
    first = sf.read(out / names[0])[0]
    assert first.shape == (4000,)  # the longer note's length (A: 0.25 s; B: 0.2 s at 22.05 kHz)
    assert np.abs(first).max() > 0
    # refuses to overwrite, then --force regenerates the same audio for the same seed
    r = run("interpolate", a, b, "-c", tiny_ckpt, "-o", out, "--steps", 5, "--seed", 3)
    assert r.exit_code == 1 and "already exists" in r.output and "--force" in r.output
    r = run("interpolate", a, b, "-c", tiny_ckpt, "-o", out, "--steps", 5, "--seed", 3, "--force", "--pitch", 69)
    assert r.exit_code == 0
    np.testing.assert_array_equal(sf.read(out / names[0])[0], first)


def test_encode_decode_reconstruct(tmp_path, tiny_ckpt, wav_pair):
    a, b = wav_pair
    r = run("encode", a, b, "-o", tmp_path / "emb", "-c", tiny_ckpt)
    assert r.exit_code == 0, r.output
    za = np.load(tmp_path / "emb" / "a.npy")
    assert za.shape == (63, 16) and za.dtype == np.float32  # 4000 samples / hop 64, rounded up
    r = run("decode", tmp_path / "emb" / "a.npy", "--pitch", 60, "-o", tmp_path / "dec", "-c", tiny_ckpt)
    assert r.exit_code == 0, r.output
    assert sf.info(tmp_path / "dec" / "a.wav").frames == 63 * 64
    r = run("reconstruct", a, "--pitch", 60, "-o", tmp_path / "rec", "-c", tiny_ckpt, "--format", "float")
    assert r.exit_code == 0, r.output
    info = sf.info(tmp_path / "rec" / "a.wav")
    assert info.frames == 4000 and info.subtype == "FLOAT"


def test_sampling_options_reach_the_sampler(tmp_path, tiny_ckpt, wav_pair):
    a, _ = wav_pair

    def recon(name, *opts):
        r = run("reconstruct", a, "--pitch", 60, "-o", tmp_path / name, "-c", tiny_ckpt, "--format", "float", *opts)
        assert r.exit_code == 0, r.output
        return sf.read(tmp_path / name / "a.wav")[0]

    greedy = recon("g0", "--greedy", "--seed", 0)
    np.testing.assert_array_equal(greedy, recon("g1", "--greedy", "--seed", 1))  # no sampling, no seed
    np.testing.assert_array_equal(greedy, recon("t0", "--temperature", 0, "--seed", 2))  # temperature 0 is greedy
    sampled = recon("s0", "--seed", 0)
    assert not np.array_equal(sampled, greedy) and not np.array_equal(sampled, recon("s1", "--seed", 1))
    np.testing.assert_array_equal(sampled, recon("s0again", "--seed", 0))  # same seed and backend: same audio
    # across backends, the contract of tests/test_backends.py: >= 99 % of draws agree
    reference = recon("s0r", "--seed", 0, "--backend", "reference", "--precision", "fp32")
    assert (reference == sampled).mean() >= 0.99


def test_good_files_survive_bad_ones(tmp_path, tiny_ckpt, wav_pair):
    a, _ = wav_pair
    bad = tmp_path / "bad.wav"
    bad.write_text("garbage")
    r = run("encode", a, bad, tmp_path / "missing.wav", "-o", tmp_path / "emb", "-c", tiny_ckpt)
    assert r.exit_code == 1
    assert (tmp_path / "emb" / "a.npy").exists()
    assert f"{bad}: not a readable audio file" in r.output
    assert "missing.wav: no such file" in r.output
    assert "encoded 1" in r.output and "failed 2" in r.output
    # a missing file is refused before the model loads; the good file beside it is still made
    r = run("reconstruct", tmp_path / "missing.wav", a, "-o", tmp_path / "rec", "-c", tiny_ckpt, "--greedy")
    assert r.exit_code == 1 and "missing.wav: no such file" in r.output and "1 of 2 input(s) failed" in r.output
    assert (tmp_path / "rec" / "a.wav").exists() and not (tmp_path / "rec" / "missing.wav").exists()


def test_user_errors_are_one_line_without_traceback(tmp_path, tiny_ckpt, wav_pair):
    a, b = wav_pair
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(3000, np.float32), 16000)
    short = tmp_path / "short.wav"  # 0.1 s of noise: shorter than one frame of the pitch tracker
    sf.write(short, np.random.default_rng(0).normal(0, 0.3, 1600).astype(np.float32), 16000)
    garbage = tmp_path / "w.safetensors"
    garbage.write_bytes(b"\x80\x04junk")
    np.save(tmp_path / "x.npy", np.zeros((8, 16), np.float32))
    cases = [
        (["interpolate", a, tmp_path / "nope.wav", "-c", tiny_ckpt, "-o", tmp_path / "o1"], "nope.wav: no such file"),
        (["interpolate", a, b, "-c", garbage, "-o", tmp_path / "o2"], "not an nsynth weights file"),
        (["interpolate", a, b, "-c", tmp_path / "none.safetensors"], "no such file"),
        (["interpolate", silent, b, "-c", tiny_ckpt, "-o", tmp_path / "o3"], "no pitch found"),
        (["interpolate", short, b, "-c", tiny_ckpt, "-o", tmp_path / "o6"], "too short to find its pitch (0.1 s;"),
        (["info", a], "not an nsynth weights file"),
        (["decode", a, "--pitch", 60, "-c", tiny_ckpt, "-o", tmp_path / "o4"], "not a .npy array"),
        (["decode", tmp_path / "x.npy", "-c", tiny_ckpt, "-o", tmp_path / "o5"], "give --pitch"),
    ]
    for args, message in cases:
        proc = subprocess.run([sys.executable, "-m", "nsynth.cli", *map(str, args)], capture_output=True, text=True)
        assert proc.returncode == 1, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith("nsynth: error")]
        assert len(lines) == 1
    bad_pitch = run("interpolate", a, b, "-c", tiny_ckpt, "--pitch", 200)
    assert bad_pitch.exit_code == 2 and "0-127" in bad_pitch.output


def test_info(tiny_ckpt):
    r = run("info", tiny_ckpt)
    assert r.exit_code == 0
    assert "receptive field:  10 samples" in r.output  # K=2, dilations 1,2,4,1: 1*(1+8)+1
    assert "parameters:" in r.output and "format version:   2" in r.output
    assert "verified" in r.output


def test_colliding_stems_keep_their_extension(tmp_path, tiny_ckpt):
    for ext in ("wav", "flac"):
        sf.write(tmp_path / f"x.{ext}", np.zeros(200, np.float32) + 0.1, 16000)
    r = run(
        "reconstruct", tmp_path / "x.wav", tmp_path / "x.flac", "--pitch", 60, "-o", tmp_path / "o", "-c", tiny_ckpt
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["x.flac.wav", "x.wav.wav"]
    r = run(
        "reconstruct", tmp_path / "x.wav", tmp_path / "x.wav", "--pitch", 60, "-o", tmp_path / "o2", "-c", tiny_ckpt
    )
    assert r.exit_code == 1 and "given twice" in r.output


def test_train_and_evaluate_option_errors_are_one_line(tmp_path, wav_pair, tiny_ckpt):
    a, _ = wav_pair
    data = a.parent
    bad_key = tmp_path / "bad.json"
    bad_key.write_text('{"decoder": {"nope": 1}}')
    unlabelled = tmp_path / "unlabelled"  # a folder of audio: no pitch in the name, none found by pYIN
    unlabelled.mkdir()
    sf.write(unlabelled / "x.wav", np.zeros(800, np.float32), 16000)
    cases = [
        (["train", data, "-o", tmp_path / "r1", "--preset", "huge"], "--preset: unknown preset 'huge'"),
        (["train", data, "-o", tmp_path / "r2", "--model-config", bad_key], "bad.json: unknown DecoderConfig fields"),
        (["train", data, "-o", tmp_path / "r3", "--pitch-range", "24"], "--pitch-range '24': expected LO-HI"),
        (["evaluate", unlabelled, "-c", tiny_ckpt], "has no pitch label"),
    ]
    for args, message in cases:
        proc = subprocess.run([sys.executable, "-m", "nsynth.cli", *map(str, args)], capture_output=True, text=True)
        assert proc.returncode == 1, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
