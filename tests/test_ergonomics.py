"""Designer ergonomics: note names, one pitch type, --pitch-from, --offset/--seconds, --sample-rate, manifests."""

import json
import re

import click
import librosa
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import tiny_model, tiny_parallel, tone

import nsynth
import nsynth.pyin
from nsynth.api import NotePitch, note_pitch
from nsynth.audio import clip_audio, resample
from nsynth.cli import main
from nsynth.cli.common import pitch_list
from nsynth.errors import ClipError
from nsynth.interpolation import pair_pitch
from nsynth.pitch import note_name, parse_pitch

QUIET = dict(progress=False)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def pitched_ckpt(tmp_path):
    path = tmp_path / "pitched.safetensors"
    nsynth.save_model(tiny_model("pitched"), path)
    return path


# --- one pitch type ------------------------------------------------------------------------------


def test_note_names_are_scientific_pitch_notation_as_librosa_reads_them():
    names = [f"{letter}{acc}{octave}" for letter in "CDEFGAB" for acc in ("", "#", "b") for octave in range(-1, 10)]
    for name in names:
        midi = int(librosa.note_to_midi(name))
        if 0 <= midi <= 127:
            assert parse_pitch(name) == midi, name
            assert parse_pitch(name.lower()) == midi, name
        else:
            with pytest.raises(nsynth.NSynthError, match="0-127"):
                parse_pitch(name)
    assert [parse_pitch(v) for v in ("C4", "F#2", "Bb3", "c#-1", "bb3", "G9")] == [60, 42, 58, 1, 58, 127]
    assert [parse_pitch(v) for v in (60, "60", " 61 ", np.int64(62), 63.0)] == [60, 60, 61, 62, 63]
    assert parse_pitch("auto") == parse_pitch("AUTO") == "auto"
    for midi in range(128):
        assert parse_pitch(note_name(midi)) == midi
    assert note_name(60) == "C4" and note_name(61) == "C#4"


def test_bad_pitches_are_refused_in_the_library_s_words():
    for bad in ("H4", "C", "60.5", 60.5, True, None, "C#", "4C", float("nan")):
        with pytest.raises(nsynth.NSynthError, match="is not a pitch") as e:
            parse_pitch(bad)
        assert "--" not in str(e.value)
    for bad in (128, -1, "200", "G#9", "Cb-1"):
        with pytest.raises(nsynth.NSynthError, match="not a MIDI note number 0-127"):
            parse_pitch(bad)
    with pytest.raises(nsynth.NSynthError, match="is not a pitch"):
        parse_pitch("auto", auto=False)
    for huge in ("1" * 5000, "C" * 5000):  # int() refuses 5,000 digits: still one short line, no ValueError
        with pytest.raises(nsynth.NSynthError, match="not a MIDI note number 0-127|is not a pitch") as e:
            parse_pitch(huge)
        assert len(str(e.value)) < 150


def test_errors_a_parameter_fixes_name_the_parameter_and_the_cli_names_its_flag(tmp_path):
    from nsynth.audio import save_audio
    from nsynth.cli.common import user_message
    from nsynth.data import open_dataset
    from nsynth.errors import NoDefaultModelError, RemedyError
    from nsynth.training.loop import train

    taken = tmp_path / "taken.wav"
    taken.write_bytes(b"old")
    with pytest.raises(nsynth.OutputExistsError) as e:
        save_audio(taken, np.zeros(10))
    assert str(e.value) == f"{taken}: already exists; set force=True to overwrite"
    assert user_message(e.value) == f"{taken}: already exists; use --force to overwrite"
    assert taken.read_bytes() == b"old"

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "state.safetensors").write_bytes(b"")
    notes = tmp_path / "notes"
    notes.mkdir()
    sf.write(notes / "tone_60-060-100.wav", tone(261.6, 0.1), 16000)
    with pytest.raises(RemedyError) as e:
        train(nsynth.get_preset("mini"), open_dataset(notes, 16000), run_dir, progress=False)
    assert str(e.value) == f"{run_dir}: already holds a training run; set resume=True to continue it"
    assert user_message(e.value) == f"{run_dir}: already holds a training run; use --resume to continue it"

    e = NoDefaultModelError()
    assert isinstance(e, nsynth.CheckpointError) and "path=PATH" in str(e) and "--" not in str(e)
    # they cross worker processes (DataLoader, Pool) whole: same type, message and fields
    import pickle

    for err in (
        e,
        nsynth.OutputExistsError("x.wav", 2),
        RemedyError("a run is there", "resume", "True", "to continue it"),
        nsynth.OptionError("temperature", -1, "must be a number >= 0"),
        ClipError("a.wav", "offset", 3.0, "is past the end"),
    ):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err) and vars(back) == vars(err)
    assert user_message(e).startswith("no default model is installed; use --checkpoint PATH to a weights file")


