"""Shared test fixtures: tiny models (fast on 2 CPU cores) and audio files made on the fly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import nsynth

TINY = dict(
    encoder=dict(layers=3, width=8, dilation_cycle=2),
    decoder=dict(layers=4, residual_channels=8, skip_channels=12, dilation_cycle=3),  # R != S, as shipped
    hop=64,
    pitch_dim=4,
)

# The parallel decoder at its smallest: control_hop divides hop 64, the noise STFT hop (16)
# divides control_hop, the fold divides control_hop.
TINY_PARALLEL = dict(
    encoder=TINY["encoder"],
    decoder=dict(
        harmonics=8, noise_bands=17, control_hop=32, control_width=8, control_layers=2,
        filter_layers=3, filter_channels=8, filter_fold=4, filter_dilation_cycle=2,
    ),
    hop=64,
    pitch_dim=4,
)


def tiny_model(preset: str = "mini", seed: int = 0, **overrides) -> nsynth.NSynthAutoencoder:
    torch.manual_seed(seed)
    cfg = {**TINY, **overrides}
    model = nsynth.build_model(preset, **cfg).eval()
    # Random init leaves biases near zero; spread them so bias handling is exercised.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.uniform_(-0.2, 0.2)
    return model


def tiny_parallel(seed: int = 0, **overrides) -> nsynth.ParallelAutoencoder:
    """A tiny parallel model with spread biases and its filter's output conv not zero (as after
    training: not the identity)."""
    model = tiny_model("parallel", seed, **{**TINY_PARALLEL, **overrides})
    if model.decoder.filter is not None:
        with torch.no_grad():
            model.decoder.filter.out.weight.normal_(0, 0.3)
    return model


def torchrun_cli(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """``nsynth ARGS`` as two processes under torchrun (gloo on the CPU, one thread each)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone", "-m", "nsynth.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # --standalone: a free port of its own
    return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=timeout)


def tone(freq: float = 440.0, seconds: float = 0.25, sr: int = 16000, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def tone_notes(tmp_path: Path, monkeypatch, seconds: float) -> Path:
    """A folder of two NSynth-named tones (MIDI 57 and 64, 16 kHz) and a codes cache of its own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "notes"
    root.mkdir()
    for p in (57, 64):
        sf.write(root / f"tone_{p}-{p:03d}-100.wav", tone(440 * 2 ** ((p - 69) / 12), seconds), 16000)
    return root


@pytest.fixture
def tiny_ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.safetensors"
    nsynth.save_model(tiny_model(), path)
    return path


@pytest.fixture
def tiny_parallel_ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_parallel.safetensors"
    nsynth.save_model(tiny_parallel(), path)
    return path


@pytest.fixture
def wav_pair(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, tone(440.0, 0.25), 16000)
    sf.write(b, tone(220.0, 0.2, sr=22050), 22050)  # other rate and length on purpose
    return a, b
