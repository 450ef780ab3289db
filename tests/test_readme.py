"""The README and docs/ say what the code does: the two commands come first and work, the
examples run, every command and option they name exists, the defaults they state are the
code's, their links resolve and the sound examples are what they say."""

import re
import shlex
import shutil
from pathlib import Path

import click
import numpy as np
import soundfile as sf
from click.testing import CliRunner

import nsynth
from nsynth.cli import main
from nsynth.weights import default_weights_path, read_info

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = {p: p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
GENERATING = ["interpolate", "reconstruct", "morph", "decode", "grid", "multisample"]


def _without_comments(text: str) -> str:
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)  # TODO notes name options still to come


def _first_block() -> list[str]:
    assert README.startswith("```\n"), "the README must open with the commands' code block"
    return README.split("```", 2)[1].strip().splitlines()


def _commands(block_start: str) -> list[list[str]]:
    block = README.split(block_start, 1)[1].split("```", 2)[1]
    lines = [line.strip() for line in block.splitlines() if line.strip().startswith("nsynth ")]
    return [shlex.split(line)[1:] for line in lines]


def _options(name: str) -> set[str]:
    command = main.commands[name]
    params = command.get_params(click.Context(command, info_name=name, parent=click.Context(main)))
    return {o for p in params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts}


def _help(name: str) -> str:
    r = CliRunner().invoke(main, [name, "--help"], terminal_width=1000)
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


def test_readme_starts_with_the_two_commands():
    first = _first_block()
    assert len(first) == 2
    install, main_job = (s.strip() for s in first[0].split("&&", 1))
    assert install == "pip install ." and main_job.startswith("nsynth ")
    assert first[1].startswith("pip install '.[test]'") and first[1].endswith("&& pytest")
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert first[1] in ci, ".ci/run must run the README's test command"


def test_main_job_runs_with_the_shipped_model(tmp_path, monkeypatch):
    assert default_weights_path() is not None, "the package must ship its default model"
    assert read_info(None).config.pitch_conditioning
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    args = shlex.split(_first_block()[0].split("&&", 1)[1])[1:]
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
    # docs/sound-design.md: grid and multisample record what they wrote in manifest.json
    assert (tmp_path / "grid" / "manifest.json").exists() and (tmp_path / "flumpet" / "manifest.json").exists()


def test_readme_python_api_runs(tmp_path, monkeypatch):
    """The README's Python block, as written, with the shipped default model (the parallel one
    makes its notes in a few seconds)."""
    block = README.split("## Python API", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    assert nsynth.load_model().parallel
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert len(scope["notes"]) == 5 and scope["z"].shape[1] == 16
    assert sf.info("flute_to_trumpet.wav").frames == len(scope["flute"])


def test_the_command_table_is_the_cli():
    table = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `nsynth ")]
    named = [re.match(r"\| `nsynth ([a-z-]+)", row).group(1) for row in rows]
    assert sorted(named) == sorted(main.commands), "every command has one row in the README's table"
    for name, row in zip(named, rows):
        for option in re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", row):
            assert option in _options(name), f"README: nsynth {name} has no {option}"


def test_options_the_docs_name_exist():
    """Every `nsynth CMD ... --opt` in the README and docs/ (code spans and code blocks) names
    an option of CMD; every option the README names is an option of some command."""
    every = set().union(*(_options(n) for n in main.commands))
    for path, text in DOCS.items():
        text = _without_comments(text).replace("\\\n", " ")
        blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)
        spans = [s for s in re.findall(r"`([^`\n]+)`", text) if s.startswith("nsynth ")]
        for span in spans + [line for b in blocks for line in b.splitlines()]:
            for name, args in re.findall(r"(?:^|\s)nsynth ([a-z-]+)((?: [^|;#]*)?)", span):
                assert name in main.commands, f"{path.name}: no command nsynth {name} ({span})"
                for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", args):
                    assert option in _options(name), f"{path.name}: nsynth {name} has no {option} ({span})"
    for option in re.findall(r"`(--[a-z][a-z0-9-]*)", _without_comments(README.split("\n# nsynth\n", 1)[1])):
        assert option in every, f"README names {option}, which no command has"


def test_generating_commands_take_the_options_the_readme_lists():
    paragraph = README.split("## Commands", 1)[1].split("Commands that generate also take", 1)[1].split("\n\n")[0]
    listed = set(re.findall(r"`(--[a-z][a-z0-9-]*)", paragraph))
    assert {"--seed", "--temperature", "--postfilter", "--force"} <= listed
    for name in GENERATING:
        assert listed <= _options(name), (name, listed - _options(name))


def test_the_sampling_defaults_in_help_are_the_models(tmp_path):
    """--temperature and --min-p say the defaults that generation then uses: the shipped pitched
    model's recommended ones, and those of a weights file that recommends none."""
    shipped = nsynth.load_model("pitched")
    plain = tmp_path / "plain.safetensors"
    nsynth.save_model(nsynth.build_model("mini", decoder={"layers": 2}), plain)
    fallback = nsynth.load_model(plain)
    for name in GENERATING + ["evaluate"]:
        text = _help(name)
        for option, attr in (("--temperature", "temperature"), ("--min-p", "min_p")):
            said = re.search(option + r" .*?\[default: (.*?)\]", text).group(1)
            stated = float(re.search(r"([0-9.]+) for the shipped pitched model", said).group(1))
            assert stated == getattr(shipped.recommended, attr)
            assert float(re.search(r"([0-9.]+) where its weights file names none", said).group(1)) == getattr(
                fallback.recommended, attr
            ), (name, option, said)
    stated = re.search(r"`--temperature` \(default:\s+the model's own, ([0-9.]+) for the shipped pitched one", README)
    assert stated and float(stated.group(1)) == shipped.recommended.temperature


def test_links_resolve():
    """Relative links and pictures in the README and docs/ point at files that exist, and
    #anchors at headings of the page they name."""

    def anchors(text: str) -> set[str]:
        heads = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), flags=re.M)
        return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}

    for path, text in DOCS.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", _without_comments(text)):
            if re.match(r"[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            assert dest.exists(), f"{path.name}: broken link {target}"
            if anchor:
                assert anchor in anchors(dest.read_text()), f"{path.name}: no heading #{anchor} in {dest.name}"


def test_sound_examples_are_small_and_linked():
    sounds = sorted((ROOT / "docs" / "sounds").rglob("*"))
    wavs = [p for p in sounds if p.is_file()]
    assert wavs and all(p.suffix == ".wav" for p in wavs)
    assert sum(p.stat().st_size for p in wavs) < 1.5e6
    for p in wavs:
        info = sf.info(p)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), p
        assert 1.0 <= info.duration <= 2.5, p
        audio, _ = sf.read(p, dtype="float32")
        assert np.sqrt(np.mean(audio**2)) > 1e-3, f"{p}: silent"
    linked = {(ROOT / t).resolve() for t in re.findall(r"\]\((docs/sounds/[^)\s]+)\)", README)}
    assert linked == {p.resolve() for p in wavs}, "every sound example is linked from the README, and only those"
    script = (ROOT / "scripts" / "make_sound_examples.sh").read_text()
    for folder in {p.relative_to(ROOT / "docs" / "sounds").parts[0] for p in wavs}:
        assert folder.removesuffix(".wav") in script, f"{folder} is not made by scripts/make_sound_examples.sh"