def test_api_functions_take_note_names_and_speak_library_words():
    model = tiny_model()
    note = tone(440.0, 0.05)
    z = nsynth.encode(note, model=model)
    s = nsynth.Sampling(seed=4, **QUIET)
    c4 = nsynth.decode(z, "C4", model=model, sampling=s)
    np.testing.assert_array_equal(c4, nsynth.decode(z, 60, model=model, sampling=s))
    with pytest.raises(nsynth.NSynthError) as e:
        nsynth.decode(z, model=model)
    assert "pitch-conditioned" in str(e.value) and "--" not in str(e.value)
    with pytest.raises(nsynth.NSynthError, match="is not a pitch"):
        nsynth.decode(z, "auto", model=model)  # nothing to estimate it from
    a4 = nsynth.reconstruct(note, pitch="A4", model=model, sampling=s)[0]
    np.testing.assert_array_equal(a4, nsynth.reconstruct(note, pitch=69, model=model, sampling=s)[0])
    with pytest.raises(nsynth.NSynthError, match="H9"):
        nsynth.reconstruct(note, pitch="H9", model=model)
    assert nsynth.resolve_pitch(note, "Bb3", model=model) == 58


def test_a_resolved_pitch_is_carried_not_derived_again(monkeypatch):
    """``reconstruct`` given a ``NotePitch`` uses it as it is: no estimate, no f0 curve computed again."""
    import nsynth.api as api

    model = tiny_model("pitched")
    note = tone(330.0, 0.2)
    resolved = note_pitch(note, "auto", model=model)
    assert resolved.midi == 64 and resolved.f0 is not None  # 330 Hz: E4, and its f0 curve
    s = nsynth.Sampling(seed=1, **QUIET)
    auto = nsynth.reconstruct(note, pitch="auto", model=model, sampling=s)[0]

    def no_estimate(*args, **kw):
        raise AssertionError("the pitch was resolved again")

    monkeypatch.setattr(api, "estimate_pitch", no_estimate)
    monkeypatch.setattr(api, "f0_frames", no_estimate)
    np.testing.assert_array_equal(nsynth.reconstruct(note, pitch=[resolved], model=model, sampling=s)[0], auto)
    glide = NotePitch(64, np.geomspace(200.0, 400.0, resolved.f0.size))  # a curve of the caller's own
    assert not np.array_equal(nsynth.reconstruct(note, pitch=glide, model=model, sampling=s)[0], auto)


