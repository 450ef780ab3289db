"""Training: a tiny model learns, checkpoints resume exactly (also after SIGKILL), and
two gloo processes under torchrun keep identical weights."""

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import TINY, tone, tone_notes, torchrun_cli

import nsynth
from nsynth import digest
from nsynth.config import get_preset
from nsynth.errors import CheckpointError
from nsynth.data import open_dataset
from nsynth.mulaw import audio_to_input
from nsynth.training import CropBatches, TrainConfig, load_codes, train
from nsynth.training.data import CodeSet
from nsynth.training.augment import TrainingLoss, self_fed

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    return tone_notes(tmp_path, monkeypatch, 0.1)


def _config():
    return get_preset("mini").replace(**TINY)


def _metrics(run):
    with open(run / "metrics.csv") as f:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]


def test_crops_are_mu_law_exact_and_reproducible(tiny_data):
    codes = load_codes(open_dataset(tiny_data), min_length=64, progress=False)
    assert codes.codes.dtype == np.int8 and codes.codes.shape == (2, 1600)
    batches = CropBatches(codes, crop=256, batch_size=3, seed=7)
    a, p = batches[5]
    b, _ = CropBatches(codes, crop=256, batch_size=3, seed=7, start=5)[0]
    assert torch.equal(a, b) and a.shape == (3, 256) and set(p.tolist()) <= {57, 64}
    # float crops re-quantize to exactly the stored codes
    assert torch.equal(nsynth.mulaw.quantize(a) - 128, nsynth.mulaw.mu_law_encode(a).long())


