"""The mixture-of-logistics output head (``decoder.output = "logistic"``).

Its discretized likelihood is a distribution over the 256 classes; a fresh head predicts the
sample one pitch period back; the cached generation path equals the teacher-forced pass for
every decoder option (R != S); draws are continuous, repeatable from the same uniforms, and
temperature scales their spread; weights files of the softmax head load unchanged.
"""

import numpy as np
import pytest
import torch
from conftest import tiny_model

import nsynth
from nsynth.decoders import logistic
from nsynth.errors import NSynthError
from nsynth.generation.render import generate_audio
from nsynth.generation.options import Sampling
from nsynth.generation.reference import generate, teacher_forced_logits
from nsynth.mulaw import audio_to_input, quantize

OPTIONS = [
    (upsample, taps, phase, k)
    for upsample in ("repeat", "linear")
    for taps in (0, 1, 3)
    for phase in (False, True)
    for k in (1, 3)
    if taps or phase  # the lag path needs a pitch-locked decoder; taps 0 + phase: offset only
]


def _model(upsample="linear", taps=3, phase=True, k=3, seed=0):
    return tiny_model(
        "pitched",
        seed=seed,
        decoder=dict(
            layers=5,
            residual_channels=8,
            skip_channels=12,
            kernel_size=2,
            dilation_cycle=3,
            upsample=upsample,
            pitch_taps=taps,
            phase_input=phase,
            output="logistic",
            mixtures=k,
        ),
    )