@pytest.mark.parametrize("kind", ["pitched", "parallel"])
def test_pitch_auto_runs_pyin_once_and_agrees_with_the_two_resolvers(monkeypatch, kind):
    """'auto' on a pitch-locked model: one pYIN pass gives the MIDI pitch and the f0 curve (a
    parallel model's ``note_f0`` around that pitch, from the same pass)."""
    import nsynth.api as api

    model = tiny_model("pitched") if kind == "pitched" else tiny_parallel()
    note = tone(196.0, 0.6)  # G3
    calls = []
    real = nsynth.pyin.pyin

    def counted(*args, **kw):
        calls.append(kw.get("hop"))
        return real(*args, **kw)

    monkeypatch.setattr(nsynth.pyin, "pyin", counted)
    resolved = note_pitch(note, "auto", model=model)
    assert len(calls) == 1
    assert resolved.midi == api.resolve_pitch(note, "auto", model=model) == 55
    np.testing.assert_array_equal(resolved.f0, api.resolve_f0(note, "auto", model=model))
    hop = model.config.hop
    assert calls == [hop, 1024, hop]  # the two resolvers on their own: a pass each (the pitch at hop 1024)


def test_the_cli_reconstructs_what_the_api_does_with_pitch_auto(tmp_path, pitched_ckpt):
    sf.write(tmp_path / "n.wav", tone(330.0, 0.2), 16000)
    r = run("reconstruct", tmp_path / "n.wav", "-o", tmp_path / "o", "-c", pitched_ckpt, "--format", "float")
    assert r.exit_code == 0, r.output
    model = nsynth.load_model(pitched_ckpt)
    want = nsynth.reconstruct(tone(330.0, 0.2), model=model, sampling=nsynth.Sampling(**QUIET))[0]
    np.testing.assert_array_equal(sf.read(tmp_path / "o" / "n.wav", dtype="float32")[0], want)


def test_cli_pitch_options_take_note_names(tmp_path, tiny_ckpt, wav_pair):
    a, _ = wav_pair

    def recon(name, *opts):
        r = run("reconstruct", a, "-o", tmp_path / name, "-c", tiny_ckpt, "--format", "float", *opts)
        assert r.exit_code == 0, r.output
        return sf.read(tmp_path / name / "a.wav")[0]

    np.testing.assert_array_equal(recon("c4", "--pitch", "C4"), recon("60", "--pitch", 60))
    for bad, message in (("H4", "is not a pitch"), ("C#10", "0-127"), ("200", "0-127")):
        r = run("reconstruct", a, "-o", tmp_path / "bad", "-c", tiny_ckpt, "--pitch", bad)
        assert r.exit_code == 2 and "--pitch" in r.output and message in r.output, r.output
    r = run("decode", tmp_path / "x.npy", "-o", tmp_path / "d", "-c", tiny_ckpt, "--pitch", "auto")
    assert r.exit_code == 2 and "--pitch" in r.output  # decode has no audio to estimate from
    assert pitch_list(None, None, "C2-C3:6, 60,E4") == [36, 42, 48, 60, 64]
    assert pitch_list(None, None, "36-84:12") == [36, 48, 60, 72, 84]
    assert pitch_list(None, None, "C-1-D-1") == [0, 1, 2]
    for bad in ("H2", "60-200", "C4-C3", "x", ""):
        with pytest.raises(click.BadParameter, match="MIDI pitches 0-127 or note names"):
            pitch_list(None, None, bad)


# --- --pitch-from --------------------------------------------------------------------------------


