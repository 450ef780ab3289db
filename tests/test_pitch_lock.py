"""The pitch-locked decoder: lag taps, phase input, linear upsampling, and the f0 curve.

Every option combination is checked on every path: the cached reference path equals the
teacher-forced forward pass, the fused CPU kernel and the static (CUDA-graph) step equal the
cached path, all with R != S and a period that changes over the note.
"""

import numpy as np
import pytest
import torch
from conftest import tiny_model, tone
from nsynth.decoders.wavenet import MAX_PERIOD, frame_lerp_index, lag_taps, pitch_phase, upsample_frames

import nsynth
from nsynth.errors import NSynthError
from nsynth.generation.backends import generate_classes
from nsynth.generation.cuda_graph import StaticStepDecoder
from nsynth.generation.fast_cpu import FastCPUDecoder
from nsynth.generation.render import generate_audio
from nsynth.generation.options import Sampling
from nsynth.generation.reference import generate, teacher_forced_logits
from nsynth.mulaw import audio_to_input
from nsynth.pitch import f0_frames

OPTIONS = [
    (upsample, taps, phase)
    for upsample in ("repeat", "linear")
    for taps in (0, 1, 3)
    for phase in (False, True)
    if (upsample, taps, phase) != ("repeat", 0, False)  # Magenta's graph: tests/test_backends.py
]