def _inputs(model, t=300):
    g = torch.Generator().manual_seed(0)
    audio = (torch.rand(2, t, generator=g) * 2 - 1) * torch.linspace(1, 0.05, t)
    pitch = torch.tensor([45, 83])
    frames = -(-t // model.config.hop)
    f0 = torch.stack([torch.linspace(1500.0, 300.0, frames), torch.full((frames,), 987.8)])
    with torch.no_grad():
        cond = model.conditioning(model.encode(audio), pitch)
        period = model.period(pitch, t, f0)
    return audio, pitch, cond, period


def test_likelihood_sums_to_one_over_the_classes():
    g = torch.Generator().manual_seed(1)
    k, t = 3, 7
    params = torch.cat(
        [torch.randn(2, k, t, generator=g), torch.rand(2, k, t, generator=g) * 2.4 - 1.2, torch.randn(2, k, t, generator=g) * 2 - 4]
    , dim=1)
    total = sum(torch.exp(-logistic.nll(params, torch.full((2, t), c))) for c in range(256))
    assert torch.allclose(total, torch.ones(2, t), atol=1e-4)
    # a narrow component centred in a class puts nearly all its mass there
    sharp = torch.tensor([[0.0], [(140 - 128 + 0.5) / 128], [-9.0]])[None]
    assert float(logistic.nll(sharp, torch.tensor([[140]]))) < 1e-3
    assert float(logistic.nll(sharp, torch.tensor([[141]]))) > 20


def test_nll_matches_the_class_probabilities_it_implies():
    """The loss is the cross-entropy of the classes' probabilities, in the softmax's nats."""
    model = _model()
    audio, pitch, _, _ = _inputs(model)
    with torch.no_grad():
        params = model(audio, pitch)
        loss = model.loss(audio, pitch)
        log_p = torch.stack([-logistic.nll(params, torch.full(audio.shape, c)) for c in range(256)], dim=1)
        ce = torch.nn.functional.cross_entropy(log_p, quantize(audio))
    assert abs(float(loss) - float(ce)) < 1e-4


def test_fresh_head_predicts_one_period_back():
    model = nsynth.build_model("pitched", decoder=dict(layers=4, residual_channels=8, skip_channels=12,
                                                        output="logistic", mixtures=2), hop=64, pitch_dim=4)
    t, pitch = 2000, 60  # 261.6 Hz: a period of 61.2 samples
    x = torch.from_numpy(0.5 * np.sin(2 * np.pi * 261.63 * np.arange(t) / 16000).astype(np.float32))[None]
    with torch.no_grad():
        params = model(x, torch.tensor([pitch]))
    k = 2
    loc = params[0, k : 2 * k, 200:]
    inp = audio_to_input(x)[0]
    per = 16000 / 261.63
    back = torch.from_numpy(np.interp(np.arange(200, t) - per, np.arange(t), inp.numpy()).astype(np.float32))
    assert float((loc - back).abs().max()) < 0.05  # 0.01 x weights: nearly the lag tap itself
    assert float(params[0, 2 * k :].exp().mean()) == pytest.approx(0.02, rel=0.3)


@pytest.mark.parametrize("upsample,taps,phase,k", OPTIONS)
def test_cached_path_equals_teacher_forced(upsample, taps, phase, k):
    model = _model(upsample, taps, phase, k)
    audio, pitch, cond, period = _inputs(model)
    x = audio_to_input(audio)
    with torch.no_grad():
        full = model.decoder(x[:, None], cond, period)
    cached = teacher_forced_logits(model.decoder, x, cond, period)
    assert full.shape == (2, 3 * k, audio.shape[1])
    torch.testing.assert_close(cached, full, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("temperature", [0.0, 0.6, 1.0])
def test_generation_draws_from_the_teacher_forced_distribution(temperature):
    """Generated values, fed back as classes and scored teacher-forced, are redrawn exactly."""
    model = _model()
    _, _, cond, period = _inputs(model)
    t = period.shape[1]
    u = torch.rand(t, 2, generator=torch.Generator().manual_seed(3))
    greedy = temperature == 0
    v = generate(model.decoder, cond, t, uniforms=u, period=period, temperature=temperature, greedy=greedy)
    assert v.dtype == torch.float32 and float(v.abs().max()) <= 1.0
    fed = (logistic.value_classes(v).float() - 128) / 128
    with torch.no_grad():
        params = model.decoder(fed[:, None], cond, period)
    again = torch.stack([logistic.draw(params[:, :, i], u[i], temperature, greedy) for i in range(t)], dim=1)
    torch.testing.assert_close(again, v, atol=1e-5, rtol=0)
    # continuous: the values not clamped at +-1 fall between the classes' own values
    inside = v.abs() < 1
    off_grid = (v * 128 - torch.floor(v * 128)).abs() > 1e-3
    assert temperature == 0 or float(off_grid[inside].float().mean()) > 0.95


def test_temperature_scales_the_spread_and_zero_takes_the_best_location():
    params = torch.tensor([[2.0, -1.0, 0.3, -0.4, -3.0, -3.0]]).expand(20000, 6)  # K = 2
    u = torch.rand(20000, generator=torch.Generator().manual_seed(0))
    one = torch.tensor([[0.0, 0.1, -3.0]]).expand(20000, 3)  # K = 1
    spread = {temp: float(logistic.draw(one, u, temp).std()) for temp in (0.25, 0.5)}
    assert spread[0.5] / spread[0.25] == pytest.approx(2.0, rel=0.15)
    assert float(logistic.draw(params[:3], u[:3], greedy=True)[0]) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="must be > 0 when not greedy"):
        logistic.draw(params[:3], u[:3], 0.0)
    # the weights pick the component: about 95 % of draws near the first location at T -> small
    near = (logistic.draw(params, u, 0.05) - 0.3).abs() < 0.05
    assert float(near.float().mean()) == pytest.approx(float(torch.softmax(torch.tensor([2.0, -1.0]), 0)[0]), abs=0.01)


def test_values_come_back_as_audio_and_classes():
    x = torch.linspace(-0.99, 0.99, 1001)
    v = audio_to_input(x)
    assert torch.equal(logistic.value_classes(v), quantize(x))
    u = torch.sign(x) * torch.log1p(255 * x.abs()) / np.log(256)
    torch.testing.assert_close(logistic.value_audio(u), x, atol=1e-6, rtol=1e-5)


def test_generate_audio_is_continuous_and_reference_only():
    model = _model()
    emb = [np.zeros((4, model.config.latent_dim), np.float32)]
    quiet = Sampling(seed=0, temperature=0.5, postfilter=0, progress=False)
    notes = generate_audio(model, emb, pitch=[60], lengths=[200], sampling=quiet)
    a = notes[0]
    assert a.shape == (200,) and np.isfinite(a).all()
    assert len(np.unique(a)) > 150  # not 8-bit: 200 draws, nearly every one its own value
    with pytest.raises(NSynthError, match="^backend fast"):
        generate_audio(model, emb, pitch=[60], lengths=[50], sampling=Sampling(backend="fast", progress=False))


def test_weights_file_roundtrip_and_old_files_load(tmp_path):
    model = _model()
    path = tmp_path / "mol.safetensors"
    nsynth.save_model(model, path)
    back = nsynth.load_model(path)
    assert back.config.decoder.output == "logistic" and back.config.decoder.mixtures == 3
    for a, b in zip(model.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)
    shipped = nsynth.load_model("pitched")  # written before the option existed
    assert shipped.config.decoder.output == "softmax" and shipped.decoder.out.out_channels == 256