def test_interpolate_pitch_from_b_a_number_or_a_note(tmp_path, tiny_ckpt, wav_pair):
    a, b = wav_pair  # A: 440 Hz (MIDI 69), B: 220 Hz (MIDI 57)

    def interp(name, *opts):
        out = tmp_path / name
        r = run("interpolate", a, b, "-c", tiny_ckpt, "-o", out, "--steps", 2, "--format", "float", *opts)
        assert r.exit_code == 0, r.output
        return r.output, sf.read(out / "00_alpha0.00.wav")[0], json.loads((out / "manifest.json").read_text())

    out, from_b, manifest = interp("b", "--pitch-from", "b")
    assert f"{b}: pitch 57 (estimated: A3" in out and f"{a}: pitch" not in out
    assert manifest["settings"]["pitch"] == 57 and manifest["settings"]["pitch_from"] == "b"
    np.testing.assert_array_equal(from_b, interp("57", "--pitch", 57)[1])  # this model has no pitch lock
    _, from_a, manifest = interp("a", "--pitch-from", "A")
    assert manifest["settings"]["pitch"] == 69 and not np.array_equal(from_a, from_b)
    np.testing.assert_array_equal(from_a, interp("default")[1])  # a is the default, as before
    _, c4, manifest = interp("c4", "--pitch-from", "C4")
    assert manifest["settings"]["pitch"] == 60 and manifest["settings"]["pitch_from"] is None
    np.testing.assert_array_equal(c4, interp("60", "--pitch", 60)[1])
    r = run("interpolate", a, b, "-c", tiny_ckpt, "-o", tmp_path / "x", "--pitch", 60, "--pitch-from", "b")
    assert r.exit_code == 2 and "--pitch-from" in r.output and not (tmp_path / "x").exists()
    r = run("interpolate", a, b, "-c", tiny_ckpt, "-o", tmp_path / "x", "--pitch-from", "c")
    assert r.exit_code == 2 and "--pitch-from" in r.output


def test_api_pitch_from_follows_the_chosen_note_s_f0_curve():
    model = tiny_model("pitched")
    a, b = tone(330.0, 0.1), tone(500.0, 0.15)
    s = nsynth.Sampling(seed=2, **QUIET)
    p = pair_pitch(a, b, pitch_from="b", model=model)
    assert p.midi == 71 and p.f0 is not None and abs(1200 * np.log2(np.median(p.f0) / 500.0)) < 30
    from_b = nsynth.interpolate(a, b, 2, pitch_from="b", model=model, sampling=s)
    np.testing.assert_array_equal(from_b[0], nsynth.interpolate(a, b, 2, pitch=p, model=model, sampling=s)[0])
    assert not np.array_equal(from_b[0], nsynth.interpolate(a, b, 2, model=model, sampling=s)[0])
    morph_b = nsynth.morph(a, b, pitch_from="b", model=model, sampling=s)
    np.testing.assert_array_equal(morph_b, nsynth.morph(a, b, pitch=p, model=model, sampling=s))
    with pytest.raises(nsynth.NSynthError, match="pitch_from 'c'"):
        nsynth.interpolate(a, b, 2, pitch_from="c", model=model)


# --- --offset / --seconds ------------------------------------------------------------------------


def test_load_audio_reads_only_the_part_asked_for(tmp_path):
    full = tone(440.0, 0.5) * np.linspace(0.1, 1.0, 8000, dtype=np.float32)
    sf.write(tmp_path / "n.wav", full, 16000, subtype="FLOAT")
    part = nsynth.load_audio(tmp_path / "n.wav", offset=0.1, seconds=0.05)
    np.testing.assert_array_equal(part, full[1600:2400])
    np.testing.assert_array_equal(nsynth.load_audio(tmp_path / "n.wav", offset=0.45), full[7200:])
    np.testing.assert_array_equal(nsynth.load_audio(tmp_path / "n.wav", offset=0.4, seconds=5.0), full[6400:])
    np.testing.assert_array_equal(clip_audio(full, 16000, 0.1, 0.05), part)
    sf.write(tmp_path / "n44.wav", resample(full, 16000, 44100), 44100, subtype="FLOAT")
    assert nsynth.load_audio(tmp_path / "n44.wav", offset=0.1, seconds=0.05).shape == (800,)
    bad = [(0.5, None, "offset"), (9.0, 1.0, "offset"), (-0.1, None, "offset"), (float("nan"), None, "offset")]
    for offset, seconds, param in bad + [(0.0, 0.0, "seconds"), (0.0, -1.0, "seconds")]:
        with pytest.raises(ClipError) as e:
            nsynth.load_audio(tmp_path / "n.wav", offset=offset, seconds=seconds)
        assert e.value.param == param and str(e.value).startswith(f"{tmp_path / 'n.wav'}: {param}")
        assert "--" not in str(e.value)
    with pytest.raises(ClipError, match="past the end"):
        clip_audio(full, 16000, 0.5)