def _setup(upsample="linear", taps=3, phase=True, kernel=2, gate="tanh_sigmoid", r=8, s=12, t=300, glide=True):
    model = tiny_model(
        "pitched",
        decoder=dict(
            layers=5,
            residual_channels=r,
            skip_channels=s,
            kernel_size=kernel,
            dilation_cycle=3,
            gate=gate,
            upsample=upsample,
            pitch_taps=taps,
            phase_input=phase,
        ),
    )
    g = torch.Generator().manual_seed(0)
    audio = (torch.rand(2, t, generator=g) * 2 - 1) * torch.linspace(1, 0.05, t)
    pitch = torch.tensor([45, 83])
    frames = -(-t // model.config.hop)
    # note 0 glides 1500 -> 300 Hz (periods 10.7 -> 53 samples); note 1 follows its MIDI pitch
    f0 = torch.stack([torch.linspace(1500.0, 300.0, frames), torch.full((frames,), 987.8)]) if glide else None
    with torch.no_grad():
        cond = model.conditioning(model.encode(audio), pitch)
        period = model.period(pitch, t, f0)
        ref = teacher_forced_logits(model.decoder, audio_to_input(audio), cond, period)
    return model, audio, pitch, f0, cond, period, ref


@pytest.mark.parametrize("upsample,taps,phase", OPTIONS)
@pytest.mark.parametrize("kernel,gate", [(2, "tanh_sigmoid"), (3, "sigmoid_tanh")])
def test_cached_equals_forward(upsample, taps, phase, kernel, gate):
    model, audio, pitch, f0, _, period, ref = _setup(upsample, taps, phase, kernel, gate)
    assert period is None if not (taps or phase) else period[0, 0] < period[0, -1]  # the period really moves
    with torch.no_grad():
        forward = model.logits(audio, model.encode(audio), pitch, f0)
    assert (forward - ref).abs().max().item() <= 1e-4


@pytest.mark.parametrize("upsample,taps,phase", OPTIONS)
def test_fast_cpu_equals_cached(upsample, taps, phase):
    model, audio, _, _, cond, period, ref = _setup(upsample, taps, phase, kernel=3)
    fast = FastCPUDecoder(model.decoder, cond, period)
    x = audio_to_input(audio).numpy()
    _, first = fast.run(170, teacher=x[:, :170], keep_logits=True)  # two calls: state carries over
    _, second = fast.run(130, teacher=x[:, 170:], keep_logits=True)
    assert np.abs(np.concatenate([first, second], -1) - ref.numpy()).max() <= 1e-4
    if period is not None:
        with pytest.raises(ValueError, match="cover"):
            fast.run(1)  # past the periods given


@pytest.mark.parametrize("upsample,taps,phase", OPTIONS)
def test_static_step_equals_cached(upsample, taps, phase):
    model, audio, _, _, cond, period, ref = _setup(upsample, taps, phase, kernel=2, gate="sigmoid_tanh")
    state = StaticStepDecoder(model.decoder, cond, 300, teacher=audio_to_input(audio), keep_logits=True, period=period)
    state.run(300)
    assert (state.logits - ref).abs().max().item() <= 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
def test_cuda_graph_pitch_locked_equals_cached():
    model, audio, _, _, cond, period, ref = _setup(kernel=3, gate="sigmoid_tanh")
    model = model.cuda()
    state = StaticStepDecoder(
        model.decoder, cond.cuda(), 300, teacher=audio_to_input(audio).cuda(), keep_logits=True, period=period.cuda()
    )
    state.run(300, chunk=64)
    assert (state.logits.cpu() - ref).abs().max().item() <= 1e-4


def test_every_backend_samples_the_same_classes():
    model, _, _, _, cond, period, _ = _setup()
    u = torch.rand(300, 2, generator=torch.Generator().manual_seed(3))
    ref = generate(model.decoder, cond, 300, uniforms=u, period=period)
    fast = generate_classes(model.decoder, cond, 300, u, Sampling(backend="fast").for_model(model), period=period)
    static = StaticStepDecoder(model.decoder, cond, 300, uniforms=u, period=period)
    static.run(300)
    assert (fast == ref).float().mean() >= 0.99
    assert (static.classes == ref).float().mean() >= 0.99
    split = generate_classes(
        model.decoder, torch.cat([cond, cond]), 300, torch.cat([u, u], 1), Sampling().for_model(model), period=period.repeat(2, 1))
    assert torch.equal(split[:2], split[2:])  # the batch split over threads keeps each note's period


def test_causal_even_when_the_period_is_below_one_sample():
    model, audio, pitch, *_ = _setup(t=200, glide=False)
    f0 = torch.full((2, 4), 40000.0)  # above the sample rate: the period clamps to 1
    x = audio_to_input(audio)
    with torch.no_grad():
        period = model.period(pitch, 200, f0)
        assert period.min().item() == 1.0
        cond = model.conditioning(model.encode(audio), pitch)
        base = model.decoder(x[:, None], cond, period)
        x2 = x.clone()
        x2[:, 120] += 0.5
        moved = (model.decoder(x2[:, None], cond, period) - base).abs().amax(dim=(0, 1))
    assert moved[:121].max().item() == 0.0  # logits up to t = 120 never see x[120]
    assert moved[121].item() > 0


def test_lag_taps_read_the_past_one_period_back():
    x = torch.arange(1.0, 21.0)[None]  # x[t] = t + 1
    period = torch.full((1, 20), 4.25)
    taps = lag_taps(x, period, 3)  # lags 3.25, 4.25, 5.25
    t = torch.arange(20.0)
    for j, lag in enumerate((3.25, 4.25, 5.25)):
        want = (t + 1 - lag).clamp(min=0)  # linear in t, and zero before the note
        want[t - np.ceil(lag) < 0] = 0
        idx = t - np.ceil(lag) >= 0
        assert torch.allclose(taps[0, j, idx], want[idx])
        assert taps[0, j, t < np.floor(lag)].abs().max() == 0


def test_phase_advances_by_one_cycle_per_period():
    ph = pitch_phase(torch.full((1, 64), 16.0))
    t = torch.arange(1, 65, dtype=torch.float64)
    assert torch.allclose(ph[0, 0].double(), torch.cos(2 * torch.pi * t / 16), atol=1e-5)
    assert torch.allclose(ph[0, 1].double(), torch.sin(2 * torch.pi * t / 16), atol=1e-5)


def test_linear_upsampling_interpolates_between_frame_centres():
    c = torch.tensor([[[0.0, 8.0, 16.0]]])
    up = upsample_frames(c, 8, 24, "linear")[0, 0]
    assert up[0] == 0 and up[3] == 0 and up[-1] == 16  # held before the first centre and after the last
    assert torch.allclose(up[4:20], torch.arange(4, 20) - 3.5)  # slope 1 per sample between centres
    for t in (0, 3, 4, 11, 19, 23):
        i0, i1, w = frame_lerp_index(t, 8, 3)
        assert up[t].item() == pytest.approx((1 - w) * c[0, 0, i0].item() + w * c[0, 0, i1].item())


def test_period_from_pitch_or_f0_curve():
    model = tiny_model("pitched")
    per = model.period(torch.tensor([69, 21]), 10)
    assert per[0, 0].item() == pytest.approx(16000 / 440, rel=1e-6)
    assert per[1, 0].item() == pytest.approx(16000 / 27.5, rel=1e-6)
    curve = model.period(None, 64 * 3, torch.tensor([[100.0, 200.0, 400.0]]))
    assert curve[0, 0].item() == pytest.approx(160) and curve[0, -1].item() == pytest.approx(40)
    assert (curve[0, 1:] <= curve[0, :-1]).all()
    assert model.period(None, 5, torch.tensor([[1.0]])).max().item() == MAX_PERIOD
    for bad in ([[0.0, 100.0, 100.0]], [[float("nan")] * 3], [[100.0]]):
        with pytest.raises(ValueError):
            model.period(None, 64 * 3, torch.tensor(bad))
    assert tiny_model("mini").period(torch.tensor([60]), 10) is None


def test_f0_curve_follows_a_glide_and_is_none_for_silence():
    sr, n = 16000, 16000
    freq = np.geomspace(220.0, 440.0, n)
    glide = (0.5 * np.sin(2 * np.pi * np.cumsum(freq) / sr)).astype(np.float32)
    curve = f0_frames(glide, sr, 512)
    assert curve.shape == (32,)
    cents = 1200 * np.log2(curve / np.interp(np.arange(32) * 512 + 255.5, np.arange(n), freq))
    assert np.median(np.abs(cents[2:-2])) < 30
    assert f0_frames(np.zeros(8000, np.float32), sr, 512) is None


def test_generation_follows_the_f0_curve_not_the_label():
    model = tiny_model("pitched")
    emb = [nsynth.encode(tone(440.0, 0.1), model=model)] * 2
    kw = dict(sampling=Sampling(seed=1, progress=False, backend="reference"))
    by_label = generate_audio(model, emb, [69, 69], **kw)
    same = generate_audio(model, emb, [69, 69], f0=[None, np.full(len(emb[0]), 440.0)], **kw)
    octave = generate_audio(model, emb, [69, 69], f0=[np.full(len(emb[0]), 220.0), None], **kw)
    np.testing.assert_allclose(same[1], by_label[1])  # the curve at the label's f0 changes nothing
    np.testing.assert_allclose(octave[1], by_label[1])
    assert not np.allclose(octave[0], by_label[0])
    with pytest.raises(NSynthError, match="f0 curve"):
        generate_audio(model, emb, [69, 69], f0=[np.zeros(len(emb[0])), None], **kw)


def test_reconstruct_follows_the_input_f0_when_pitch_is_auto(monkeypatch):
    import nsynth.api as api

    model = tiny_model("pitched")
    seen = []
    real = api.generate_audio

    def spy(*args, **kw):
        seen.append(kw.get("f0"))
        return real(*args, **kw)

    monkeypatch.setattr(api, "generate_audio", spy)
    note = tone(330.0, 0.3)
    nsynth.reconstruct(note, model=model, sampling=Sampling(progress=False))
    nsynth.reconstruct(note, pitch=64, model=model, sampling=Sampling(progress=False))
    curve = seen[0][0]
    assert curve is not None and abs(1200 * np.log2(np.median(curve) / 330.0)) < 30
    assert seen[1] == [None]  # an explicit MIDI pitch: the period follows it


def test_pitched_weights_round_trip_and_old_configs_load(tmp_path):
    model = tiny_model("pitched")
    path = tmp_path / "p.safetensors"
    nsynth.save_model(model, path)
    again = nsynth.load_model(path)
    assert again.config == model.config and again.pitch_locked
    old_dict = tiny_model("mini").config.to_dict()
    for key in ("upsample", "pitch_taps", "phase_input"):  # a file written before these options
        del old_dict["decoder"][key]
    old = nsynth.ModelConfig.from_dict(old_dict)
    assert old.decoder.upsample == "repeat" and old.decoder.pitch_channels == 0
    with pytest.raises(ValueError, match="pitch_conditioning"):
        nsynth.get_preset("pitched").replace(pitch_conditioning=False)
    with pytest.raises(ValueError, match="upsampling"):
        nsynth.get_preset("pitched").replace(decoder={"upsample": "cubic"})


def test_decode_takes_an_f0_curve():
    model = tiny_model("pitched")
    note = tone(330.0, 0.2)
    z = nsynth.encode(note, model=model)
    curve = nsynth.f0_frames(note, 16000, model.config.hop)
    kw = dict(model=model, sampling=Sampling(seed=2, progress=False, backend="reference"))
    by_curve = nsynth.decode(z, pitch=64, f0=curve, **kw)
    assert np.allclose(
        by_curve,
        generate_audio(model, [z], [64], f0=[curve], sampling=Sampling(seed=2, progress=False, backend="reference"))[0],
    )
    assert not np.allclose(by_curve, nsynth.decode(z, pitch=64, f0=curve / 2, **kw))


def test_a_weights_file_from_before_pitch_lock_loads_and_computes_the_same():
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures"
    model = nsynth.load_model(fixtures / "mini_before_pitch_lock.safetensors")  # written by the code of 8d52d07
    assert model.config.decoder.upsample == "repeat" and not model.pitch_locked
    want = np.load(fixtures / "mini_before_pitch_lock_logits.npz")
    t = np.arange(800) / 16000
    # a phase offset keeps the sine away from tiny samples, whose mu-law code changed on purpose since
    audio = torch.from_numpy((0.5 * np.sin(2 * np.pi * 440 * t + 0.3)).astype(np.float32))[None]
    with torch.no_grad():
        logits = model(audio, torch.tensor([69]))[0][:, want["columns"]].numpy()
    np.testing.assert_allclose(logits, want["logits"], atol=1e-5)
