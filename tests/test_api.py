"""The public Python API that the CLI is a thin layer over: Sampling, morph, dataset helpers,
output naming, and the CLI writing exactly what the API returns."""

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import tiny_model, tone

import nsynth
from nsynth.cli import main
from nsynth.data import NoteDataset, open_training_data, parse_pitch_range
from nsynth.data.notes import Note
from nsynth.files import unique_outputs
from nsynth.generation import generate_audio
from nsynth.training import TrainConfig


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_sampling_options_are_checked_and_named():
    """Named in the library's words (a Python user has no flags); the CLI names its flag."""
    with pytest.raises(nsynth.NSynthError, match="^temperature -1.0: must be"):
        nsynth.Sampling(temperature=-1.0)
    with pytest.raises(nsynth.NSynthError, match="^temperature nan"):
        nsynth.Sampling(temperature=float("nan"))
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(nsynth.NSynthError, match="^min_p"):
            nsynth.Sampling(min_p=bad)
    with pytest.raises(nsynth.NSynthError, match="^backend 'gpu'"):
        nsynth.Sampling(backend="gpu")
    with pytest.raises(nsynth.NSynthError, match="^precision"):
        nsynth.Sampling(precision="fp8")
    from nsynth.cli.common import user_message

    try:
        nsynth.Sampling(min_p=2.0)
    except nsynth.NSynthError as e:
        assert user_message(e) == "--min-p 2.0: must be a number >= 0 and < 1"
    with pytest.raises(nsynth.NSynthError, match="reference backend runs in fp32"):
        nsynth.Sampling(backend="reference", precision="bf16")
    s = nsynth.Sampling(seed=5)
    assert s.shifted(3).seed == 8 and s.seed == 5  # frozen: shifting makes a new object
    with pytest.raises(AttributeError):
        s.seed = 1  # type: ignore[misc]
    model = tiny_model()
    assert s.for_model(model).temperature == model.recommended.temperature == 1.0
    assert s.for_model(model).min_p == model.recommended.min_p == 0.0
    assert nsynth.Sampling(min_p=0.25).for_model(model).min_p == 0.25
    assert nsynth.Sampling(temperature=0).greedy and nsynth.Sampling(temperature=0).for_model(model).temperature == 0
    with pytest.raises(ValueError, match="not resolved"):
        s.check_resolved()
    assert s.for_model(model).check_resolved().postfilter == 0.0  # not pitch-locked: off


def test_morph_api_and_cli_write_the_same_note(tmp_path, tiny_ckpt):
    a, b = tone(440.0, 0.1), tone(660.0, 0.08)
    sf.write(tmp_path / "a.wav", a, 16000)
    sf.write(tmp_path / "b.wav", b, 16000)
    model = nsynth.load_model(tiny_ckpt)
    note = nsynth.morph(a, b, "ease", pitch=60, model=model, sampling=nsynth.Sampling(seed=3, progress=False))
    assert note.shape == (a.size,) and note.dtype == np.float32
    r = run(
        "morph",
        tmp_path / "a.wav",
        tmp_path / "b.wav",
        "-o",
        tmp_path / "m.wav",
        "--curve",
        "ease",
        "--pitch",
        60,
        "--seed",
        3,
        "--format",
        "float",
        "-c",
        tiny_ckpt,
    )
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(sf.read(tmp_path / "m.wav", dtype="float32")[0], note)
    other = nsynth.morph(a, b, "hold", pitch=60, model=model, sampling=nsynth.Sampling(seed=3, progress=False))
    assert not np.array_equal(other, note)  # the curve reaches the embedding mix
    with pytest.raises(nsynth.NSynthError, match="unknown curve"):
        nsynth.morph(a, b, "zigzag", pitch=60, model=model)


def test_notes_given_one_stream_of_draws_share_it():
    model = tiny_model("pitched")
    z = nsynth.encode(tone(330.0, 0.1), model=model)
    sampling = nsynth.Sampling(seed=5, temperature=1.0, progress=False)
    own = generate_audio(model, [z, z, z], [64, 64, 64], sampling=sampling)
    shared = generate_audio(model, [z, z, z], [64, 64, 64], sampling=sampling, draws=[1, 0, 1])
    assert not np.array_equal(own[0], own[1])  # by default every note draws its own numbers
    np.testing.assert_array_equal(shared[0], shared[2])
    assert not np.array_equal(shared[0], shared[1])
    explicit = generate_audio(model, [z, z, z], [64, 64, 64], sampling=sampling, draws=[0, 1, 2])
    for x, y in zip(explicit, own):  # the default is a stream of its own per note
        np.testing.assert_array_equal(x, y)
    with pytest.raises(nsynth.NSynthError, match="draws"):
        generate_audio(model, [z, z], [64, 64], sampling=sampling, draws=[0])


