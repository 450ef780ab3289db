"""The pinned torch/torchaudio pair must import and run together."""

import torch
import torchaudio
import torchaudio.functional as AF


def test_torchaudio_imports_and_runs_with_torch():
    x = torch.randn(1, 1600)
    y = AF.resample(x, 16000, 8000)
    assert y.shape == (1, 800)
    assert torchaudio.__version__.split("+")[0] == "2.11.0"
    assert torch.__version__.split("+")[0] == "2.14.1"
