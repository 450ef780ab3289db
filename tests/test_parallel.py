"""The parallel decoder: its source is what its docstring says, the filter starts as the identity,
the seed decides the audio, weights round-trip, training resumes exactly, and every command runs
it (with the drawing-only options refused in one line)."""

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from conftest import TINY_PARALLEL, tiny_model, tiny_parallel, tone, tone_notes
from nsynth.decoders.parallel import ParallelDecoder, fold, harmonic_bank, stft_loss, unfold, wander

import nsynth
from nsynth.cli import main
from nsynth.config import ModelConfig, ParallelDecoderConfig, get_preset
from nsynth.data import open_dataset
from nsynth.errors import OptionError
from nsynth.generation.render import encode_audio, generate_audio
from nsynth.training import CropBatches, TrainConfig, load_codes, train
from nsynth.training.augment import TrainingLoss

SR = 16000


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _config() -> ModelConfig:
    return get_preset("parallel").replace(**TINY_PARALLEL)


def test_harmonic_bank_is_the_sum_of_its_sines_along_a_gliding_f0():
    t = 4000
    f0 = torch.linspace(200.0, 900.0, t, dtype=torch.float64)[None]  # a glide
    amps = torch.rand(1, 5, t, generator=torch.Generator().manual_seed(1))
    phi = 2 * math.pi * (torch.cumsum(f0 / SR, -1) - f0 / SR)  # starts at 0
    naive = sum(amps[:, k].double() * torch.sin((k + 1) * phi) for k in range(5))
    got = harmonic_bank(f0, amps, SR)
    assert got.dtype == torch.float32 and got.shape == (1, t)
    assert (got.double() - naive).abs().max() < 1e-5
    assert got[0, 0] == 0  # a note starts from silence: no click, however high its f0


def test_fold_and_unfold_are_inverse_polyphase_splits():
    x = torch.arange(24.0)[None]
    assert fold(x, 4)[0, 1].tolist() == [1.0, 5.0, 9.0, 13.0, 17.0, 21.0]
    assert torch.equal(unfold(fold(x, 4)), x)


def test_no_harmonic_at_or_above_nyquist():
    cfg = ParallelDecoderConfig(harmonics=8, noise_bands=17, control_hop=32, control_width=8, control_layers=1, filter_layers=0)
    dec = ParallelDecoder(8, 64, SR, cfg)
    with torch.no_grad():
        dec.control.out.weight.zero_()  # constant controls: every harmonic asks for the same share
        dec.control.out.bias.zero_()
    t = 64 * 32
    f0 = torch.full((1, t), 3000.0)  # only k = 1, 2 are below 8 kHz
    harm, _, _ = dec.source(torch.randn(1, 8, 32), f0, torch.Generator().manual_seed(0))
    spec = np.abs(np.fft.rfft(harm[0].detach().numpy() * np.hanning(t)))
    freqs = np.fft.rfftfreq(t, 1 / SR)
    near = lambda f: np.abs(freqs - f) < 60  # noqa: E731
    outside = ~(near(3000) | near(6000))
    assert spec[near(3000)].max() > 100 * spec[outside].max()  # 9 kHz would alias to 7 kHz: absent
    assert spec[near(6000)].max() > 100 * spec[outside].max()


def test_no_harmonic_sounds_above_nyquist_along_a_glide(monkeypatch):
    mod = sys.modules[ParallelDecoder.__module__]
    seen = {}
    real = mod.harmonic_bank

    def spy(f0, amplitudes, sr):
        seen["f0"], seen["amps"] = f0, amplitudes
        return real(f0, amplitudes, sr)

    monkeypatch.setattr(mod, "harmonic_bank", spy)
    cfg = ParallelDecoderConfig(harmonics=8, noise_bands=17, control_hop=32, control_width=8, control_layers=1, filter_layers=0)
    torch.manual_seed(0)
    dec = ParallelDecoder(8, 64, SR, cfg)
    t = 64 * 40
    f0 = torch.linspace(1000.0, 3000.0, t)[None]  # harmonics 8 ... 3 cross 8 kHz on the way
    dec.source(torch.randn(1, 8, 40), f0, torch.Generator().manual_seed(0))
    ks = torch.arange(1, seen["amps"].shape[1] + 1)[None, :, None]
    above = ks * seen["f0"][:, None] >= SR / 2
    assert above.any() and seen["amps"][above].abs().max() == 0
    assert seen["amps"][~above].abs().max() > 0