def test_commands_read_only_the_part_asked_for(tmp_path, tiny_ckpt, wav_pair):
    a, b = wav_pair
    opts = ("-c", tiny_ckpt, "--format", "float", "--pitch", 60, "--offset", 0.1, "--seconds", 0.05)
    r = run("reconstruct", a, "-o", tmp_path / "r", *opts)
    assert r.exit_code == 0, r.output
    model = nsynth.load_model(tiny_ckpt)
    part = nsynth.load_audio(a)[1600:2400]
    want = nsynth.reconstruct(part, pitch=60, model=model, sampling=nsynth.Sampling(**QUIET))[0]
    np.testing.assert_array_equal(sf.read(tmp_path / "r" / "a.wav", dtype="float32")[0], want)
    r = run("interpolate", a, b, "-o", tmp_path / "i", "--steps", 2, *opts)
    assert r.exit_code == 0, r.output
    assert sf.info(tmp_path / "i" / "00_alpha0.00.wav").frames == 800
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text())["settings"]
    assert (manifest["offset"], manifest["seconds"]) == (0.1, 0.05)
    r = run("encode", a, "-o", tmp_path / "e", "-c", tiny_ckpt, "--offset", 0.1, "--seconds", 0.05)
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(np.load(tmp_path / "e" / "a.npy"), nsynth.encode(part, model=model), atol=1e-5)


def test_grid_and_multisample_read_the_part_of_each_source(tmp_path, tiny_ckpt, wav_pair):
    a, b = wav_pair
    common = ("-c", tiny_ckpt, "--pitches", "C4", "--offset", 0.05, "--seconds", 0.02, "--batch-size", 8)
    r = run("grid", a, b, a, b, "-o", tmp_path / "g", "--resolution", 2, *common)
    assert r.exit_code == 0, r.output
    assert sf.info(tmp_path / "g" / "pitch_060" / "grid_00_00.wav").frames == 320
    r = run("multisample", a, "-o", tmp_path / "m", *common)
    assert r.exit_code == 0, r.output
    assert sf.info(tmp_path / "m" / "samples" / "a_060.wav").frames == 320
    settings = json.loads((tmp_path / "m" / "manifest.json").read_text())["settings"]
    assert (settings["offset"], settings["seconds"], settings["pitches"]) == (0.05, 0.02, [60])


@pytest.mark.parametrize(
    "command",
    [
        ["interpolate", "A", "B", "-o", "OUT"],
        ["morph", "A", "B", "-o", "OUT/m.wav"],
        ["reconstruct", "A", "-o", "OUT"],
        ["grid", "A", "B", "A", "B", "-o", "OUT", "--resolution", "2", "--pitches", "60"],
        ["multisample", "A", "-o", "OUT", "--pitches", "60"],
        ["encode", "A", "-o", "OUT"],
        ["plot", "A", "-o", "OUT/p.png"],
        ["neighbors", "A", "--index", "INDEX"],
    ],
    ids=lambda c: c[0],
)
def test_an_offset_past_the_end_is_one_line_naming_the_file_and_option(tmp_path, tiny_ckpt, wav_pair, command):
    a, b = wav_pair
    (tmp_path / "index").mkdir()
    np.save(tmp_path / "index" / "x.npy", np.zeros((3, 16), np.float32))
    paths = {"A": a, "B": b, "OUT": tmp_path / "out", "OUT/m.wav": tmp_path / "m.wav", "OUT/p.png": tmp_path / "p.png"}
    args = [paths.get(x, tmp_path / "index" if x == "INDEX" else x) for x in command]
    model = [] if command[0] == "plot" else ["-c", tiny_ckpt]
    r = run(*args, *model, "--offset", 0.3)  # A is 0.25 s long; an exception other than a user error would raise
    assert r.exit_code == 1, r.output
    errors = re.findall(r"nsynth: error: [^\r\n]*", r.output)  # encode's bar may share its line
    assert errors == [f"nsynth: error: {a}: --offset 0.3: past the end (the sound is 0.25 s long)"], r.output