def test_tiny_model_overfits_one_note(tmp_path, tiny_data):
    ds = open_dataset(tiny_data)
    one = ds.filter(lambda n: n.pitch == 64)
    cfg = TrainConfig(
        steps=150,
        batch_size=4,
        crop=512,
        lr=3e-3,
        schedule="constant",
        warmup=10,
        workers=0,
        log_every=10,
        checkpoint_every=1000,
        valid_every=1000,
    )
    t0 = time.time()
    result = train(_config(), one, tmp_path / "run", cfg, progress=False, log=lambda m: None)
    assert time.time() - t0 < 60
    losses = [loss for _, loss in _metrics(tmp_path / "run")]
    assert losses[-1] < 0.6 * losses[0], losses  # from ~5.5 nats (uniform) down clearly
    model = nsynth.load_model(tmp_path / "run" / "model.safetensors")  # EMA weights, a normal weights file
    assert model.config == _config()
    written = json.loads((tmp_path / "run" / "config.json").read_text())
    assert written["train"]["steps"] == 150 and written["model"] == _config().to_dict()
    assert result.step == 150
    # the packaging script turns the run into a shipped-model file carrying its training record
    packaged = tmp_path / "shipped.safetensors"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package_model.py"), str(tmp_path / "run"), "-o", str(packaged)],
        check=True,
        capture_output=True,
    )
    meta = nsynth.read_info(packaged).metadata
    assert meta["status"] == "prototype" and meta["step"] == "150" and meta["samples_seen"] == str(150 * 4 * 512)
    with open(tmp_path / "run" / "metrics.csv") as f:
        assert meta["wall_seconds"] == f"{float(list(csv.DictReader(f))[-1]['seconds']):.0f}"
    # an earlier stage whose run folder is gone adds its samples and seconds to the record
    script = [sys.executable, str(ROOT / "scripts" / "package_model.py"), str(tmp_path / "run")]
    chained = tmp_path / "chained.safetensors"
    subprocess.run([*script, "-o", str(chained), "--prior-record", "1000:20"], check=True, capture_output=True)
    meta2 = nsynth.read_info(chained).metadata
    assert int(meta2["samples_seen"]) == int(meta["samples_seen"]) + 1000
    assert float(meta2["wall_seconds"]) == float(meta["wall_seconds"]) + 20
    # a bare weights file (its run folder gone): the record is its own step and validation loss plus the priors
    bare = tmp_path / "bare.safetensors"
    weights = str(tmp_path / "run" / "model.safetensors")
    subprocess.run([*script[:2], weights, "-o", str(bare), "--prior-record", "5000:7"], check=True, capture_output=True)
    meta3 = nsynth.read_info(bare).metadata
    assert (meta3["step"], meta3["samples_seen"], meta3["wall_seconds"]) == ("150", "5000", "7")
    assert meta3["train_data"] == "" and nsynth.load_model(bare).config == _config()
    bad = subprocess.run([*script, "-o", str(chained), "--prior-record", "1000"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--prior-record '1000'" in bad.stderr and "Traceback" not in bad.stderr
    nan = subprocess.run([*script, "-o", str(chained), "--prior-record", "nan:1"], capture_output=True, text=True)
    assert nan.returncode != 0 and "--prior-record 'nan:1'" in nan.stderr and "Traceback" not in nan.stderr
    # a new run can start from those weights (fine-tuning / continuing a shipped model)
    cont = TrainConfig(steps=1, batch_size=4, crop=512, lr=1e-9, schedule="constant", warmup=1, workers=0, log_every=1)
    train(
        _config(),
        one,
        tmp_path / "cont",
        cont,
        init_from=tmp_path / "run" / "model.safetensors",
        progress=False,
        log=lambda m: None,
    )
    fresh = train(_config(), one, tmp_path / "fresh", cont, progress=False, log=lambda m: None)
    assert _metrics(tmp_path / "cont")[0][1] < 0.8 * fresh.train_loss


def test_packaged_training_time_adds_up_segments_of_older_runs():
    spec = importlib.util.spec_from_file_location("package_model", ROOT / "scripts" / "package_model.py")
    package_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package_model)
    # a run resumed twice before the clock was carried over: 20 s, then 15 s, then 30 s
    rows = [{"seconds": s} for s in ("10", "20", "5", "15", "12", "30")]
    assert package_model.training_seconds(rows) == 65.0
    assert package_model.training_seconds([{"seconds": s} for s in ("10", "20", "35")]) == 35.0


def _train_cmd(data, run, steps, *extra):
    cfg = Path(run).parent / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    return [
        sys.executable,
        "-m",
        "nsynth.cli",
        "train",
        str(data),
        "-o",
        str(run),
        "--steps",
        str(steps),
        "--batch-size",
        "2",
        "--crop",
        "256",
        "--lr",
        "2e-3",
        "--schedule",
        "constant",
        "--checkpoint-every",
        "2",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--preset",
        "mini",
        "--model-config",
        str(cfg),
        *extra,
    ]


def test_resume_after_sigkill_equals_straight_run(tmp_path, tiny_data):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _train_cmd(tiny_data, killed, 100000),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = killed / "state.safetensors"
    deadline = time.time() + 60
    while time.time() < deadline and not (state.exists() and (killed / "metrics.csv").exists()):
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    from safetensors import safe_open

    with safe_open(str(state), "pt") as f:
        k = json.loads(f.metadata()["info"])["step"]
    assert 2 <= k < 100000
    target = k + 6
    r = subprocess.run(_train_cmd(tiny_data, killed, target, "--resume"), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    straight = tmp_path / "straight"
    r = subprocess.run(_train_cmd(tiny_data, straight, target), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    a, b = _metrics(killed), _metrics(straight)
    assert [s for s, _ in a] == [s for s, _ in b]  # rows past the last checkpoint were dropped on resume
    with open(killed / "metrics.csv") as f:
        seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
    assert seconds == sorted(seconds) and seconds[0] > 0  # the clock adds up the killed and the resumed runs
    np.testing.assert_allclose([loss for _, loss in a], [loss for _, loss in b], rtol=1e-5)
    wa = nsynth.load_model(killed / "model.safetensors").state_dict()
    wb = nsynth.load_model(straight / "model.safetensors").state_dict()
    assert max((wa[n] - wb[n]).abs().max().item() for n in wa) < 1e-5
    again = subprocess.run(_train_cmd(tiny_data, straight, target), env=env, capture_output=True, text=True)
    assert again.returncode == 1 and "--resume" in again.stderr


def test_resume_takes_the_runs_recorded_model_and_settings(tmp_path, tiny_data):
    """--resume with only DATA, -o and --steps continues with the preset, model config, learning
    rate and schedule the run recorded (not the command line's defaults): it equals the straight
    run. An option given that differs from the record is used, with a note."""
    from click.testing import CliRunner

    from nsynth.cli import main

    def cli(*args):
        r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r.output

    cut, straight = tmp_path / "cut", tmp_path / "straight"
    cli(*_train_cmd(tiny_data, cut, 4)[3:])
    out = cli("train", tiny_data, "-o", cut, "--resume", "--steps", 8, "--workers", 0, "--device", "cpu")
    assert "note:" not in out
    cli(*_train_cmd(tiny_data, straight, 8)[3:])
    a, b = _metrics(cut), _metrics(straight)
    assert a[-1][0] == b[-1][0] == 8
    np.testing.assert_allclose(a[-1][1], b[-1][1], rtol=1e-5)
    wa = nsynth.load_model(cut / "model.safetensors").state_dict()
    wb = nsynth.load_model(straight / "model.safetensors").state_dict()
    assert max((wa[n] - wb[n]).abs().max().item() for n in wa) < 1e-5
    record = json.loads((cut / "config.json").read_text())
    assert record["train"]["lr"] == 2e-3 and record["train"]["schedule"] == "constant" and record["train"]["steps"] == 8
    out = cli("train", tiny_data, "-o", cut, "--resume", "--steps", 10, "--lr", "1e-3",
              "--workers", 0, "--device", "cpu")
    assert f"note: --lr 0.001 differs from the run's 0.002 ({cut / 'config.json'}); using 0.001" in out
    assert json.loads((cut / "config.json").read_text())["train"]["lr"] == 1e-3


def test_two_process_gloo_ddp_keeps_replicas_identical(tmp_path, tiny_data):
    run = tmp_path / "ddp"
    r = torchrun_cli(_train_cmd(tiny_data, run, 6)[3:], timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads((run / "replicas.json").read_text())
    assert rep["world_size"] == 2
    assert rep["checksums"][0] == rep["checksums"][1]
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2
    trained = nsynth.load_model(run / "model.safetensors")
    assert trained.config.to_dict() == config["model"]
    assert all(bool(torch.isfinite(p).all()) for p in trained.parameters())


def test_init_from_another_config_copies_matching_tensors(tmp_path, tiny_data):
    source = tmp_path / "mini.safetensors"
    nsynth.save_model(nsynth.build_model("mini", **TINY), source)
    pitched = get_preset("pitched").replace(**TINY)
    cfg = TrainConfig(steps=1, batch_size=2, crop=256, workers=0, log_every=1, checkpoint_every=1, valid_every=10)
    logs = []
    train(pitched, open_dataset(tiny_data), tmp_path / "run", cfg, init_from=source, progress=False, log=logs.append)
    assert any("copied" in m for m in logs), logs
    src = nsynth.load_model(source).state_dict()
    got = nsynth.load_model(tmp_path / "run" / "model.safetensors")
    assert got.config == pitched
    # one step at a small learning rate: copied tensors stay close to the source, new ones exist
    enc = "encoder.bottleneck.weight"
    assert torch.allclose(got.state_dict()[enc], src[enc], atol=5e-3)
    assert "decoder.pitch.0.weight" in got.state_dict() and "decoder.pitch.0.weight" not in src
    assert json.loads((tmp_path / "run" / "config.json").read_text())["init_from"] == str(source)


def test_train_joins_several_datasets(tmp_path, tiny_data, monkeypatch):
    from click.testing import CliRunner

    from nsynth.cli import main

    other = tmp_path / "other"
    other.mkdir()
    sf.write(other / "tone_60-060-100.wav", tone(261.6, 0.1), 16000)
    args = ["train", str(tiny_data), str(other), "-o", str(tmp_path / "run"), "--preset", "pitched"]
    small = (
        '{"encoder": {"layers": 2, "width": 8}, "decoder": {"layers": 2, "residual_channels": 8, "skip_channels": 8}}'
    )
    (tmp_path / "small.json").write_text(small)
    args += ["--model-config", str(tmp_path / "small.json"), "--steps", "2", "--crop", "256", "--workers", "0"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "on 3 notes" in r.output
    written = json.loads((tmp_path / "run" / "config.json").read_text())
    assert written["n_train"] == 3 and "+" in written["train_data"]


def test_input_noise_reaches_the_decoder_input_only(tiny_data, tmp_path):
    model = nsynth.build_model("pitched", **TINY).eval()
    audio = torch.from_numpy(tone(440.0, 0.05))[None]
    pitch = torch.tensor([69])
    seen = []

    def spy(x, cond, period):  # records what the decoder is given
        seen.append(x)
        return x

    noisy = TrainingLoss(model, input_noise=0.05)
    with torch.no_grad():
        clean = model.loss(audio, pitch)
        torch.manual_seed(0)
        worse = noisy(audio, pitch)
        model.loss(audio, pitch, decoder_input=lambda x, c, p: spy(noisy.decoder_input(x, c, p), c, p))
    assert float(worse) != float(clean)
    x = audio_to_input(audio)[:, None]
    assert 0.03 < float((seen[0] - x).std()) < 0.07  # the input moved by the noise's std ...
    assert torch.equal(model.encode(audio), model.encode(audio))  # ... the encoder sees clean audio
    assert torch.equal(TrainingLoss(model)(audio, pitch), model.loss(audio, pitch))  # no augmentation: the plain loss
    cfg = TrainConfig(steps=2, batch_size=2, crop=256, workers=0, input_noise=0.01, log_every=1)
    result = train(model.config, open_dataset(tiny_data), tmp_path / "run", cfg, progress=False, log=lambda m: None)
    assert result.step == 2 and np.isfinite(result.train_loss)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["input_noise"] == 0.01


def test_self_feed_swaps_inputs_for_the_decoders_own_draws(tiny_data, tmp_path):
    model = nsynth.build_model("pitched", **TINY).eval()
    audio = torch.from_numpy(tone(440.0, 0.05))[None]
    pitch = torch.tensor([69])
    emb = model.encode(audio)
    with torch.no_grad():
        plain = model.logits(audio, emb, pitch)
        # a decoder sure of class 200 draws it everywhere: with self_feed=1 the decoder
        # sees that constant input, with 0.5 about half of it
        model.decoder.out.bias.zero_()
        model.decoder.out.bias[200] = 1e4
        fed_all = TrainingLoss(model, self_feed=1.0).decoder_input
        fed = model.logits(audio, emb, pitch, decoder_input=fed_all)
        x_const = torch.full((1, 1, audio.shape[-1]), (200 - 128) / 128)
        period = model.period(pitch, audio.shape[-1])
        expected = model.decoder(x_const, model.conditioning(emb, pitch), period)
        assert torch.allclose(fed, expected, atol=1e-5)
        assert not torch.allclose(fed, model.logits(audio, emb, pitch), atol=1e-3)
        assert not torch.allclose(plain, fed, atol=1e-3)
        x = audio_to_input(audio)[:, None]
        swapped = self_fed(model.decoder, x, model.conditioning(emb, pitch), period, 0.5)
        share = float((swapped == (200 - 128) / 128).float().mean())
        assert 0.4 < share < 0.6, share
        assert torch.equal(swapped[swapped != (200 - 128) / 128], x[swapped != (200 - 128) / 128])
    cfg = TrainConfig(steps=2, batch_size=2, crop=256, workers=0, self_feed=0.5, log_every=1)
    result = train(model.config, open_dataset(tiny_data), tmp_path / "run", cfg, progress=False, log=lambda m: None)
    assert result.step == 2 and np.isfinite(result.train_loss)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["self_feed"] == 0.5


def test_self_feed_draws_a_logistic_heads_values():
    model = nsynth.build_model("pitched", **{**TINY, "decoder": {**TINY["decoder"], "output": "logistic", "mixtures": 2}})
    audio = torch.from_numpy(tone(440.0, 0.05))[None]
    pitch = torch.tensor([69])
    with torch.no_grad():
        emb = model.encode(audio)
        model.decoder.out.weight.zero_()
        model.decoder.out.bias.zero_()
        model.decoder.out.bias[2:4] = 32.5 / 128  # both components mid-class 32 (no lag path) ...
        model.decoder.out.bias[4:6] = -9.0  # ... and narrow
        x = audio_to_input(audio)[:, None]
        period = model.period(pitch, audio.shape[-1])
        swapped = self_fed(model.decoder, x, model.conditioning(emb, pitch), period, 1.0)
    assert torch.equal(swapped, torch.full_like(x, 32 / 128))  # the class of 0.25, fed back as the network input


def test_plateaus_hold_one_stretch_of_the_decoder_input_per_row(tiny_data, tmp_path):
    from nsynth.training.augment import PLATEAU_LENGTHS, with_plateaus

    torch.manual_seed(0)
    x = torch.rand(64, 1, 4096) * 2 - 1  # no two samples equal
    assert torch.equal(with_plateaus(x, 0.0), x)
    y = with_plateaus(x, 1.0)
    for row in range(64):
        changed = (y[row, 0] != x[row, 0]).nonzero()[:, 0]
        assert changed.numel() > 0 and bool((changed.diff() == 1).all())  # one stretch
        held = y[row, 0, changed]
        assert bool((held == held[0]).all()) and -1 <= float(held[0]) <= 1
        # as long as drawn, or cut by the crop's end
        assert changed.numel() <= PLATEAU_LENGTHS[1]
        assert changed.numel() >= PLATEAU_LENGTHS[0] - 1 or int(changed[-1]) == 4095
    some = with_plateaus(x, 0.5)
    rows_hit = int(((some != x).any(dim=-1)).sum())
    assert 16 < rows_hit < 48, rows_hit
    model = nsynth.build_model("pitched", **TINY)
    cfg = TrainConfig(steps=2, batch_size=2, crop=256, workers=0, plateaus=0.5, log_every=1)
    result = train(model.config, open_dataset(tiny_data), tmp_path / "run", cfg, progress=False, log=lambda m: None)
    assert result.step == 2 and np.isfinite(result.train_loss)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["plateaus"] == 0.5


def test_train_state_is_versioned_and_loaded_strictly(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from nsynth.training.state import EMA, load_state, save_state

    def parts():
        model = nsynth.build_model("mini", **TINY)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad])
        return model, EMA(model, 0.9), opt

    model, ema, opt = parts()
    model(torch.zeros(1, 256), torch.tensor([60])).sum().backward()
    opt.step()
    path = tmp_path / "state.safetensors"
    save_state(path, model, ema, opt, 7, {"note": "x"})
    again = parts()
    assert load_state(path, *again)["step"] == 7
    for a, b in zip(model.parameters(), again[0].parameters()):
        assert torch.equal(a, b)
    tensors = load_file(path)
    info = json.loads(__import__("safetensors").safe_open(str(path), "pt").metadata()["info"])
    assert info["format"] == "nsynth-train-state" and info["version"] == 2

    written = safe_open(str(path), "pt").metadata()["checksum"]

    def variant(name, changed, meta=None, sign=True, checksum=None):
        """A state file of ``changed`` tensors; ``sign``: with their checksum, as a writer would;
        else with ``checksum`` (or none)."""
        p = tmp_path / name
        metadata = {"info": json.dumps(meta or info)}
        if sign or checksum:
            metadata["checksum"] = checksum or digest.digest(changed, metadata)
        save_file(changed, str(p), metadata=metadata)
        return p

    missing = variant("missing.safetensors", {k: v for k, v in tensors.items() if not k.startswith("ema/decoder.out.")})
    with pytest.raises(nsynth.NSynthError, match="missing"):
        load_state(missing, *parts())
    extra = variant("extra.safetensors", {**tensors, "param/stray": torch.zeros(1)})
    with pytest.raises(nsynth.NSynthError, match="unexpected"):
        load_state(extra, *parts())
    key = next(k for k in tensors if k.startswith("ema/") and tensors[k].dim() == 3)
    shaped = variant("shape.safetensors", {**tensors, key: tensors[key][:1].contiguous()})
    with pytest.raises(nsynth.NSynthError, match="has shape"):
        load_state(shaped, *parts())
    newer = variant("newer.safetensors", tensors, {**info, "version": 3})
    with pytest.raises(nsynth.NSynthError, match="version 3"):
        load_state(newer, *parts())
    older = variant("older.safetensors", tensors, {k: v for k, v in info.items() if k != "version"}, sign=False)
    assert load_state(older, *parts())["step"] == 7  # written before versions were recorded: version 1
    key = next(k for k in tensors if k.startswith("opt/"))
    damaged = variant("damaged.safetensors", {**tensors, key: tensors[key] * 2}, sign=False, checksum=written)
    with pytest.raises(CheckpointError) as e:
        load_state(damaged, *parts())
    assert str(e.value).startswith(f"{damaged}: damaged (checksum {written[7:19]}… recorded, ")
    unsigned = variant("unsigned.safetensors", tensors, sign=False)  # version 2 without its checksum
    with pytest.raises(CheckpointError, match="damaged .a version-2 state without its checksum"):
        load_state(unsigned, *parts())


def test_a_save_keeps_the_state_before_it_and_a_damaged_state_says_so(tmp_path):
    from nsynth.training.state import EMA, load_state, previous_path, save_state

    model = nsynth.build_model("mini", **TINY)
    opt = torch.optim.Adam(model.parameters())
    path = tmp_path / "state.safetensors"
    save_state(path, model, EMA(model, 0.9), opt, 1, {})
    assert not previous_path(path).exists()
    save_state(path, model, EMA(model, 0.9), opt, 2, {})
    prev = previous_path(path)
    assert prev.name == "state.prev.safetensors"
    assert load_state(prev, model, EMA(model, 0.9), opt)["step"] == 1
    data = bytearray(path.read_bytes())
    data[-9] ^= 0x40  # one flipped bit in the last tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as e:
        load_state(path, model, EMA(model, 0.9), opt)
    assert "damaged" in str(e.value) and str(e.value).endswith(
        "; the state before it is kept as state.prev.safetensors: move it over state.safetensors to resume from there"
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


_SAVER = """
import sys, torch, nsynth
from nsynth.training.state import EMA, save_state
from conftest import TINY
model = nsynth.build_model("mini", **{**TINY, "encoder": dict(layers=12, width=64, dilation_cycle=4)})
opt = torch.optim.Adam(model.parameters())
ema = EMA(model, 0.9)
step = 0
while True:
    step += 1
    save_state(sys.argv[1], model, ema, opt, step, {})
    print(step, flush=True)
"""


def test_a_kill_during_a_save_leaves_a_good_state(tmp_path):
    """A process saving a state again and again, killed (SIGKILL) at random moments: the state
    on disk always loads, whole and verified, at a step the saver had reached."""
    import random

    from nsynth.training.state import EMA, load_state

    path = tmp_path / "state.safetensors"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "OMP_NUM_THREADS": "1"}
    rng = random.Random(0)
    for kill in range(4):
        saver = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], env=env, stdout=subprocess.PIPE, text=True)
        first = saver.stdout.readline()  # at least one save done: then kill it part-way through a later one
        assert first.strip().isdigit(), first
        time.sleep(rng.uniform(0.0, 0.3))
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        model = nsynth.build_model("mini", **{**TINY, "encoder": dict(layers=12, width=64, dilation_cycle=4)})
        opt = torch.optim.Adam(model.parameters())
        assert load_state(path, model, EMA(model, 0.9), opt)["step"] >= 1


def _burst_codes(length: int = 40_000, burst: tuple[int, int] = (10_000, 12_000)) -> CodeSet:
    """One note: silence, a 2,000-sample 440 Hz burst, silence (as 8-bit codes)."""
    x = np.zeros(length, np.float32)
    t = np.arange(burst[1] - burst[0]) / 16000
    x[burst[0] : burst[1]] = 0.8 * np.sin(2 * np.pi * 440 * t)
    codes = (nsynth.mulaw.quantize(torch.from_numpy(x)) - 128).to(torch.int8).numpy()[None]
    return CodeSet(codes, np.array([length]), np.array([69]), [None])


def test_rooms_reverberate_a_crop_from_the_note_before_it():
    data = _burst_codes()
    dry = CropBatches(data, crop=4096, batch_size=16, seed=3)
    wet = CropBatches(data, crop=4096, batch_size=16, seed=3, rooms=1.0)
    for step in range(4):
        (a, _), (b, _) = dry[step], wet[step]
        assert torch.equal(b, wet[step][0])  # reproducible
        assert torch.equal(nsynth.mulaw.quantize(b) - 128, nsynth.mulaw.mu_law_encode(b).long())  # on the grid
        for row_a, row_b in zip(a, b):
            if row_a.abs().max() == 0:  # a silent crop: sound in it only if a burst came before it
                assert row_b.abs().max() < 0.5
            else:  # the burst in the crop: at most its peak, and the room's tail where the dry crop is silent
                assert float(row_b.abs().max()) <= float(row_a.abs().max()) + 1e-3
                silent = row_a == 0
                assert silent.any() and row_b[silent].abs().max() > 1e-3
    # somewhere a crop after the burst (inside the room's 1 s) holds its tail
    tails = [
        float(row_b.abs().max())
        for step in range(4)
        for row_a, row_b in zip(dry[step][0], wet[step][0])
        if row_a.abs().max() == 0
    ]
    assert max(tails) > 1e-3


def test_level_attenuates_crops_by_at_most_its_range_and_nothing_else_changes():
    data = _burst_codes()
    plain = CropBatches(data, crop=4096, batch_size=32, seed=5)
    quiet = CropBatches(data, crop=4096, batch_size=32, seed=5, level_db=20.0)
    (a, pa), (b, pb) = plain[0], quiet[0]
    assert torch.equal(pa, pb)
    loud = a.abs().amax(1) > 0.5
    ratio_db = 20 * torch.log10(b.abs().amax(1)[loud] / a.abs().amax(1)[loud])
    assert (ratio_db <= 0.5).all() and (ratio_db >= -20.5).all() and ratio_db.std() > 2
    # the same crops were drawn (their draws come first): silent rows stay silent
    assert torch.equal(a.abs().amax(1) == 0, b.abs().amax(1) == 0)