def test_the_filter_output_has_no_dc_and_no_fold_images():
    from nsynth.decoders.parallel import deimage

    n = torch.arange(50.0)
    offsets = torch.stack([0.3 + 0 * n, -0.2 + 0.01 * n, 0.1 - 0.02 * n, 0.05 + 0 * n])[None]  # (1, 4, 50)
    assert deimage(offsets)[..., 1:-1].abs().max() < 1e-6  # per-phase offsets and trends: gone
    model = tiny_parallel(decoder={**TINY_PARALLEL["decoder"], "filter_taps": 0})  # the folded output
    emb, pitch = torch.randn(1, 16, 64), torch.tensor([60])
    with torch.no_grad():
        cond = model.conditioning(emb, pitch)
        f0 = SR / model.period(pitch, 64 * 64).double()
        harm, noise, hidden = model.decoder.source(cond, f0, torch.Generator().manual_seed(0))
        corr = model.decoder.filter(harm, noise, hidden)[0, 64:-64].numpy()
    spec = np.abs(np.fft.rfft(corr)) ** 2
    k = spec.size - 1  # bins 0, k / 2 and k: DC, sr / 4 (the fold is 4) and Nyquist
    for b in (0, k // 2, k):
        assert spec[max(0, b - 1) : b + 2].max() < 0.02 * spec.mean(), b


def test_varying_fir_is_a_centred_fir_whose_taps_change_every_sample():
    from nsynth.decoders.parallel import varying_fir

    g = torch.Generator().manual_seed(2)
    x, coef = torch.randn(2, 40, generator=g), torch.randn(2, 7, 40, generator=g)
    padded = torch.nn.functional.pad(x, (3, 3))
    naive = torch.stack(
        [sum(coef[:, d, t] * padded[:, t + d] for d in range(7)) for t in range(40)], -1
    )  # y(t) = sum_d coef_d(t) x(t + d - 3), zero beyond the ends
    assert torch.allclose(varying_fir(x, coef), naive, atol=1e-6)


def test_the_fir_filter_follows_the_level_and_adds_no_fold_images():
    """filter_taps > 0: what the filter adds to a steady tone at f scales with the tone and has
    next to nothing at the polyphase images sr / fold - f and sr / fold + f."""
    model = tiny_parallel()
    assert model.config.decoder.filter_taps > 0 and model.config.decoder.filter_fold == 4
    n, f = 64 * 64, 1000.0
    t = torch.arange(n, dtype=torch.float64)
    emb, pitch = torch.randn(1, 16, 64, generator=torch.Generator().manual_seed(1)), torch.tensor([60])
    with torch.no_grad():
        hidden = model.decoder.control(
            torch.nn.functional.interpolate(model.conditioning(emb, pitch), size=n // 32, mode="linear"),
            torch.zeros(1, 1, n // 32),
        )[0]
        harm = torch.sin(2 * math.pi * f * t / SR).float()[None] * 0.3
        noise = torch.zeros_like(harm)
        corr = model.decoder.filter(harm, noise, hidden)
        quiet = model.decoder.filter(harm * 1e-2, noise, hidden)
    assert torch.allclose(quiet, corr * 1e-2, atol=1e-6)  # follows the source's level
    spec = np.abs(np.fft.rfft(corr[0, 256:-256].numpy() * np.hanning(n - 512))) ** 2
    hz = np.fft.rfftfreq(n - 512, 1 / SR)
    near = lambda f0: spec[np.abs(hz - f0) < 150].sum()  # noqa: E731
    assert near(f) > 0
    for image in (SR / 4 - f, SR / 4 + f):
        assert near(image) < 1e-3 * near(f), image


# the decoder's options: the filter's conditioning at every layer or at its input; noise locked to
# the harmonics; the jittered bank (alone and with the locked noise: both take their noise from one
# draw); the folded harmonics (alone and with every other row of the control net's output)
COND = [
    {},
    {"filter_cond": "input"},
    {"harmonic_noise": 0.1},
    {"jitter_cents": 30.0},
    {"jitter_cents": 30.0, "harmonic_noise": 0.1},
    {"alias_limit": 1.5},
    {"alias_limit": 1.5, "jitter_cents": 30.0, "harmonic_noise": 0.1},
]
COND_IDS = ["layers", "input", "locked-noise", "jitter", "jitter+locked-noise", "alias", "alias+jitter+locked-noise"]


@pytest.mark.parametrize("cond", COND, ids=COND_IDS)
def test_an_untrained_filter_is_the_identity_and_a_trained_one_is_not(cond):
    torch.manual_seed(0)
    tiny = {**TINY_PARALLEL, "decoder": {**TINY_PARALLEL["decoder"], **cond}}
    model = nsynth.build_model("parallel", **tiny).eval()  # as built: zero output conv
    emb, pitch = torch.randn(2, 16, 6), torch.tensor([60, 72])
    white = torch.rand(2, 6 * 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        y = model.synthesize(emb, pitch, white=white)
        cond = model.conditioning(emb, pitch)
        f0 = SR / model.period(pitch, 6 * 64).double()
        harm, noise, _ = model.decoder.source(cond, f0, white=white)
        assert torch.allclose(y, harm + noise, atol=1e-6)
        trained = tiny_parallel(decoder=tiny["decoder"])  # its filter's output conv is not zero
        cond = trained.conditioning(emb, pitch)
        harm, noise, _ = trained.decoder.source(cond, f0, white=white)
        assert (trained.synthesize(emb, pitch, white=white) - (harm + noise)).abs().max() > 1e-2


def test_an_unknown_conditioning_place_is_refused():
    with pytest.raises(ValueError, match="filter_cond must be 'layers' or 'input', got 'output'"):
        tiny_parallel(decoder={**TINY_PARALLEL["decoder"], "filter_cond": "output"})


@pytest.mark.parametrize("cond", COND, ids=COND_IDS)
def test_stft_loss_is_zero_on_the_target_and_trains_every_part(cond):
    model = tiny_parallel(decoder={**TINY_PARALLEL["decoder"], **cond}).train()
    per_layer = [n for n in model.state_dict() if ".cond_in." in n]
    assert bool(per_layer) == (cond.get("filter_cond") != "input"), per_layer  # "input": no per-layer convs
    x = torch.from_numpy(np.stack([tone(440, 0.064), tone(330, 0.064)]))  # 1024 samples: 16 frames
    assert stft_loss(x, x).item() == 0.0
    loss = model.loss(x, torch.tensor([69, 64]))
    assert loss.item() > 0
    loss.backward()
    for part in ("encoder", "pitch_embedding", "decoder.control", "decoder.filter", "decoder.filter.cond"):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(part)]
        assert grads and all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads), part


def test_the_seed_decides_the_audio_and_equal_streams_give_equal_notes():
    model = tiny_parallel()
    emb = encode_audio(model, [tone(440, 0.2)])[0]
    go = lambda seed, draws=None, n=1: generate_audio(  # noqa: E731
        model, [emb] * n, [69] * n, sampling=nsynth.Sampling(seed=seed, progress=False), draws=draws
    )
    a, b, c = go(1)[0], go(1)[0], go(2)[0]
    assert a.shape == (emb.shape[0] * 64,) and np.isfinite(a).all()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    same = go(1, draws=[0, 0], n=2)
    # a batch may round differently from a single note; the noise is the same
    assert np.allclose(same[0], same[1], atol=1e-5) and np.allclose(same[0], a, atol=1e-5)
    apart = go(1, n=2)
    assert np.abs(apart[0] - apart[1]).max() > 1e-3


@pytest.mark.parametrize("cond", COND, ids=COND_IDS)
def test_a_note_is_the_same_alone_and_beside_a_longer_one(cond):
    """Same seed stream, same note: batched with a longer note it is the same to the last sample
    (each length is its own pass: the non-causal nets never see another note's padding)."""
    model = tiny_parallel(decoder={**TINY_PARALLEL["decoder"], **cond})
    short, long = tone(440, 0.2), tone(330, 0.5)
    e_short, e_long = encode_audio(model, [short, long])
    go = lambda embs, pitches, draws: generate_audio(  # noqa: E731
        model, embs, pitches, sampling=nsynth.Sampling(seed=5, progress=False), draws=draws
    )
    alone = go([e_short], [69], [0])[0]
    batched = go([e_short, e_long], [69, 64], [0, 0])[0]  # one stream, as alone
    assert alone.shape == batched.shape == (e_short.shape[0] * 64,)
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    pair = go([e_long, e_short, e_long], [64, 69, 64], [0, 0, 0])  # lengths interleaved: order kept
    np.testing.assert_allclose(pair[1], alone, atol=1e-5)
    np.testing.assert_allclose(pair[0], pair[2], atol=1e-5)
    assert pair[0].shape == (e_long.shape[0] * 64,)


@pytest.mark.parametrize("cond", COND, ids=COND_IDS)
def test_the_compiled_kernels_equal_the_torch_tables_they_replace(cond, monkeypatch):
    """Without gradients on the CPU the harmonics are summed, and the filter's FIR run, in one
    compiled pass each (``nsynth.bank_kernel``); training goes through torch's (B, K, T) tables.
    The same source and the same notes within float rounding, for every option, two notes of a batch
    along glides whose harmonics cross Nyquist (and fold, up to the alias limit)."""
    model = tiny_parallel(decoder={**TINY_PARALLEL["decoder"], **cond}).eval()
    frames = 40
    t = frames * 64
    f0 = torch.stack([torch.linspace(900.0, 5000.0, t), torch.linspace(3000.0, 200.0, t)]).double()
    emb, pitch = torch.randn(2, 16, frames, generator=torch.Generator().manual_seed(1)), torch.tensor([72, 60])
    white = torch.rand(2, t, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        c = model.conditioning(emb, pitch)
    with torch.enable_grad():
        tables = [x.detach() for x in model.decoder.source(c, f0, white=white)[:2]]
        note_tables = model.synthesize(emb, pitch, white=white).detach()
    mod = sys.modules[ParallelDecoder.__module__]
    calls = []
    real = mod.harmonic_bank
    monkeypatch.setattr(mod, "harmonic_bank", lambda *a: calls.append(1) or real(*a))
    with torch.no_grad():
        fused = model.decoder.source(c, f0, white=white)[:2]
        note_fused = model.synthesize(emb, pitch, white=white)
    # the tables are only built where the jittered bank needs them (twice per pass)
    assert len(calls) == (4 if cond.get("jitter_cents") else 0)
    assert tables[0].abs().max() > 0.05
    for a, b in zip(fused, tables):
        torch.testing.assert_close(a, b, atol=2e-6, rtol=0)
    torch.testing.assert_close(note_fused, note_tables, atol=2e-6, rtol=0)


@pytest.mark.parametrize("f0", [SR / 4, SR / 6, SR / 2 / 7])
def test_the_compiled_bank_equals_the_tables_with_a_harmonic_exactly_at_nyquist(f0):
    """f0 with a harmonic exactly at Nyquist (where its sine is 0 at every sample, folded or not)
    and the next ones folded: both paths agree on the masks' boundaries."""
    model = tiny_parallel(decoder={**TINY_PARALLEL["decoder"], "alias_limit": 1.5}).eval()
    emb, pitch = torch.randn(1, 16, 20, generator=torch.Generator().manual_seed(3)), torch.tensor([60])
    f0s = torch.full((1, 20 * 64), f0, dtype=torch.float64)
    white = torch.rand(1, 20 * 64, generator=torch.Generator().manual_seed(4)) * 2 - 1
    with torch.no_grad():
        c = model.conditioning(emb, pitch)
        fused = model.decoder.source(c, f0s, white=white)[0]
    with torch.enable_grad():
        tables = model.decoder.source(c, f0s, white=white)[0].detach()
    assert tables.abs().max() > 0.01
    torch.testing.assert_close(fused, tables, atol=1e-6, rtol=0)


def test_the_compiled_kernels_equal_the_tables_on_the_shipped_model():
    model = nsynth.load_model("parallel").eval()
    emb = torch.randn(2, 16, 16, generator=torch.Generator().manual_seed(0))
    pitch = torch.tensor([40, 84])
    white = torch.rand(2, 16 * 512, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        fused = model.synthesize(emb, pitch, white=white)
    with torch.enable_grad():
        tables = model.synthesize(emb, pitch, white=white).detach()
    assert tables.abs().max() > 0.01
    torch.testing.assert_close(fused, tables, atol=2e-6, rtol=0)


@pytest.mark.parametrize(
    "option,value,shown",
    [
        ("temperature", 0.5, "temperature 0.5"),
        ("temperature", 0.0, "greedy:"),
        ("min_p", 0.1, "min_p 0.1"),
        ("postfilter", 0.0, "postfilter off"),
        ("postfilter", 0.5, "postfilter 0.5"),
        ("backend", "fast", "backend fast: the parallel decoder runs one way"),
        ("precision", "bf16", "precision bf16: the parallel decoder runs one way"),
    ],
)
def test_drawing_options_are_refused_naming_the_option(option, value, shown):
    model = tiny_parallel()
    with pytest.raises(OptionError, match=shown) as e:
        nsynth.Sampling(**{option: value}).for_model(model)
    assert str(e.value).endswith(": leave this option out")
    assert nsynth.Sampling(seed=3).for_model(model).for_model(model) == nsynth.Sampling(seed=3)  # idempotent


def test_weights_round_trip_with_the_parallel_config(tmp_path):
    model = tiny_parallel()
    path = tmp_path / "p.safetensors"
    nsynth.save_model(model, path)
    back = nsynth.load_model(path)
    assert isinstance(back, nsynth.ParallelAutoencoder) and back.config == model.config == _config()
    assert ModelConfig.from_dict(json.loads(json.dumps(model.config.to_dict()))) == model.config
    a, b = model.state_dict(), back.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    r = run("info", path)
    assert r.exit_code == 0 and "parallel, one pass per note" in r.output and "verified" in r.output
    assert "receptive field:  52 samples, centred" in r.output  # ((3-1) * (1+2+1) + 1) * fold 4 + 2 * 8 taps
    assert "WaveNet filter 3x8 (fold 4, 17-tap FIR)" in r.output
    assert "the controls' 224" in r.output  # ((3-1) * (1+2) + 1) * control_hop 32


def test_crops_of_a_parallel_run_are_pcm_and_start_on_whole_frames(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "notes"
    root.mkdir()
    x = tone(440, 0.1, amp=0.3) + 1e-4  # a level mu-law would not keep exactly
    sf.write(root / "tone_69-069-100.wav", x, SR, subtype="FLOAT")
    codes = load_codes(open_dataset(root), 256, progress=False, pcm=True)
    assert codes.pcm and codes.codes.dtype == np.int16
    assert np.abs(codes.audio(codes.codes[:, :1600])[0].numpy() - x).max() <= 0.5 / 32768 + 1e-7
    assert not load_codes(open_dataset(root), 256, progress=False).pcm  # a cache entry of its own
    batches = CropBatches(codes, crop=256, batch_size=16, seed=1, align=64)
    audio, _ = batches[0]
    full = codes.audio(codes.codes)[0]
    for row in audio:
        starts = [o for o in range(0, 1600 - 256 + 1, 64) if torch.equal(full[o : o + 256], row)]
        assert starts, "a crop that starts off the frame grid"


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    return tone_notes(tmp_path, monkeypatch, 0.2)


def _cfg(steps: int) -> TrainConfig:
    return TrainConfig(
        steps=steps, batch_size=2, crop=512, lr=3e-3, schedule="constant", warmup=5, workers=0,
        log_every=1, checkpoint_every=5, valid_every=1000,
    )


def test_a_parallel_model_learns_and_resumes_exactly(tmp_path, tiny_data):
    ds = open_dataset(tiny_data)
    quiet = dict(progress=False, log=lambda m: None)
    straight = train(_config(), ds, tmp_path / "straight", _cfg(40), **quiet)
    train(_config(), ds, tmp_path / "cut", _cfg(20), **quiet)
    resumed = train(_config(), ds, tmp_path / "cut", _cfg(40), resume=True, **quiet)
    rows = lambda run: [float(r.split(",")[2]) for r in (run / "metrics.csv").read_text().splitlines()[1:]]  # noqa: E731
    losses = rows(tmp_path / "straight")
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses
    np.testing.assert_allclose(rows(tmp_path / "cut"), losses, rtol=1e-5)
    assert resumed.step == straight.step == 40
    a = nsynth.load_model(tmp_path / "straight" / "model.safetensors").state_dict()  # the EMA weights
    b = nsynth.load_model(tmp_path / "cut" / "model.safetensors").state_dict()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    with pytest.raises(nsynth.NSynthError, match="--crop 500"):
        train(_config(), ds, tmp_path / "odd", TrainConfig(steps=1, crop=500, workers=0), **quiet)


@pytest.fixture
def notes(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, tone(440, 0.3), SR)
    sf.write(b, np.stack([tone(330, 0.25, sr=44100)] * 2, 1), 44100)  # stereo, another rate
    return a, b


def _wav(path: Path, rate: int = SR) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32")
    assert sr == rate and np.isfinite(x).all() and x.size > 0, path
    return x


def test_every_generating_command_runs_a_parallel_model(tmp_path, tiny_parallel_ckpt, notes):
    a, b = notes
    ck = ["--checkpoint", tiny_parallel_ckpt]
    r = run("reconstruct", a, b, "-o", tmp_path / "rec", *ck)
    assert r.exit_code == 0, r.output
    assert _wav(tmp_path / "rec" / "a.wav").size == 4800
    assert run("encode", a, "-o", tmp_path / "emb", *ck).exit_code == 0
    r = run("decode", tmp_path / "emb" / "a.npy", "--pitch", 69, "-o", tmp_path / "dec", *ck)
    assert r.exit_code == 0, r.output
    _wav(tmp_path / "dec" / "a.wav")
    r = run("interpolate", a, b, "--steps", 3, "-o", tmp_path / "i", *ck)
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "i").glob("*.wav"))) == 3
    assert run("morph", a, b, "-o", tmp_path / "m.wav", *ck).exit_code == 0
    _wav(tmp_path / "m.wav")
    r = run("grid", a, b, a, b, "--resolution", 2, "-o", tmp_path / "g", *ck)
    assert r.exit_code == 0, r.output
    r = run("multisample", a, "--pitches", "60,72", "-o", tmp_path / "ms", *ck)
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "ms").rglob("*.wav"))) == 2