def test_bad_offset_and_seconds_values_name_the_option(tmp_path, tiny_ckpt, wav_pair):
    a, b = wav_pair
    bad = (("--offset", -1), ("--seconds", 0), ("--seconds", -0.5), ("--offset", "nan"), ("--seconds", "x"))
    for opt, value in bad:
        r = run("interpolate", a, b, "-c", tiny_ckpt, "-o", tmp_path / "o", opt, value)
        assert r.exit_code == 2 and opt in r.output, r.output
        assert not (tmp_path / "o").exists()


# --- --sample-rate and manifests -----------------------------------------------------------------


def test_sample_rate_resamples_the_written_files(tmp_path, tiny_ckpt, wav_pair):
    a, _ = wav_pair
    opts = ("-c", tiny_ckpt, "--format", "float", "--pitch", 60, "--seed", 7)
    assert run("reconstruct", a, "-o", tmp_path / "16k", *opts).exit_code == 0
    at_model_rate = sf.read(tmp_path / "16k" / "a.wav", dtype="float32")[0]
    for rate in (44100, 48000, 8000):
        r = run("reconstruct", a, "-o", tmp_path / str(rate), *opts, "--sample-rate", rate)
        assert r.exit_code == 0, r.output
        got, sr = sf.read(tmp_path / str(rate) / "a.wav", dtype="float32")
        assert sr == rate and got.shape == (4000 * rate // 16000,)
        np.testing.assert_allclose(got, resample(at_model_rate, 16000, rate), atol=1e-6)
    r = run("reconstruct", a, "-o", tmp_path / "bad", *opts, "--sample-rate", 0)
    assert r.exit_code == 2 and "--sample-rate" in r.output


def test_manifests_record_the_model_rate_and_the_file_rate(tmp_path, tiny_ckpt, wav_pair):
    a, b = wav_pair
    out = tmp_path / "i"
    r = run("interpolate", a, b, "-c", tiny_ckpt, "-o", out, "--steps", 3, "--mix", "--sample-rate", 44100)
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    settings = manifest["settings"]
    assert (settings["model_sample_rate"], settings["sample_rate"]) == (16000, 44100)
    assert (settings["command"], settings["steps"]) == ("interpolate", 3)
    assert (settings["pitch"], settings["pitch_from"]) == (69, "a")
    assert settings["a"] == str(a) and settings["weights"] == str(tiny_ckpt) and settings["seed"] == 0
    files = {e["file"]: e for e in manifest["files"]}
    assert set(files) == {p.name for p in out.glob("*.wav")} and len(files) == 6
    assert files["01_alpha0.50.wav"]["alpha"] == 0.5 and files["mix_02_alpha1.00.wav"]["crossfade"]
    assert all(sf.info(out / f).samplerate == 44100 == e["sample_rate"] for f, e in files.items())
    for f in out.glob("*.wav"):
        f.unlink()
    r = run("interpolate", a, b, "-c", tiny_ckpt, "-o", out, "--steps", 3)  # the manifest is an output too
    assert r.exit_code == 1 and f"{out / 'manifest.json'}: already exists" in r.output
    out = tmp_path / "grid"
    r = run("grid", a, b, a, b, "-o", out, "-c", tiny_ckpt, "--resolution", 2, "--pitches", 60, "--sample-rate", 48000)
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["settings"]["model_sample_rate"], manifest["settings"]["sample_rate"]) == (16000, 48000)
    assert {e["sample_rate"] for e in manifest["files"]} == {48000}
    assert sf.info(out / "pitch_060" / "grid_01_01.wav").samplerate == 48000
