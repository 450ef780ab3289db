"""Magenta's NSynth checkpoint: read without TensorFlow, reproduce Magenta's own outputs."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import nsynth
from nsynth.config import get_preset
from nsynth.data.tfrecord import _enc_varint, _len_delim
from nsynth.magenta import EMA_SUFFIX, build_state, convert, import_magenta, infer_config
from nsynth.mulaw import quantize

FIX = Path(__file__).parent / "fixtures" / "magenta"
CKPT = FIX / "magenta_tiny_ckpt" / "model.ckpt-1234"


@pytest.fixture(scope="module")
def ref():
    return np.load(FIX / "magenta_tiny.npz")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "tiny.safetensors"
    convert(CKPT, out, dilation_cycle=2)
    return nsynth.load_model(out)


def test_reproduces_magenta_encoding_logits_and_loss(converted, ref):
    wav = torch.from_numpy(ref["io/wav"])
    with torch.no_grad():
        enc = converted.encode(wav)  # (B, 16, frames)
        prepool = converted.encoder.forward_prepool((quantize(wav)[:, None].float() - 128) / 128)
        logits = converted.logits(wav, enc)  # (B, 256, T)
        loss = torch.nn.functional.cross_entropy(logits, quantize(wav))
    assert enc.shape == (2, 16, 8) and logits.shape == (2, 256, 4096)
    assert np.abs(prepool.transpose(1, 2).numpy() - ref["io/encoding_prepool"]).max() <= 1e-4
    assert np.abs(enc.transpose(1, 2).numpy() - ref["io/encoding"]).max() <= 1e-4
    assert np.abs(logits.transpose(1, 2).numpy() - ref["io/logits"]).max() <= 1e-4
    assert loss.item() == pytest.approx(float(ref["io/loss"]), abs=1e-5)
    assert converted.config.decoder.receptive_field() == 15  # as measured on Magenta's graph


def test_cached_generation_matches_magenta_logits(converted, ref):
    from nsynth.generation.reference import teacher_forced_logits
    from nsynth.mulaw import audio_to_input

    wav = torch.from_numpy(ref["io/wav"])[:, :1100]  # across two 512-sample frames
    with torch.no_grad():
        cond = converted.conditioning(converted.encode(torch.from_numpy(ref["io/wav"])))
        cached = teacher_forced_logits(converted.decoder, audio_to_input(wav), cond)
    assert np.abs(cached.transpose(1, 2).numpy() - ref["io/logits"][:, :1100]).max() <= 1e-4


def test_ema_takes_the_shadows(ref, tmp_path):
    raw = import_magenta(CKPT, dilation_cycle=2)
    ema = import_magenta(CKPT, ema=True, dilation_cycle=2)
    assert raw.global_step == 1234
    assert all(n.endswith(EMA_SUFFIX) for n in ema.used) and not any(n.endswith(EMA_SUFFIX) for n in raw.used)
    w_raw = raw.model.decoder.out.weight.detach()
    w_ema = ema.model.decoder.out.weight.detach()
    np.testing.assert_allclose((w_ema - w_raw).numpy(), 0.01, atol=1e-6)
    np.testing.assert_allclose(
        (ema.model.decoder.out.bias - raw.model.decoder.out.bias).detach().numpy(), -0.01, atol=1e-6
    )
    assert len(raw.used) == 62 and "global_step" in raw.ignored


def test_full_h512_bo16_variable_list_maps_completely():
    variables = json.loads((FIX / "magenta_h512_bo16_variables.json").read_text())
    shapes = {v["name"]: v["shape"] for v in variables}
    assert len(shapes) == 374
    config = infer_config(shapes)
    assert config == get_preset("magenta")
    reads = []

    def read(name):
        reads.append(name)
        return np.zeros(shapes[name], np.float32)

    state, used = build_state(config, read)
    assert sorted(reads) == sorted(shapes)  # every variable used, once
    assert len(reads) == len(set(reads))
    assert sum(t.numel() for t in state.values()) == 61_804_048


def _write_bundle(prefix: Path, tensors: dict[str, np.ndarray]) -> None:
    """A minimal valid TF V2 bundle (one data block, uncompressed), for the error tests."""
    data, entries = b"", [(b"", _enc_varint(8) + _enc_varint(1))]  # BundleHeaderProto.num_shards = 1
    for name in sorted(tensors):
        arr = tensors[name].astype("<f4")
        shape = b"".join(_len_delim(2, _enc_varint(8) + _enc_varint(d)) for d in arr.shape)
        proto = _enc_varint(8) + _enc_varint(1) + _len_delim(2, shape) + _enc_varint(32) + _enc_varint(len(data))
        proto += _enc_varint(40) + _enc_varint(arr.nbytes)
        entries.append((name.encode(), proto))
        data += arr.tobytes()

    def block(items):
        body = b"".join(_enc_varint(0) + _enc_varint(len(k)) + _enc_varint(len(v)) + k + v for k, v in items)
        return body + struct.pack("<II", 0, 1)

    blk = block(entries)
    index = block([(entries[-1][0], _enc_varint(0) + _enc_varint(len(blk)))])
    meta = block([])
    out = blk + b"\0" * 5
    meta_off = len(out)
    out += meta + b"\0" * 5
    idx_off = len(out)
    out += index + b"\0" * 5
    footer = _enc_varint(meta_off) + _enc_varint(len(meta)) + _enc_varint(idx_off) + _enc_varint(len(index))
    out += footer.ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)
    Path(str(prefix) + ".index").write_bytes(out)
    Path(str(prefix) + ".data-00000-of-00001").write_bytes(data)


def test_bad_checkpoints_are_one_line_errors(tmp_path):
    other = tmp_path / "other" / "model.ckpt-5"
    other.parent.mkdir()
    _write_bundle(other, {"dense/kernel": np.ones((3, 4)), "dense/bias": np.zeros(4)})
    from nsynth.tfcheckpoint import TFCheckpoint

    assert TFCheckpoint(other).read("dense/kernel").shape == (3, 4)  # the bundle itself is valid
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    for f in CKPT.parent.iterdir():
        (trunc / f.name).write_bytes(f.read_bytes())
    data = trunc / "model.ckpt-1234.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:200_000])
    cases = [
        (tmp_path / "nothing" / "model.ckpt-1", "model.ckpt-1.index: no such file"),
        (other, "not a Magenta NSynth WaveNet checkpoint"),
        (trunc / "model.ckpt-1234", "truncated"),
        (FIX / "magenta_tiny.npz", "no such file"),
    ]
    for prefix, message in cases:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "nsynth.cli",
                "import-magenta",
                str(prefix),
                "-o",
                str(tmp_path / "out.safetensors"),
                "--dilation-cycle",
                "2",
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("nsynth: error:")]
        assert len(errors) == 1 and message in errors[0], proc.stderr  # one error line (after the status line)
        assert not (tmp_path / "out.safetensors").exists()


def test_import_cli_then_interpolate_needs_no_pitch(tmp_path, wav_pair):
    from click.testing import CliRunner

    from nsynth.cli import main

    out = tmp_path / "nsynth-magenta.safetensors"
    r = CliRunner().invoke(main, ["import-magenta", str(CKPT.parent), "-o", str(out), "--dilation-cycle", "2"])
    assert r.exit_code == 0, r.output
    assert "62 variables" in r.output and "step 1234" in r.output
    a, b = wav_pair
    r = CliRunner().invoke(
        main, ["interpolate", str(a), str(b), "-c", str(out), "-o", str(tmp_path / "i"), "--steps", "2"]
    )
    assert r.exit_code == 0, r.output
    assert "estimated" not in r.output  # no pitch conditioning: nothing to estimate