@pytest.mark.parametrize(
    "flag,line",
    [
        (["--temperature", "0.7"], "nsynth: error: --temperature 0.7: the parallel decoder draws no samples"),
        (["--greedy"], "nsynth: error: --greedy: the parallel decoder draws no samples"),
        (["--backend", "fast"], "nsynth: error: --backend fast: the parallel decoder runs one way"),
        (["--postfilter", "off"], "nsynth: error: --postfilter off: the parallel decoder draws no samples"),
    ],
)
def test_a_drawing_option_given_to_a_parallel_model_is_one_line(tmp_path, tiny_parallel_ckpt, notes, flag, line):
    r = CliRunner().invoke(main, ["reconstruct", str(notes[0]), "-o", str(tmp_path / "r"), "--checkpoint", str(tiny_parallel_ckpt), *flag])
    assert r.exit_code == 1
    assert any(ln.startswith(line) for ln in r.output.splitlines()), r.output
    assert "Traceback" not in r.output and not (tmp_path / "r" / "a.wav").exists()
    assert "encoding" not in r.output  # refused as soon as the model is known, before any work


def test_evaluate_scores_a_parallel_model(tmp_path, tiny_parallel_ckpt, tiny_data):
    r = run("evaluate", tiny_data, "--pairs", 1, "-o", tmp_path / "report.json", "--checkpoint", tiny_parallel_ckpt)
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n"] == 2 and math.isfinite(report["lsd"]) and "sine" in report["baselines"]
    assert "interpolation" in report


