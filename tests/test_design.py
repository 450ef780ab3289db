"""Designer tools: grid, morph, mix, SFZ multisamples, pictures."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import tone

import nsynth
from nsynth.cli import main
from nsynth.sound_design import grid_weights, sfz_regions
from nsynth.interpolation import crossfade, morph_curve, morph_embeddings


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def corners(tmp_path):
    paths = []
    for k, f in enumerate((220, 330, 440, 550)):
        p = tmp_path / f"c{k}.wav"
        sf.write(p, tone(f, 0.05) * (1 + k) / 4, 16000)
        paths.append(p)
    return paths


def test_grid_weights_sum_to_one_and_corners_are_pure():
    w = grid_weights(5)
    assert w.shape == (5, 5, 4)
    np.testing.assert_allclose(w.sum(-1), 1.0)
    for (i, j), k in {(0, 0): 0, (0, 4): 1, (4, 0): 2, (4, 4): 3}.items():
        assert w[i, j, k] == 1.0
    np.testing.assert_allclose(w[2, 2], 0.25)


def test_grid_command_manifest_and_resume(tmp_path, corners, tiny_ckpt):
    out = tmp_path / "grid"
    args = ("grid", *corners, "-o", out, "--resolution", 3, "--pitches", "48,60", "-c", tiny_ckpt, "--batch-size", 1)
    r = run(*args)
    assert r.exit_code == 0, r.output
    assert "18 notes written, 0 already there" in r.output
    manifest = json.loads((out / "manifest.json").read_text())
    files = {e["file"]: e for e in manifest["files"]}
    assert set(files) == {str(p.relative_to(out)) for p in out.rglob("*.wav")} and len(files) == 18
    corner = files["pitch_060/grid_02_02.wav"]
    assert corner["weights"]["SE"] == 1.0 and corner["pitch"] == 60 and corner["sources"]["SE"].endswith("c3.wav")
    assert manifest["settings"]["resolution"] == 3 and manifest["settings"]["weights"] == str(tiny_ckpt)
    # what grid() wrote at (row 1, col 2) of pitch 60 (one note per batch; every note samples
    # with seed 0's draws) is the decoding of 0.5 NE + 0.5 SE; the other corners' mix is not
    model = nsynth.load_model(tiny_ckpt)
    z = [nsynth.encode(nsynth.load_audio(c), model=model) for c in corners]
    got = sf.read(out / "pitch_060" / "grid_01_02.wav")[0]

    def decoded(mix):
        return nsynth.decode(mix, pitch=60, model=model, length=800, sampling=nsynth.Sampling(seed=0, progress=False))

    np.testing.assert_allclose(got, decoded(0.5 * z[1] + 0.5 * z[3]), atol=1 / 32767)
    assert not np.allclose(got, decoded(0.5 * z[2] + 0.5 * z[3]), atol=1e-3)
    first = sf.read(out / "pitch_048" / "grid_01_01.wav")[0]
    (out / "pitch_048" / "grid_01_01.wav").unlink()
    before = (out / "pitch_060" / "grid_00_00.wav").stat().st_mtime_ns
    r = run(*args)
    assert "1 notes written, 17 already there" in r.output
    np.testing.assert_array_equal(sf.read(out / "pitch_048" / "grid_01_01.wav")[0], first)  # resumed = straight
    assert (out / "pitch_060" / "grid_00_00.wav").stat().st_mtime_ns == before
    r = run(*args, "--force")
    assert "18 notes written, 0 already there" in r.output
    assert (out / "pitch_060" / "grid_00_00.wav").stat().st_mtime_ns != before
    # other settings into the same folder: refused in one line, nothing kept as if it were theirs
    r = run(*args[:-2], "--batch-size", 1, "--seed", 5)
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert r.output.strip().splitlines()[-1] == (
        f"nsynth: error: {out}: holds notes made with other settings (seed: 0 there, 5 now);"
        " give --force to make them again, or another folder"
    )
    r = run(*args[:9], "--pitches", "48,60,72", *args[11:])  # more pitches, the same settings: added
    assert r.exit_code == 0 and "9 notes written, 18 already there" in r.output


def test_morph_frames_move_from_a_to_b(tmp_path, corners, tiny_ckpt):
    for curve in ("linear", "ease", "hold"):
        a = morph_curve(12, curve)
        assert a[0] == 0 and a[-1] == 1 and np.all(np.diff(a) >= 0)
    za, zb = np.zeros((12, 16), np.float32), np.ones((12, 16), np.float32)
    z = morph_embeddings(za, zb, "linear")
    np.testing.assert_allclose(z[:, 0], np.linspace(0, 1, 12), atol=1e-6)
    assert (morph_embeddings(za, zb, "hold")[:4] == 0).all()
    r = run(
        "morph", corners[0], corners[1], "-o", tmp_path / "m.wav", "--pitch", 57, "-c", tiny_ckpt, "--curve", "ease"
    )
    assert r.exit_code == 0, r.output
    assert sf.info(tmp_path / "m.wav").frames == 800


def test_interpolate_mix_and_plot(tmp_path, corners, tiny_ckpt):
    out = tmp_path / "i"
    r = run("interpolate", corners[0], corners[3], "--steps", 3, "--mix", "--plot", "-o", out, "-c", tiny_ckpt)
    assert r.exit_code == 0, r.output
    mid = sf.read(out / "mix_01_alpha0.50.wav")[0]
    a, b = nsynth.load_audio(corners[0]), nsynth.load_audio(corners[3])
    np.testing.assert_allclose(mid, crossfade(a, b, 0.5), atol=1 / 32767)
    assert (out / "interpolation.png").read_bytes()[:4] == b"\x89PNG"


def test_multisample_sfz_parses_and_every_sample_exists(tmp_path, corners, tiny_ckpt):
    out = tmp_path / "inst"
    r = run("multisample", corners[0], corners[1], "-o", out, "--pitches", "36-60:12", "--name", "pad", "-c", tiny_ckpt)
    assert r.exit_code == 0, r.output
    sfz = out / "pad.sfz"
    lint = subprocess.run([sys.executable, "-m", "sfzlint.cli", str(sfz)], capture_output=True, text=True)
    assert lint.returncode == 0 and lint.stdout.strip() == "" and lint.stderr.strip() == "", lint.stdout + lint.stderr
    regions = [
        dict(kv.split("=") for kv in line.split()[1:])
        for line in sfz.read_text().splitlines()
        if line.startswith("<region>")
    ]
    assert [int(r["pitch_keycenter"]) for r in regions] == [36, 48, 60]
    assert regions[0]["lokey"] == "0" and regions[-1]["hikey"] == "127"
    assert all(int(x["hikey"]) + 1 == int(y["lokey"]) for x, y in zip(regions, regions[1:]))
    assert all((out / r["sample"]).exists() for r in regions)
    entries = json.loads((out / "manifest.json").read_text())["files"]
    assert {e["file"] for e in entries} == {r["sample"] for r in regions} | {"pad.sfz"}
    again = (
        "multisample",
        corners[0],
        corners[1],
        "-o",
        out,
        "--pitches",
        "36-60:12",
        "--name",
        "pad",
        "-c",
        tiny_ckpt,
    )
    assert "0 samples written, 3 already there" in run(*again).output
    assert "3 samples written, 0 already there" in run(*again, "--force").output


def test_sfz_regions_split_midway():
    regions = sfz_regions([60, 48, 72], ["b", "a", "c"])
    assert [(r.key, r.lo, r.hi) for r in regions] == [(48, 0, 54), (60, 55, 66), (72, 67, 127)]


def test_plot_kinds(tmp_path, corners):
    for kind in ("rainbowgram", "mel"):
        out = tmp_path / f"{kind}.png"
        r = run("plot", *corners[:2], "-o", out, "--kind", kind)
        assert r.exit_code == 0, r.output
        assert out.read_bytes()[:4] == b"\x89PNG"


def test_plot_panel_titles_tell_files_of_the_same_name_apart(tmp_path):
    from nsynth.cli.sound_design import panel_titles

    a, b, c = tmp_path / "flute.wav", tmp_path / "reconstruct" / "flute.wav", tmp_path / "trumpet.wav"
    assert panel_titles([a, c]) == ["flute.wav", "trumpet.wav"]
    here = tmp_path.name
    assert panel_titles([a, b, c]) == [f"{here}/flute.wav", "reconstruct/flute.wav", f"{here}/trumpet.wav"]
    assert panel_titles([a, a]) == ["flute.wav", "flute.wav"]  # the same file twice: nothing to tell apart