def test_interpolation_steps_differ_only_by_their_embedding():
    model = tiny_model("pitched")
    a = tone(330.0, 0.1)
    sampling = nsynth.Sampling(seed=2, temperature=1.0, progress=False)
    same = nsynth.interpolate(a, a, 3, pitch=64, model=model, sampling=sampling)
    np.testing.assert_array_equal(same[0], same[1])
    np.testing.assert_array_equal(same[0], same[2])
    b = tone(500.0, 0.1) * 0.5
    steps = nsynth.interpolate(a, b, 3, pitch=64, model=model, sampling=sampling)
    assert not np.array_equal(steps[0], steps[2])


def test_the_cli_reports_an_estimated_pitch_once_per_note(tmp_path, tiny_ckpt, wav_pair):
    a, b = wav_pair
    r = CliRunner().invoke(
        main, ["interpolate", str(a), str(b), "--steps", "2", "-o", str(tmp_path / "i"), "-c", str(tiny_ckpt)]
    )
    assert r.exit_code == 0, r.output
    assert r.output.count(f"{a}: pitch 69 (estimated") == 1


def _notes(n):
    return NoteDataset("d", [Note(f"n{i}", 60 + i % 12) for i in range(n)], lambda i: np.zeros(4, np.float32), 16000)


def test_subset_is_evenly_spaced_and_keeps_order():
    ds = _notes(10)
    assert [n.key for n in ds.subset(4).notes] == ["n0", "n3", "n6", "n9"]
    assert ds.subset(None) is ds and ds.subset(50) is ds
    assert len(ds.subset(1)) == 1


def test_training_data_uses_train_and_valid_folders(tmp_path):
    for split, n in (("train", 3), ("valid", 2)):
        folder = tmp_path / "set" / split
        folder.mkdir(parents=True)
        for i in range(n):
            sf.write(folder / f"t{split}{i}-{60 + i:03d}-100.wav", tone(440.0, 0.05), 16000)
    loose = tmp_path / "loose"
    loose.mkdir()
    sf.write(loose / "x-062-100.wav", tone(440.0, 0.05), 16000)
    train, valid = open_training_data([tmp_path / "set", loose])
    assert len(train) == 4 and len(valid) == 2
    train, valid = open_training_data([loose])
    assert len(train) == 1 and valid is None
    _, valid = open_training_data([tmp_path / "set"], valid=loose)
    assert len(valid) == 1
    assert parse_pitch_range("24-96") == (24, 96)
    assert parse_pitch_range("C1-C7") == (24, 96) and parse_pitch_range("C#-1-G9") == (1, 127)
    for bad in ("24", "96-24", "a-b", "-5-10", "0-128", "C4-"):
        with pytest.raises(nsynth.OptionError, match="pitch_range"):
            parse_pitch_range(bad)


def test_training_defaults_follow_the_preset():
    big = TrainConfig.for_preset("nsynth")
    assert (big.lr, big.schedule, big.amp, big.compile) == (2e-4, "magenta", False, False)
    small = TrainConfig.for_preset("pitched", cuda=True, lr=None, steps=7)
    assert (small.lr, small.schedule, small.amp, small.compile, small.steps) == (1e-3, "cosine", True, True, 7)
    assert TrainConfig.for_preset("mini", schedule="constant", compile=False).compile is False
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainConfig.for_preset("mini", learning_rate=1)
    with pytest.raises(ValueError, match="unknown schedule"):
        TrainConfig.for_preset("mini", schedule="linear")


def test_colliding_outputs_keep_their_extension(tmp_path):
    outs = unique_outputs([tmp_path / "x.npy", tmp_path / "x.npy", tmp_path / "y.npy"], ["x.wav", "x.flac", "y.wav"])
    assert [o.name for o in outs] == ["x.wav.npy", "x.flac.npy", "y.npy"]
    with pytest.raises(nsynth.NSynthError, match="several inputs would write"):
        unique_outputs([tmp_path / "x.npy", tmp_path / "x.npy"], ["x.wav", "x.wav"])
