"""The weights file: save -> load round trip, strictness, and never unpickling."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tiny_model
from safetensors.torch import load_file, save_file

import nsynth
from nsynth.errors import CheckpointError, OutputExistsError


def test_save_load_gives_identical_outputs(tmp_path):
    model = tiny_model(seed=3)
    path = tmp_path / "m.safetensors"
    nsynth.save_model(model, path)
    loaded = nsynth.load_model(path)
    assert loaded.config == model.config
    audio = torch.rand(2, 200) * 2 - 1
    pitch = torch.tensor([50, 70])
    with torch.no_grad():
        assert torch.equal(model(audio, pitch), loaded(audio, pitch))
    info = nsynth.read_info(path)
    assert info.format_version == 2 and info.checksum.startswith("sha256:")
    assert info.n_parameters == sum(p.numel() for p in model.parameters())


def test_refuses_to_overwrite(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_text("precious")
    with pytest.raises(OutputExistsError):
        nsynth.save_model(tiny_model(), path)
    assert path.read_text() == "precious"
    nsynth.save_model(tiny_model(seed=5), path, force=True)
    back = nsynth.load_model(path).state_dict()
    assert all(torch.equal(v, back[k]) for k, v in tiny_model(seed=5).state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp files left


def _rewrite(src: Path, dst: Path, edit, sign: bool = True) -> None:
    """``src`` with ``edit(tensors, metadata)`` applied, written to ``dst``; ``sign``: with a checksum
    of the edited contents (as a writer that meant it), else keeping the old one (damage)."""
    from safetensors import safe_open

    from nsynth import digest

    tensors = load_file(src)
    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
    tensors, meta = edit(tensors, meta)
    if sign and digest.KEY in meta:
        meta = {**meta, digest.KEY: digest.digest(tensors, meta)}
    save_file(tensors, dst, metadata=meta)


def test_a_damaged_file_is_refused_naming_both_digests(tmp_path, tiny_ckpt):
    from click.testing import CliRunner

    from nsynth.cli import main

    dst = tmp_path / "damaged.safetensors"
    _rewrite(tiny_ckpt, dst, lambda t, m: ({**t, "decoder.out.bias": t["decoder.out.bias"] + 1e-3}, m), sign=False)
    recorded = nsynth.read_info(dst).checksum
    with pytest.raises(CheckpointError) as e:
        nsynth.load_model(dst)
    message = str(e.value)
    assert message.startswith(f"{dst}: damaged (checksum {recorded[7:19]}… recorded, ") and "\n" not in message
    metadata_only = tmp_path / "temperature.safetensors"  # a header edit that still parses
    _rewrite(tiny_ckpt, metadata_only, lambda t, m: (t, {**m, "temperature": "0.9"}), sign=False)
    with pytest.raises(CheckpointError, match="damaged"):
        nsynth.load_model(metadata_only)
    r = CliRunner().invoke(main, ["info", str(dst)])
    assert r.exit_code == 1 and r.output.strip().splitlines()[-1] == f"nsynth: error: {message}"
    good = CliRunner().invoke(main, ["info", str(tiny_ckpt)])
    assert good.exit_code == 0 and f"checksum:         {nsynth.read_info(tiny_ckpt).checksum} (verified)" in good.output


def test_a_version_1_file_loads_with_a_note(tmp_path, tiny_ckpt, caplog):
    from click.testing import CliRunner

    from nsynth.cli import main

    old = tmp_path / "old.safetensors"
    _rewrite(tiny_ckpt, old, lambda t, m: (t, {k: v for k, v in {**m, "format_version": "1"}.items() if k != "checksum"}))
    with caplog.at_level("WARNING", logger="nsynth"):
        model = nsynth.load_model(old)
    assert [r.getMessage() for r in caplog.records] == [f"note: {old}: carries no checksum (format version 1); loaded unverified"]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in nsynth.load_model(tiny_ckpt).state_dict().items())
    r = CliRunner().invoke(main, ["info", str(old)])
    assert r.exit_code == 0 and "checksum:         none (written before checksums; not verified)" in r.output
    stripped = tmp_path / "stripped.safetensors"  # a version-2 file that lost its checksum is damaged, not old
    _rewrite(tiny_ckpt, stripped, lambda t, m: (t, {k: v for k, v in m.items() if k != "checksum"}))
    with pytest.raises(CheckpointError, match="damaged .format version 2 without a valid checksum"):
        nsynth.load_model(stripped)


def test_the_shipped_weights_carry_a_checksum_that_verifies():
    info = nsynth.read_info(None)
    assert info.format_version == 2 and info.checksum.startswith("sha256:")
    from nsynth.weights import read_tensors

    assert read_tensors(info)  # raises if the digest does not match


def test_strict_loading_names_the_problem(tmp_path, tiny_ckpt):
    cases = {
        "missing": (
            lambda t, m: ({k: v for k, v in t.items() if k != "decoder.out.bias"}, m),
            "missing decoder.out.bias",
        ),
        "unexpected": (lambda t, m: ({**t, "decoder.extra": torch.zeros(1)}, m), "unexpected decoder.extra"),
        "shape": (lambda t, m: ({**t, "decoder.out.bias": torch.zeros(3)}, m), "decoder.out.bias (3,)"),
        "version": (lambda t, m: (t, {**m, "format_version": "99"}), "newer"),
        "config": (lambda t, m: (t, {**m, "config": json.dumps({"bogus": 1})}), "invalid model config"),
        "foreign": (lambda t, m: (t, {}), "without nsynth metadata"),
    }
    for name, (edit, message) in cases.items():
        dst = tmp_path / f"{name}.safetensors"
        _rewrite(tiny_ckpt, dst, edit)
        with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
            nsynth.load_model(dst)
        assert str(dst) in str(e.value)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"
    evil = _Evil()
    evil.marker = marker
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(evil))
    with pytest.raises(CheckpointError, match="not an nsynth weights file"):
        nsynth.load_model(path)
    torch.save({"w": torch.zeros(2)}, tmp_path / "torch.pt")
    with pytest.raises(CheckpointError):
        nsynth.load_model(tmp_path / "torch.pt")
    assert not marker.exists()


def test_bad_files(tmp_path, tiny_ckpt):
    text = tmp_path / "t.safetensors"
    text.write_text("hello world, not weights")
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(tiny_ckpt.read_bytes()[:-100])
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    for path in (text, trunc, empty, tmp_path / "missing.safetensors", tmp_path):
        with pytest.raises(CheckpointError) as e:
            nsynth.load_model(path)
        assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_no_default_model_says_checkpoint_is_required(monkeypatch, tmp_path, wav_pair):
    import nsynth.weights as w
    from click.testing import CliRunner

    from nsynth.cli import main

    monkeypatch.setattr(w, "DEFAULT_WEIGHTS", "does-not-exist.safetensors")
    with pytest.raises(CheckpointError, match=r"no default model is installed; set path=PATH to a weights file"):
        nsynth.load_model()
    r = CliRunner().invoke(main, ["reconstruct", str(wav_pair[0]), "-o", str(tmp_path / "out")])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "no default model is installed; use --checkpoint PATH to a weights file" in r.output, r.output
    r = CliRunner().invoke(main, ["info"])  # info takes that option too, beside its CHECKPOINT argument
    assert r.exit_code == 1 and "use --checkpoint PATH" in r.output, r.output
    monkeypatch.undo()
    shipped = CliRunner().invoke(main, ["info"])
    by_option = CliRunner().invoke(main, ["info", "-c", str(w.default_weights_path())])
    assert shipped.exit_code == by_option.exit_code == 0 and "file:" in shipped.output
    def described(r):  # what it prints of the file, beside its "reading ..." status line
        return [line for line in r.output.splitlines() if not line.startswith("reading ")]

    assert described(by_option) == described(shipped)
    r = CliRunner().invoke(main, ["info", str(w.default_weights_path()), "-c", str(w.default_weights_path())])
    assert r.exit_code == 2 and "give the weights file once" in r.output


@pytest.mark.parametrize(
    "key,value,other,bad_values",
    [("temperature", "0", "1", ("warm", "-1", "inf")), ("min_p", "0.5", "0", ("sharp", "1", "-0.2"))],
)
def test_a_recommended_sampling_option_in_the_weights_file_is_the_default(
    tmp_path, wav_pair, key, value, other, bad_values
):
    from click.testing import CliRunner

    from nsynth.cli import main

    a, _ = wav_pair
    option = "--" + key.replace("_", "-")
    path = tmp_path / "recommends.safetensors"
    nsynth.save_model(tiny_model(), path, metadata={key: value})
    loaded = nsynth.load_model(path)
    assert getattr(loaded.recommended, key) == float(value) == getattr(nsynth.read_info(path).recommended, key)
    again = tmp_path / "again.safetensors"
    nsynth.save_model(loaded, again)  # a model keeps what its file recommends when saved again
    assert nsynth.load_model(again).recommended == loaded.recommended
    outs = {}
    for name, extra in (("default", []), ("same", [option, value]), ("other", [option, other])):
        args = ["reconstruct", str(a), "-c", str(path), "--pitch", "69", "-o", str(tmp_path / name)]
        r = CliRunner().invoke(main, args + extra)
        assert r.exit_code == 0, r.output
        outs[name] = sf.read(tmp_path / name / "a.wav")[0]
    np.testing.assert_array_equal(outs["default"], outs["same"])  # the file's value is the default
    assert not np.array_equal(outs["default"], outs["other"])
    r = CliRunner().invoke(main, ["reconstruct", str(a), option, "-1", "-o", str(tmp_path / "x")])
    assert r.exit_code != 0 and option in r.output and "Traceback" not in r.output
    for text in bad_values:
        bad = tmp_path / f"bad{text}.safetensors"
        nsynth.save_model(tiny_model(), bad, metadata={key: text})
        with pytest.raises(nsynth.CheckpointError, match=f"bad recommended {key} "):
            nsynth.load_model(bad)


def test_a_shipped_model_is_named_by_its_stem(tmp_path, monkeypatch):
    from nsynth.weights import shipped_models

    assert "pitched" in shipped_models()
    by_name = nsynth.load_model("pitched").state_dict()
    by_path = nsynth.load_model(Path(nsynth.__file__).parent / "weights" / "pitched.safetensors").state_dict()
    assert by_name.keys() == by_path.keys() and all(torch.equal(by_name[k], by_path[k]) for k in by_name)
    with pytest.raises(nsynth.CheckpointError, match=r"^pitchd: no such file, nor a shipped model \(shipped: .*pitched"):
        nsynth.load_model("pitchd")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pitched").write_bytes(b"not weights")  # a file of that name here comes first
    with pytest.raises(nsynth.CheckpointError, match="^pitched: "):
        nsynth.load_model("pitched")