def test_bench_puts_the_parallel_decoder_beside_the_drawing_one():
    from nsynth.bench import bench, table

    said = []
    rows = bench(["pitched", "parallel-source"], [1], torch.device("cpu"), seconds=0.1, naive=False, repeats=1, log=said.append)
    assert said[0] == "pitched: timing ..." and len(said) == 2 + len(rows)  # each row said as it comes
    assert any(line.startswith("  parallel-source batch 1 parallel: ") for line in said)
    par = [r for r in rows if r.backend == "parallel"]
    assert len(par) == 1 and par[0].samples_per_s > 0
    text = table(rows)
    line = next(ln for ln in text.splitlines() if " parallel " in ln)
    fast = next(r for r in rows if r.backend == "fast").samples_per_s
    assert float(line.split()[-1]) == pytest.approx(par[0].samples_per_s / fast, rel=0.06)
    assert "parallel / pitched fast" in text


def test_bench_times_a_weights_file_with_its_own_config(tmp_path):
    from nsynth.bench import bench

    folded = tiny_parallel(decoder={**TINY_PARALLEL["decoder"], "alias_limit": 1.5})
    path = tmp_path / "folded.safetensors"
    nsynth.save_model(folded, path)
    rows = bench([str(path)], [1], torch.device("cpu"), seconds=0.1, naive=False, repeats=1)
    assert [(r.preset, r.backend) for r in rows] == [("folded.safetensors", "encoder"), ("folded.safetensors", "parallel")]
    assert rows[1].samples_per_s > 0


