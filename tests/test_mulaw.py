from pathlib import Path

import numpy as np
import torch

from nsynth.mulaw import dequantize, max_roundtrip_error, mu_law_decode, mu_law_encode, quantize

FIXTURES = Path(__file__).parent / "fixtures" / "magenta"


def test_matches_magenta_edge_case_table_exactly():
    z = np.load(FIXTURES / "magenta_tiny.npz")
    x64 = torch.from_numpy(z["mulaw/x"])
    assert torch.equal(mu_law_encode(x64), torch.from_numpy(z["mulaw/q"]))
    x32 = torch.from_numpy(z["mulaw/x"].astype(np.float32))
    assert torch.equal(mu_law_encode(x32), torch.from_numpy(z["mulaw/q_from_float32_x"]))
    inv = mu_law_decode(torch.from_numpy(z["mulaw/q"])).double().numpy()
    # Decoding is correctly rounded to float32; TF's float32 pow is off by up to one
    # float32 step (6e-8 at |x| < 1) on some codes, so equality is to that step.
    assert np.abs(inv - z["mulaw/inv"]).max() <= 6e-8
    assert inv[4] == 0.0 and inv[5] == 0.0  # the q = 0 special case is exact


def test_matches_magenta_codes_of_real_signals():
    z = np.load(FIXTURES / "magenta_tiny.npz")
    assert torch.equal(mu_law_encode(torch.from_numpy(z["io/wav"])), torch.from_numpy(z["io/quantized"]))


def test_range_and_clipping():
    x = torch.tensor([-5.0, -1.0, 0.0, 0.999999, 1.0, 7.0])
    q = mu_law_encode(x)
    assert q.min() == -128 and q.max() == 127
    c = quantize(x)
    assert c.dtype == torch.int64 and int(c.min()) >= 0 and int(c.max()) <= 255


def test_roundtrip_error_bound():
    # The step of 8-bit mu-law at amplitude |x| is about ln(256)/128 * (1/255 + |x|); the
    # decoder returns the middle of the step, so the error is at most half a step.
    x = np.linspace(-1, 0.9999, 200001)
    y = dequantize(quantize(torch.from_numpy(x).float())).double().numpy()
    # Codes 127 / -128 cover [0.9785, 1) as one step whose centre is 0.9785: allow that.
    half_step = 0.5 * np.log(256) / 128 * (1 / 255 + np.abs(x)) * 1.05
    # Code 0 decodes to exactly 0 (Magenta's special case), so it errs by up to a whole step.
    top = np.abs(x) > 0.97
    zero = mu_law_encode(torch.from_numpy(x)).numpy() == 0
    regular = ~top & ~zero
    assert np.all(np.abs(y - x)[regular] <= half_step[regular])
    assert np.all(np.abs(y - x)[top] <= 0.0216)
    assert np.all(np.abs(y - x)[zero] <= (256 ** (1 / 128) - 1) / 255)
    assert max_roundtrip_error(x) < 0.025  # worst case is at full scale
    small = np.linspace(-0.01, 0.01, 1001)
    assert max_roundtrip_error(small) < 3.1e-4  # ~50x finer near zero than at full scale


def test_tiny_and_denormal_samples_code_as_magenta_does():
    # Magenta computes log(1 + 255|x|) in float32: below ~4.7e-10 the sum is exactly 1 and the
    # code 0, also for negative x (log1p would give -1 there, and imported models' logits move)
    x = torch.tensor([-1.5e-14, 1.5e-14, -1e-40, 1e-40, -1e-12, -0.0], dtype=torch.float32)
    assert mu_law_encode(x).tolist() == [0.0] * 6
    assert mu_law_encode(torch.tensor([-1e-3, 1e-3])).tolist() == [-6.0, 5.0]
