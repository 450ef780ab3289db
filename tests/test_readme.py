"""The README's commands work: the main job with the shipped model, exactly as written, and
every example command (with a tiny checkpoint, to stay fast)."""

import shlex
import shutil
from pathlib import Path

import soundfile as sf
from click.testing import CliRunner

from nsynth.cli import main
from nsynth.weights import default_weights_path, read_info

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _commands(block_start: str) -> list[list[str]]:
    block = README.split(block_start, 1)[1].split("```", 2)[1]
    lines = [line.strip() for line in block.splitlines() if line.strip().startswith("nsynth ")]
    return [shlex.split(line)[1:] for line in lines]


def test_readme_starts_with_the_two_commands():
    first = README.split("```", 2)[1].strip().splitlines()
    assert first == [
        "pip install . && nsynth interpolate examples/flute.wav examples/trumpet.wav -o morph/",
        "pip install '.[test]' && pip install --no-deps tinysoundfont==0.3.7"
        " && (command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)) && pytest",
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    assert first[1] in ci


def test_main_job_runs_with_the_shipped_model(tmp_path, monkeypatch):
    assert default_weights_path() is not None, "the package must ship its default model"
    assert read_info(None).config.pitch_conditioning
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    args = shlex.split(README.split("```", 2)[1].strip().splitlines()[0].split("&&", 1)[1])[1:]
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    outs = sorted((tmp_path / "morph").glob("*.wav"))
    assert [p.name for p in outs] == [
        "00_alpha0.00.wav",
        "01_alpha0.25.wav",
        "02_alpha0.50.wav",
        "03_alpha0.75.wav",
        "04_alpha1.00.wav",
    ]
    assert all(sf.info(p).frames == 32000 for p in outs)


def test_readme_examples_run(tmp_path, monkeypatch, tiny_ckpt):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    commands = _commands("Examples:")
    assert len(commands) >= 6
    for args in commands:
        args = [str(p) for a in args for p in (sorted(Path().glob(a)) if "*" in a else [a])]
        if args[0] != "plot":
            args += ["-c", str(tiny_ckpt)]
        r = CliRunner().invoke(main, args, catch_exceptions=False)
        assert r.exit_code == 0, (args, r.output)
    assert (tmp_path / "flumpet" / "flute_trumpet.sfz").exists()
    assert len(list((tmp_path / "grid").rglob("*.wav"))) == 18