def test_a_bad_file_is_reported_above_the_progress_bar_never_on_its_line(tmp_path):
    good, bad, other = tmp_path / "good.wav", tmp_path / "bad.wav", tmp_path / "other.wav"
    sf.write(good, tone(440, 0.2), SR)
    sf.write(other, tone(330, 0.2), SR)
    bad.write_bytes(b"RIFF\x00\x00not a wav at all")
    cmd = [sys.executable, "-m", "nsynth.cli", "encode", str(good), str(bad), str(other), "-o", str(tmp_path / "e")]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    errors = [ln for ln in r.stderr.split("\n") if "nsynth: error" in ln]
    assert errors and "bad.wav" in errors[0], r.stderr
    for ln in errors:  # a bar tqdm redraws below starts after a carriage return; the error starts its line
        assert ln.split("\r")[-1].startswith("nsynth: error:"), repr(ln)
    assert "encoding" in r.stderr  # the bar was drawn


def test_the_pad_renders_with_a_parallel_model(tmp_path, tiny_parallel_ckpt):
    import io
    import time

    from fastapi.testclient import TestClient

    from nsynth.serve.app import create_app

    app = create_app(tmp_path / "cache", str(tiny_parallel_ckpt), "cpu", max_upload=200_000)
    with TestClient(app) as client:
        ids = []
        for f in (220.0, 330.0):
            buf = io.BytesIO()
            sf.write(buf, tone(f, 0.1), SR, format="WAV")
            r = client.post("/api/sounds", files={"file": (f"{f:.0f}.wav", buf.getvalue(), "audio/wav")})
            assert r.status_code == 200, r.text
            ids.append(r.json()["id"])
        body = {"corners": ids, "resolution": 3, "pitches": [60], "seconds": 0.1}
        r = client.post("/api/grids", json={**body, "temperature": 0.5})
        assert r.status_code == 400 and r.json()["error"].startswith("temperature 0.5: the parallel decoder")
        key = client.post("/api/grids", json=body).json()["key"]
        t0 = time.time()
        while (s := client.get(f"/api/grids/{key}").json())["status"] not in ("done", "failed") and time.time() - t0 < 60:
            time.sleep(0.1)
        assert s["status"] == "done", s
        x, sr = sf.read(io.BytesIO(client.get(f"/api/grids/{key}/audio/60/0/1.wav").content))
        assert sr == SR and x.size == 1600 and np.isfinite(x).all()


def test_the_shipped_parallel_model_loads_by_name_and_carries_its_record():
    path = Path(nsynth.__file__).parent / "weights" / "parallel.safetensors"
    assert path.stat().st_size <= 10 * 2**20
    model = nsynth.load_model("parallel")
    assert isinstance(model, nsynth.ParallelAutoencoder) and model.config.decoder.filter_layers > 0
    meta = nsynth.read_info("parallel").metadata
    assert int(meta["samples_seen"]) > 0 and float(meta["wall_seconds"]) > 0 and "LSD" in meta["heldout"]
    sampling = nsynth.Sampling(progress=False)
    note = generate_audio(model, encode_audio(model, [tone(262, 0.5)]), [60], sampling=sampling)[0]
    assert note.shape == (16 * 512,) and np.isfinite(note).all() and np.abs(note).max() > 1e-3


