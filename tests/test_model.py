"""Model contracts: shapes, the length rule, causality/receptive field, and the hard test
that the cached generation path equals the teacher-forced forward pass."""

import pytest
import torch
from conftest import tiny_model

import nsynth
from nsynth.config import PRESETS, get_preset
from nsynth.generation.reference import CachedDecoder, generate, teacher_forced_logits
from nsynth.mulaw import audio_to_input


def test_shapes_and_length_rule():
    model = tiny_model()
    hop = model.config.hop
    for t in (1, hop - 1, hop, 3 * hop, 3 * hop + 1):
        z = model.encode(torch.randn(2, t).clamp(-1, 1))
        assert z.shape == (2, 16, max(1, -(-t // hop)))  # ceil(T / hop): the end is zero-padded
    audio = torch.rand(2, 3 * hop) * 2 - 1
    # padding with silence is exactly the rule: T = 2.5 hops encodes like 2.5 hops + silence
    part = audio[:, : 5 * hop // 2]
    padded = torch.cat([part, torch.zeros(2, hop // 2)], dim=1)
    assert torch.equal(model.encode(part), model.encode(padded))
    logits = model.logits(audio, model.encode(audio), torch.tensor([60, 72]))
    assert logits.shape == (2, 256, 3 * hop)
    with pytest.raises(ValueError, match="multiple of hop"):
        model.encoder(torch.zeros(1, 1, hop + 1))


def test_presets_build_and_mini_fits_budget():
    assert set(PRESETS) >= {"nsynth", "magenta", "mini"}
    mini = nsynth.build_model("mini")
    n = sum(p.numel() for p in mini.parameters())
    assert n * 4 <= 10 * 2**20  # the shipped weights file stays <= 10 MB
    assert get_preset("nsynth").decoder.residual_channels == 512
    assert not get_preset("magenta").pitch_conditioning
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("huge")
    with pytest.raises(ValueError, match="unknown"):
        get_preset("mini").replace(decoder={"nope": 1})


@pytest.mark.parametrize("kernel", [2, 3])
def test_receptive_field_is_what_the_decoder_sees(kernel):
    model = tiny_model(
        decoder=dict(layers=4, residual_channels=8, skip_channels=8, kernel_size=kernel, dilation_cycle=3)
    )
    dec = model.decoder
    rf = dec.receptive_field
    t = rf + 40
    cond = torch.randn(1, model.config.cond_dim, 1).expand(-1, -1, -(-t // dec.hop) + 1)
    x = torch.rand(1, 1, t) * 2 - 1
    base = dec(x, cond)
    t0 = 10
    x2 = x.clone()
    x2[..., t0] += 0.5
    changed = (dec(x2, cond) - base).abs().amax(dim=1)[0] > 0
    idx = changed.nonzero().flatten()
    # changing x[t0] changes exactly logits[t0 + 1 ... t0 + rf]
    assert idx.min().item() == t0 + 1
    assert idx.max().item() == t0 + rf
    assert rf == model.config.decoder.receptive_field()


def _tf_check(model, batch_audio, pitch):
    emb = model.encode(batch_audio)
    cond = model.conditioning(emb, pitch)
    x = audio_to_input(batch_audio)
    with torch.no_grad():
        full = model.decoder(x[:, None], cond)
        cached = teacher_forced_logits(model.decoder, x, cond)
    return (full - cached).abs().max().item()


@pytest.mark.parametrize("kernel", [2, 3])
@pytest.mark.parametrize("gate", ["tanh_sigmoid", "sigmoid_tanh"])
def test_cached_equals_teacher_forced_forward(kernel, gate):
    model = tiny_model(
        decoder=dict(layers=5, residual_channels=8, skip_channels=8, kernel_size=kernel, dilation_cycle=3, gate=gate)
    )
    hop = model.config.hop
    t = 4 * hop + 17  # several hops, and not a whole number of frames
    g = torch.Generator().manual_seed(1)
    audio = (torch.rand(2, t, generator=g) * 2 - 1) * torch.linspace(1, 0.1, t)
    err = _tf_check(model, audio, torch.tensor([40, 90]))  # batch of 2 with different pitches
    assert err <= 1e-4


def test_pitch_changes_output_and_is_validated():
    model = tiny_model()
    audio = torch.rand(1, 128) * 2 - 1
    emb = model.encode(audio)
    a = model.logits(audio, emb, torch.tensor([40]))
    b = model.logits(audio, emb, torch.tensor([80]))
    assert (a - b).abs().max() > 1e-3
    with pytest.raises(ValueError, match="0-127"):
        model.logits(audio, emb, torch.tensor([128]))
    with pytest.raises(ValueError, match="pitch-conditioned"):
        model.logits(audio, emb, None)


def test_seeded_generation_is_reproducible_and_seed_matters():
    model = tiny_model()
    cond = model.conditioning(torch.randn(2, 16, 3), torch.tensor([60, 61]))

    def run(seed):
        return generate(
            model.decoder, cond, 150, uniforms=torch.rand(150, 2, generator=torch.Generator().manual_seed(seed))
        )

    a, b, c = run(5), run(5), run(6)
    assert a.shape == (2, 150) and a.dtype == torch.int64
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    greedy = generate(model.decoder, cond, 50, greedy=True)
    state = CachedDecoder(model.decoder, cond)
    assert torch.equal(greedy[:, 0], state.step(torch.zeros(2)).argmax(-1))
