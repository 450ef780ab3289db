"""The installed torch/torchaudio pair is the one pyproject.toml pins, and they run together."""

import re
from pathlib import Path

import torch
import torchaudio
import torchaudio.functional as AF

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _pin(name: str) -> str:
    found = re.search(rf'"{name}==([0-9.]+)"', PYPROJECT.read_text())
    assert found, f"pyproject.toml must pin {name} (pip resolves torch and torchaudio to a broken pair otherwise)"
    return found.group(1)


def test_installed_torch_pair_is_the_pinned_one():
    assert torch.__version__.split("+")[0] == _pin("torch")
    assert torchaudio.__version__.split("+")[0] == _pin("torchaudio")


def test_torchaudio_dsp_runs_with_this_torch():
    x = torch.sin(torch.arange(1600) * 2 * torch.pi * 440 / 16000)[None]
    y = AF.resample(x, 16000, 8000)
    assert y.shape == (1, 800)
    # a 440 Hz tone stays a 440 Hz tone at the new rate
    spectrum = torch.fft.rfft(y[0]).abs()
    assert abs(int(spectrum.argmax()) * 8000 / 800 - 440) <= 10