def test_derive_init_resamples_the_noise_bands_and_can_start_a_fresh_filter(tmp_path, tiny_parallel_ckpt):
    script = Path(__file__).resolve().parents[1] / "scripts" / "derive_init.py"
    out = tmp_path / "finer.safetensors"
    go = lambda *a: subprocess.run([sys.executable, str(script), *map(str, a)], capture_output=True, text=True)  # noqa: E731
    r = go(tiny_parallel_ckpt, out, "--decoder", "noise_bands=33", "--decoder", "filter_cond=input", "--fresh-filter")
    assert r.returncode == 0, r.stderr
    old, new = nsynth.load_model(tiny_parallel_ckpt), nsynth.load_model(out)
    assert new.config.decoder.noise_bands == 33 and new.config.decoder.filter_cond == "input"
    k = 1 + old.config.decoder.harmonics
    for part in ("weight", "bias"):
        a, b = getattr(old.decoder.control.out, part), getattr(new.decoder.control.out, part)
        assert torch.equal(b[:k], a[:k])  # amplitude and harmonics as they were
        assert torch.allclose(b[k::2], a[k:], atol=1e-6)  # every other new band is an old band
        assert torch.allclose(b[k + 1 :: 2], (a[k:-1] + a[k + 1 :]) / 2, atol=1e-6)  # the rest between
    assert torch.equal(new.encoder.start.weight, old.encoder.start.weight)
    emb, pitch = torch.randn(1, 16, 6), torch.tensor([60])
    white = torch.rand(1, 6 * 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():  # the fresh filter is the identity
        f0 = SR / new.period(pitch, 384).double()
        harm, noise, _ = new.decoder.source(new.conditioning(emb, pitch), f0, white=white)
        assert torch.allclose(new.synthesize(emb, pitch, white=white), harm + noise, atol=1e-6)
    bad = go(tiny_parallel_ckpt, tmp_path / "x.safetensors", "--decoder", "filter_cond=output")
    assert bad.returncode != 0 and not (tmp_path / "x.safetensors").exists()


def test_harmonic_noise_lies_around_the_harmonics_not_between_them():
    from nsynth.decoders.parallel import narrowband_carrier

    t, f0 = 32000, 220.0
    white = torch.rand(1, t, generator=torch.Generator().manual_seed(0)) * 2 - 1
    carrier = narrowband_carrier(white, torch.full((1, t), f0), SR, 0.1)
    assert abs(carrier.pow(2).mean().sqrt().item() - 1) < 1e-4  # unit RMS
    amps = torch.ones(1, 5, t) * 0.1
    locked = (carrier * harmonic_bank(torch.full((1, t), f0, dtype=torch.float64), amps, SR))[0].numpy()
    spec = np.abs(np.fft.rfft(locked * np.hanning(t))) ** 2
    freqs = np.fft.rfftfreq(t, 1 / SR)
    k = freqs / f0
    near = spec[(np.abs(k - np.round(k)) < 0.1) & (k > 0.5) & (k < 5.5)].mean()
    gaps = spec[(np.abs(k - np.round(k)) > 0.4) & (k < 5.5)].mean()
    assert 10 * np.log10(near / gaps) > 40  # a Gaussian of 0.1 f0: the gaps 50 dB and more down
    assert np.std(locked) > 0.05  # and it is noise of the harmonics' level, not silence


def test_a_model_with_harmonic_noise_trains_it_and_starts_silent_when_derived(tmp_path, tiny_parallel_ckpt):
    model = tiny_parallel(decoder={**TINY_PARALLEL["decoder"], "harmonic_noise": 0.1}).train()
    x = torch.from_numpy(np.stack([tone(440, 0.064), tone(330, 0.064)]))
    model.loss(x, torch.tensor([69, 64])).backward()
    out = model.decoder.control.out
    locked = slice(1 + 8 + 17, None)  # tiny: 8 harmonics, 17 bands
    assert out.weight.shape[0] == 2 * (1 + 8) + 17 and out.weight.grad[locked].abs().sum() > 0
    script = Path(__file__).resolve().parents[1] / "scripts" / "derive_init.py"
    derived = tmp_path / "locked.safetensors"
    r = subprocess.run(
        [sys.executable, str(script), str(tiny_parallel_ckpt), str(derived), "--decoder", "harmonic_noise=0.1",
         "--locked-bias", "-5"],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    old, new = nsynth.load_model(tiny_parallel_ckpt), nsynth.load_model(derived)
    emb, pitch = torch.randn(1, 16, 6), torch.tensor([60])
    white = torch.rand(1, 6 * 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():  # the derived model starts as its parent, its locked noise ~94 dB down
        a, b = old.synthesize(emb, pitch, white=white), new.synthesize(emb, pitch, white=white)
        assert (a - b).abs().max() < 1e-3 * a.abs().max()
    z = emb[0].T.numpy()
    go = lambda seed: generate_audio(new, [z], [60], sampling=nsynth.Sampling(seed=seed, progress=False))[0]  # noqa: E731
    assert np.array_equal(go(1), go(1)) and not np.array_equal(go(1), go(2))


def test_the_wander_is_slow_unit_rms_noise():
    white = torch.rand(2, 32000, generator=torch.Generator().manual_seed(0)) * 2 - 1
    w = wander(white, SR, 8.0)
    assert w.shape == (2, 32000) and torch.allclose(w.pow(2).mean(-1), torch.ones(2, dtype=w.dtype))
    spec = torch.fft.rfft(w).abs().pow(2)
    freqs = torch.fft.rfftfreq(32000, 1 / SR)
    assert spec[:, freqs > 32].sum() < 1e-6 * spec.sum()  # a Gaussian of 8 Hz: nothing past 4 std
    assert not torch.allclose(w[0], w[1])


def _jittered_tone(share: float, depth: float, seconds: float = 2.0, f0: float = 220.0) -> np.ndarray:
    """A tiny parallel decoder's source with jitter_cents 40 whose control net outputs constants:
    8 equal harmonics of ``f0``, this pre-sigmoid ``share`` of each in the jittered bank and
    ``depth``, no noise."""
    cfg = ParallelDecoderConfig(harmonics=8, noise_bands=17, control_hop=64, filter_layers=0, jitter_cents=40.0)
    dec = ParallelDecoder(4, 64, SR, cfg).eval()
    out = dec.control.out
    with torch.no_grad():
        out.weight.zero_()
        out.bias.zero_()
        out.bias[0] = 0.0  # overall amplitude
        out.bias[1 + 8 : 1 + 8 + 17] = -30.0  # the band noise silent
        out.bias[1 + 8 + 17 : 1 + 8 + 17 + 8] = share
        out.bias[-1] = depth
        t = int(seconds * SR) // 64 * 64
        white = torch.rand(1, t, generator=torch.Generator().manual_seed(1)) * 2 - 1
        f0s = torch.full((1, t), f0, dtype=torch.float64)
        harm, noise, _ = dec.source(torch.zeros(1, 4, t // 64), f0s, white=white)
    assert noise.abs().max() < 1e-4
    return harm[0].numpy()


def _line_widths(x: np.ndarray, f0: float) -> np.ndarray:
    """Power-weighted RMS distance (Hz) from k f0 of the spectrum within f0 / 2 of harmonics 1 ... 8."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    out = []
    for k in range(1, 9):
        near = np.abs(freqs - k * f0) < f0 / 2
        out.append(np.sqrt((spec[near] * (freqs[near] - k * f0) ** 2).sum() / spec[near].sum()))
    return np.array(out)


def test_the_jittered_bank_broadens_each_partial_in_proportion_to_its_number():
    sharp = _line_widths(_jittered_tone(share=-30.0, depth=10.0), 220.0)
    spread = _line_widths(_jittered_tone(share=30.0, depth=10.0), 220.0)
    assert sharp.max() < 3.0  # the bank at k f0: lines a few Hz wide (the window's)
    # 40 cents RMS is 2.3 % of k f0 (5 Hz at k = 1, 41 Hz at 8): the widths grow with k, not as a band
    assert spread[7] > 25.0 and np.allclose(spread / np.arange(1, 9), spread[0], rtol=0.1), spread
    shallow = _line_widths(_jittered_tone(share=30.0, depth=-2.0), 220.0)  # sigmoid(-2): 12 % of the depth
    assert sharp[7] < shallow[7] < 0.3 * spread[7]
    freqs = np.fft.rfftfreq(32000, 1 / SR)
    line = {  # the power within 2 Hz of the 8th harmonic: all of it sharp, half, none
        share: (np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2)[np.abs(freqs - 8 * 220.0) < 2].sum()
        for share, x in ((s, _jittered_tone(s, 10.0)) for s in (-30.0, 0.0, 30.0))
    }
    assert line[30.0] < 0.1 * line[-30.0] and 2 * line[30.0] < line[0.0] < 0.6 * line[-30.0], line


def _derived(tmp_path: Path, parent: Path, field: str):
    """(parent, the variant ``scripts/derive_init.py`` makes of it with ``--decoder FIELD``), loaded."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "derive_init.py"
    derived = tmp_path / "derived.safetensors"
    cmd = [sys.executable, str(script), str(parent), str(derived), "--decoder", field]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return nsynth.load_model(parent), nsynth.load_model(derived)


def test_a_jittered_model_trains_its_shares_and_depth_and_starts_near_its_parent(tmp_path, tiny_parallel_ckpt):
    model = tiny_parallel(decoder={**TINY_PARALLEL["decoder"], "jitter_cents": 30.0}).train()
    x = torch.from_numpy(np.stack([tone(440, 0.064), tone(330, 0.064)]))
    model.loss(x, torch.tensor([69, 64])).backward()
    out = model.decoder.control.out
    assert out.weight.shape[0] == 1 + 8 + 17 + 8 + 1  # tiny: 8 harmonics, 17 bands; 8 shares and a depth
    assert out.weight.grad[-9:-1].abs().sum() > 0 and out.weight.grad[-1].abs().sum() > 0
    old, new = _derived(tmp_path, tiny_parallel_ckpt, "jitter_cents=30")
    assert new.config.decoder.jitter_cents == 30.0
    emb, pitch = torch.randn(1, 16, 6), torch.tensor([60])
    white = torch.rand(1, 6 * 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():  # 5 % of each harmonic jittered: near the parent, not equal to it
        a, b = old.synthesize(emb, pitch, white=white), new.synthesize(emb, pitch, white=white)
        assert 0 < (a - b).norm() < 0.1 * a.norm()
    z = emb[0].T.numpy()
    go = lambda seed: generate_audio(new, [z], [60], sampling=nsynth.Sampling(seed=seed, progress=False))[0]  # noqa: E731
    assert np.array_equal(go(1), go(1)) and not np.array_equal(go(1), go(2))


@pytest.mark.parametrize("fields", [{"jitter_cents": -1.0}, {"jitter_cents": 30.0, "jitter_rate": 0.0}])
def test_an_impossible_jitter_is_refused(fields):
    with pytest.raises(ValueError, match="jitter_cents must be in"):
        tiny_parallel(decoder={**TINY_PARALLEL["decoder"], **fields})


def _folding_source(gain: float, alias_limit: float = 1.5, f0=1100.0, t: int = 16000):
    """A source of 16 equal harmonics (constant controls, no noise) with the folded harmonics'
    gain at pre-sigmoid ``gain``: (its harmonic part (T,), the amplitudes it gave the bank (16, T))."""
    cfg = ParallelDecoderConfig(harmonics=16, noise_bands=17, control_hop=64, filter_layers=0, alias_limit=alias_limit)
    dec = ParallelDecoder(4, 64, SR, cfg).eval()
    mod = sys.modules[ParallelDecoder.__module__]
    seen = {}

    def spy(f0s, amplitudes, sr):
        seen["amps"] = amplitudes
        return harmonic_bank(f0s, amplitudes, sr)

    with torch.no_grad():
        dec.control.out.weight.zero_()
        dec.control.out.bias.zero_()
        dec.control.out.bias[1 + 16 : 1 + 16 + 17] = -30.0  # the band noise silent
        if alias_limit > 0.5:
            dec.control.out.bias[-1] = gain
        f0s = f0 if isinstance(f0, torch.Tensor) else torch.full((1, t), f0, dtype=torch.float64)
        real, mod.harmonic_bank = mod.harmonic_bank, spy
        try:
            cond, white = torch.zeros(1, 4, f0s.shape[-1] // 64), torch.zeros_like(f0s).float()
            with torch.enable_grad():  # the torch path, whose tables the spy sees
                harm, noise, _ = dec.source(cond, f0s, white=white)
            harm, noise = harm.detach(), noise.detach()
        finally:
            mod.harmonic_bank = real
    assert noise.abs().max() < 1e-4
    return harm[0].numpy(), seen["amps"][0]


def _line_levels(x: np.ndarray, freqs_hz) -> np.ndarray:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return np.array([spec[np.abs(f - q) < 3].max() for q in freqs_hz])


def test_folded_harmonics_sound_where_a_renderer_without_band_limiting_puts_them():
    f0 = 1100.0  # harmonics 1 ... 7 under 8 kHz; 8 ... 16 (8.8 ... 17.6 kHz) fold to |16 kHz - k f0|
    audible = [k * f0 for k in range(1, 8)]
    folded = [abs(SR - k * f0) for k in range(8, 17)]  # 7.2, 6.1, ... 0.6 kHz, then 0.5 and 1.6
    loud, _ = _folding_source(gain=30.0)
    off, _ = _folding_source(gain=0.0, alias_limit=0.5)
    # each folded line as loud as an audible one over 9 (its share of the gain) against 7
    assert np.allclose(_line_levels(loud, folded) / _line_levels(loud, audible).mean(), 7 / 9, rtol=0.05)
    assert np.allclose(_line_levels(loud, audible), _line_levels(off, audible), rtol=1e-3)
    assert _line_levels(off, folded).max() < 1e-4 * _line_levels(off, audible).min()  # off: none
    built, _ = _folding_source(gain=-5.0)  # ALIAS_BIAS: 0.7 % of the amplitude, -45 dB a line
    ratio = _line_levels(built, folded).mean() / _line_levels(built, audible).mean()
    assert np.isclose(ratio, 7 / 9 / (1 + math.exp(5.0)), rtol=0.05), ratio
    gap = _line_levels(loud, [(k + 0.5) * f0 for k in range(1, 7)])  # and nothing else: mid-gap silent
    assert gap.max() < 1e-3 * _line_levels(loud, audible).min()


def test_no_harmonic_is_made_at_or_above_the_alias_limit_along_a_glide():
    t = 64 * 40
    f0 = torch.linspace(1000.0, 3000.0, t, dtype=torch.float64)[None]  # harmonics cross 8 and 16 kHz
    _, amps = _folding_source(gain=30.0, alias_limit=1.0, f0=f0)
    kf0 = torch.arange(1, amps.shape[0] + 1)[:, None] * f0[0].float()
    assert (kf0 >= SR).any() and amps[kf0 >= SR].abs().max() == 0
    assert amps[(kf0 >= SR / 2) & (kf0 < SR)].abs().max() > 0.01
    _, quiet = _folding_source(gain=-30.0, alias_limit=1.0, f0=f0)  # gain ~0: as without folding
    assert quiet[kf0 >= SR / 2].abs().max() < 1e-9
    assert torch.allclose(quiet[kf0 < SR / 2], amps[kf0 < SR / 2])


def test_a_folding_model_trains_its_gain_starts_near_its_parent_and_batches(tmp_path, tiny_parallel_ckpt):
    model = tiny_parallel(decoder={**TINY_PARALLEL["decoder"], "alias_limit": 1.5}).train()
    x = torch.from_numpy(np.stack([tone(2637, 0.064), tone(2093, 0.064)]))  # MIDI 100, 96: 3 and 3 audible
    model.loss(x, torch.tensor([100, 96])).backward()
    out = model.decoder.control.out
    assert out.weight.shape[0] == 1 + 8 + 17 + 1  # tiny: 8 harmonics, 17 bands; the gain last
    assert out.weight.grad[-1].abs().sum() > 0 and out.bias.grad[-1] != 0
    old, new = _derived(tmp_path, tiny_parallel_ckpt, "alias_limit=1.5")
    assert new.config.decoder.alias_limit == 1.5
    shown = run("info", tmp_path / "derived.safetensors")
    assert shown.exit_code == 0 and "8 harmonics (folded above Nyquist up to 1.5 x sr) + 17 noise bands" in shown.output
    emb = torch.randn(1, 16, 6)
    white = torch.rand(1, 6 * 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        for pitch, folds in ((60, False), (100, True)):  # 8 x 262 Hz is under Nyquist: nothing folds
            a, b = (m.synthesize(emb, torch.tensor([pitch]), white=white) for m in (old, new))
            assert (0 < (a - b).norm() < 0.05 * a.norm()) if folds else torch.allclose(a, b, atol=1e-6), pitch
    short, long = tone(2637, 0.2), tone(1760, 0.5)  # the longer note folds fewer harmonics
    e_short, e_long = encode_audio(new, [short, long])
    go = lambda embs, pitches: generate_audio(  # noqa: E731
        new, embs, pitches, sampling=nsynth.Sampling(seed=5, progress=False), draws=[0] * len(embs)
    )
    np.testing.assert_allclose(go([e_short, e_long], [100, 93])[0], go([e_short], [100])[0], atol=1e-5)


@pytest.mark.parametrize("limit", [0.25, 5.0])
def test_an_impossible_alias_limit_is_refused(limit):
    with pytest.raises(ValueError, match="alias_limit must be in"):
        tiny_parallel(decoder={**TINY_PARALLEL["decoder"], "alias_limit": limit})


def _detuned_notes(root: Path) -> dict[int, float]:
    """Two NSynth-named harmonic tones sitting off their labels (MIDI 57 by +23 cents, 64 by -19: within
    ``TRACK_CENTS``, the span the training f0 is looked for in)."""
    root.mkdir()
    t = np.arange(16000) / SR
    detune = {57: 23.0, 64: -19.0}
    for p, c in detune.items():
        hz = 440 * 2 ** ((p - 69 + c / 100) / 12)
        x = sum(np.sin(2 * np.pi * k * hz * t) / k for k in range(1, 12)) * 0.2
        sf.write(root / f"tone_{p}-{p:03d}-100.wav", x.astype(np.float32), SR)
    return detune


def test_training_with_tracked_f0_gives_each_crop_its_note_s_own_f0(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    detune = _detuned_notes(tmp_path / "notes")
    ds = open_dataset(tmp_path / "notes")
    from nsynth.training.data import with_f0

    codes = with_f0(ds, load_codes(ds, 512, progress=False, pcm=True), 64, progress=False)
    assert codes.f0.shape == (2, 16000 // 64)
    batches = CropBatches(codes, 512, 4, seed=0, align=64)
    audio, pitch, f0 = batches[0]
    assert f0.shape == (4, 8)
    for p, row in zip(pitch.tolist(), f0):
        cents = 1200 * np.log2(row.numpy() / (440 * 2 ** ((p - 69) / 12)))
        np.testing.assert_allclose(cents, detune[p], atol=1.5)
    assert with_f0(ds, codes, 64, progress=False).f0 is not None  # read back from the cache
    forked = with_f0(ds, codes, 64, progress=False, cache=False, workers=2).f0  # a pool of processes
    np.testing.assert_array_equal(forked, codes.f0)
    assert any((tmp_path / "cache").rglob("*.npy"))
    quiet = dict(progress=False, log=lambda m: None)
    cfg = dataclasses.replace(_cfg(6), f0="track")
    tracked = train(_config(), ds, tmp_path / "track", cfg, **quiet)
    label = train(_config(), ds, tmp_path / "label", _cfg(6), **quiet)
    rows = lambda run: [float(r.split(",")[2]) for r in (run / "metrics.csv").read_text().splitlines()[1:]]  # noqa: E731
    a, b = rows(tmp_path / "track"), rows(tmp_path / "label")
    assert a[0] != b[0]  # the same crops, another f0: the loss sees it
    assert json.loads((tmp_path / "track" / "config.json").read_text())["train"]["f0"] == "track"
    assert tracked.step == label.step == 6
    resumed = train(_config(), ds, tmp_path / "track", dataclasses.replace(cfg, steps=8), resume=True, **quiet)
    assert resumed.step == 8


def test_tracked_f0_is_refused_for_a_model_that_draws_samples(tmp_path, tiny_data):
    with pytest.raises(nsynth.NSynthError, match="f0"):
        train(tiny_model().config, open_dataset(tiny_data), tmp_path / "run",
              TrainConfig(steps=1, crop=512, workers=0, f0="track"), progress=False, log=lambda m: None)


def test_the_lsd_term_is_evaluate_s_distance_in_nepers_and_trains():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16384, generator=g) * 0.1
    y = x * 0.5 + torch.randn(1, 16384, generator=g) * 0.02
    term = stft_loss(y, x, (1024,), lsd=1.0) - stft_loss(y, x, (1024,))
    assert stft_loss(x, x, (1024,), lsd=1.0).item() == pytest.approx(0.0, abs=1e-5)
    # evaluate's frames are not centred (torch.stft's are): equal to a few %
    assert term.item() == pytest.approx(_lsd_at(x[0].numpy(), y[0].numpy(), 1024) / (20 / math.log(10)), rel=0.05)
    model = tiny_parallel().train()
    audio = torch.sin(torch.arange(2048) * 0.2)[None] * 0.5
    pitch = torch.tensor([60])
    loss = model.loss(audio, pitch, lsd=2.0)
    loss.backward()
    assert loss.item() > model.loss(audio, pitch).item()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with pytest.raises(nsynth.NSynthError, match="lsd"):
        TrainingLoss(tiny_model(), lsd_loss=1.0)


def _lsd_at(x: np.ndarray, y: np.ndarray, size: int) -> float:
    """``nsynth.evaluate.lsd``'s distance at one FFT size (its frames start at 0, not centred)."""
    from nsynth import evaluate

    sizes, evaluate.FFT_SIZES = evaluate.FFT_SIZES, (size,)
    try:
        return evaluate.lsd(x, y)
    finally:
        evaluate.FFT_SIZES = sizes
