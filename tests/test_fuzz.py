"""Damaged files, seeded and bounded: byte-mutated audio (WAV, FLAC, OGG, MP3) and weights files
must end as our one-line error or as what a good file gives (finite mono audio; the very same
tensors), never as a raw exception, a traceback or a hang."""

import io
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from conftest import tiny_model, tone
from fastapi.testclient import TestClient

import nsynth
from nsynth.cli import main
from nsynth.errors import NSynthError
from nsynth.serve.app import create_app

SHIPPED = Path(nsynth.__file__).parent / "weights" / "pitched.safetensors"
FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}


def mutate(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One damaged copy of ``data``: flipped bytes, a cut, a zeroed run or a broken header."""
    b = bytearray(data)
    kind = ["flip", "cut", "zeros", "header"][int(rng.integers(4))]
    if kind == "flip":
        for i in rng.integers(0, len(b), int(rng.integers(1, 9))):
            b[i] ^= 1 << int(rng.integers(8))
    elif kind == "cut":
        b = b[: int(rng.integers(0, len(b)))]
    elif kind == "zeros":
        i = int(rng.integers(0, len(b)))
        j = min(len(b), i + int(rng.integers(1, 257)))
        b[i:j] = bytes(j - i)
    else:
        for i in rng.integers(0, min(len(b), 64), int(rng.integers(1, 5))):
            b[i] = int(rng.integers(256))
    return kind, bytes(b)


def encoded(fmt: str, stereo: bool, sr: int) -> bytes:
    x = tone(440.0, 0.3, sr=sr)
    if stereo:
        x = np.stack([x, 0.5 * x], 1)
    buf = io.BytesIO()
    container, subtype = FORMATS[fmt]
    sf.write(buf, x, sr, format=container, subtype=subtype)
    return buf.getvalue()


def one_line(e: BaseException) -> bool:
    return isinstance(e, NSynthError) and "\n" not in str(e) and len(str(e)) > 0


@pytest.fixture(scope="module")
def damaged_audio(tmp_path_factory) -> list[Path]:
    """240 damaged files: 60 per format, from mono 16 kHz and stereo 44.1 kHz originals."""
    root = tmp_path_factory.mktemp("damaged")
    rng = np.random.default_rng(30)
    paths = []
    for fmt in FORMATS:
        originals = [encoded(fmt, False, 16000), encoded(fmt, True, 44100)]
        for k in range(60):
            kind, data = mutate(originals[k % 2], rng)
            p = root / f"{fmt}_{k:02d}_{kind}.{fmt}"
            p.write_bytes(data)
            paths.append(p)
    return paths


def test_damaged_audio_loads_or_fails_in_one_line(damaged_audio):
    outcomes = {"error": 0, "audio": 0}
    for p in damaged_audio:
        t0 = time.perf_counter()
        try:
            x = nsynth.load_audio(p)
        except Exception as e:  # noqa: BLE001 - the point: which exceptions come out
            assert one_line(e), f"{p.name}: {type(e).__name__}: {e}"
            assert p.name in str(e), f"{p.name}: the error does not name the file: {e}"
            outcomes["error"] += 1
        else:
            assert x.dtype == np.float32 and x.ndim == 1 and x.size > 0 and np.isfinite(x).all(), p.name
            outcomes["audio"] += 1
        assert time.perf_counter() - t0 < 5, f"{p.name} took {time.perf_counter() - t0:.1f} s"
    assert outcomes["error"] > 20 and outcomes["audio"] > 20, outcomes  # the mutations reach both ends


def test_a_command_over_damaged_audio_keeps_the_good_files(tmp_path, tiny_ckpt, damaged_audio):
    good = tmp_path / "good.wav"
    sf.write(good, tone(330.0, 0.2), 16000)
    files = [good, *damaged_audio[::6]]  # 40 damaged, every format and kind
    r = CliRunner().invoke(main, ["encode", *map(str, files), "-o", str(tmp_path / "e"), "--checkpoint", str(tiny_ckpt)])
    assert r.exit_code in (0, 1), r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    assert (tmp_path / "e" / "good.npy").exists()
    for line in r.output.splitlines():
        line = line.split("\r")[-1]
        if line.startswith("nsynth: error:") and "input(s) failed" not in line:
            assert any(p.name in line for p in files), line


def _tensors(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("source", ["tiny", "shipped"])
def test_damaged_weights_are_refused_never_used(tmp_path, source):
    """48 damaged copies of a weights file (24 of the shipped one): each is refused in one line
    (by load_model and by ``nsynth info``) or loads the very same tensors."""
    if source == "tiny":
        path = tmp_path / "tiny.safetensors"
        nsynth.save_model(tiny_model(), path)
        n = 48
    else:
        path, n = SHIPPED, 24
    original = _tensors(nsynth.load_model(path))
    data = path.read_bytes()
    rng = np.random.default_rng(31)
    wrong, refused = [], 0
    for k in range(n):
        kind, bad = mutate(data, rng)
        if k % 3 == 0:  # a third inside the tensor bytes, where safetensors itself checks nothing
            i = int(rng.integers(len(data) // 2, len(data)))
            bad = data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1 :]
            kind = "tensor-flip"
        p = tmp_path / f"w{k:02d}_{kind}.safetensors"
        p.write_bytes(bad)
        t0 = time.perf_counter()
        try:
            m = nsynth.load_model(p)
        except Exception as e:  # noqa: BLE001
            assert one_line(e) and isinstance(e, nsynth.CheckpointError), f"{p.name}: {type(e).__name__}: {e}"
            assert p.name in str(e), str(e)
            refused += 1
            r = CliRunner().invoke(main, ["info", str(p)])
            errs = [ln for ln in r.output.splitlines() if ln.startswith("nsynth: error:")]
            assert r.exit_code == 1 and len(errs) == 1 and "Traceback" not in r.output, r.output
        else:
            got = _tensors(m)
            if got.keys() != original.keys() or any(not torch.equal(got[k2], original[k2]) for k2 in got):
                wrong.append(p.name)
        assert time.perf_counter() - t0 < 5
    assert wrong == []  # loaded with tensors that differ from the original: none
    assert refused >= n // 2


@pytest.fixture
def client(tmp_path, tiny_ckpt):
    app = create_app(tmp_path / "cache", str(tiny_ckpt), "cpu", max_upload=200_000)
    with TestClient(app) as c:
        yield c


def test_a_damaged_upload_is_a_4xx_in_one_line_and_the_sounds_before_it_stay(client, damaged_audio):
    def up(name, data):
        return client.post("/api/sounds", files={"file": (name, data, "application/octet-stream")})

    ids = []
    for f in (220.0, 330.0):
        buf = io.BytesIO()
        sf.write(buf, tone(f, 0.1), 16000, format="WAV")
        r = up(f"c{f:.0f}.wav", buf.getvalue())
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    refused = 0
    for p in damaged_audio[::4]:
        r = up(p.name, p.read_bytes())
        assert r.status_code in (200, 400, 413, 415, 422), (p.name, r.status_code, r.text)
        if r.status_code != 200:
            err = r.json()["error"]
            assert "\n" not in err and p.name in err, err
            refused += 1
    assert refused > 5
    job = client.post("/api/grids", json={"corners": ids, "resolution": 2, "pitches": [60], "seconds": 0.1})
    assert job.status_code == 200, job.text  # the good sounds are still there to render
