"""Start-up and feedback: --help and argument errors without the heavy libraries, status lines,
no library warnings in pictures, and the CPU kernel compiled once then loaded from numba's cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

from click.testing import CliRunner
from conftest import tone

import nsynth
from nsynth.cli import main

HEAVY = ("torch", "torchaudio", "librosa", "numba", "matplotlib", "scipy", "sklearn")


def python(code: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def test_importing_nsynth_and_its_command_line_loads_no_heavy_library():
    proc = python(f"""
        import sys
        import nsynth, nsynth.cli
        nsynth.NSynthError, nsynth.Sampling, nsynth.get_preset  # light names stay light
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_help_and_argument_errors_answer_before_any_heavy_library(tmp_path, wav_pair):
    a, b = map(str, wav_pair)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "00_alpha0.00.wav").write_bytes(b"")
    missing = str(tmp_path / "missing.wav")
    calls = [
        (["--help"], 0, "interpolate"),
        *[([c, "--help"], 0, "Usage:") for c in sorted(main.commands)],
        (["interpolate", a, b, "--steps", "1"], 2, "--steps"),
        (["interpolate", a, b, "--pitch", "200"], 2, "0-127"),
        (["interpolate", missing, b, "-o", str(tmp_path / "o")], 1, f"{missing}: no such file"),
        (["interpolate", str(tmp_path), b, "-o", str(tmp_path / "o")], 1, "is a directory"),
        (["interpolate", a, b, "-o", str(taken)], 1, "already exists"),
        (["morph", a, missing, "-o", str(tmp_path / "m.wav")], 1, f"{missing}: no such file"),
        (["plot", missing, "-o", str(tmp_path / "p.png")], 1, f"{missing}: no such file"),
        (["reconstruct", missing, "-o", str(tmp_path / "r")], 1, f"{missing}: no such file"),
        (["encode", missing, "-o", str(tmp_path / "e")], 1, f"{missing}: no such file or folder"),
        (["decode", str(tmp_path / "z.npy"), str(tmp_path), "-o", str(tmp_path / "d")], 1, "not an embedding"),
        (["reconstruct", a, "-o", str(tmp_path / "r"), "--backend", "turbo"], 2, "--backend"),
    ]
    proc = python(f"""
        import json, sys
        from click.testing import CliRunner
        from nsynth.cli import main
        results = [(r.exit_code, r.output) for r in (CliRunner().invoke(main, args) for args, _, _ in {calls!r})]
        print(json.dumps({{"results": results, "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
    """)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for (args, code, message), (got, output) in zip(calls, out["results"]):
        assert got == code and message in output and "Traceback" not in output, (args, got, output)
    assert out["heavy"] == []


def test_names_of_the_package_resolve_on_first_use():
    from nsynth import weights

    assert nsynth.load_model is weights.load_model
    assert set(nsynth.__all__) <= set(dir(nsynth))
    for name in nsynth.__all__:
        assert getattr(nsynth, name) is not None, name
    try:
        nsynth.no_such_name  # noqa: B018
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("an unknown name resolved")


def test_a_generating_command_says_what_it_does_in_order(tmp_path, tiny_ckpt, wav_pair):
    a, b = wav_pair
    r = CliRunner().invoke(
        main, ["interpolate", str(a), str(b), "--steps", "2", "-o", str(tmp_path / "o"), "-c", str(tiny_ckpt)]
    )
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"loading the model {tiny_ckpt} ..."
    steps = [f"estimating the pitch of {a} ...", f"{a}: pitch 69 (estimated", f"encoding {a} and {b} ..."]
    at = [next(i for i, line in enumerate(lines) if line.startswith(s)) for s in steps]
    assert at == sorted(at), lines


def test_the_installed_command_ends_at_once_with_the_commands_status_and_all_its_output(tmp_path, tiny_ckpt, wav_pair):
    """The ``nsynth`` script skips the interpreter's teardown (``nsynth.cli.run``): its status,
    its last lines and its files must still all be there."""
    import shutil

    exe = shutil.which("nsynth")
    assert exe, "the nsynth command is not installed"
    a, b = wav_pair
    out = tmp_path / "o"
    r = subprocess.run(
        [exe, "interpolate", str(a), str(b), "--steps", "2", "-o", str(out), "-c", str(tiny_ckpt)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == str(out / "manifest.json")  # the last line, flushed
    assert sorted(p.name for p in out.iterdir()) == ["00_alpha0.00.wav", "01_alpha1.00.wav", "manifest.json"]
    json.loads((out / "manifest.json").read_text())
    again = subprocess.run([exe, "interpolate", str(a), str(b), "--steps", "2", "-o", str(out), "-c", str(tiny_ckpt)],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr
    usage = subprocess.run([exe, "interpolate", "--steps", "1", str(a), str(b)], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "--steps" in usage.stderr


def test_pictures_carry_no_library_warnings(tmp_path):
    from nsynth.plot import plot_sounds

    short, note = tone(440.0, 0.05), tone(220.0, 1.0)  # shorter than the mel FFT; the CQT's low octaves are
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for kind in ("rainbowgram", "mel"):
            plot_sounds([short, note], ["a", "b"], 16000, tmp_path / f"{kind}.png", kind)
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    assert (tmp_path / "rainbowgram.png").read_bytes()[:4] == b"\x89PNG"


KERNEL_RUN = """
    import json, logging, sys
    import numpy as np, torch
    from nsynth.generation import fast_cpu
    sys.path.insert(0, {tests!r})
    from conftest import tiny_model

    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logging.getLogger("nsynth").addHandler(handler)
    logging.getLogger("nsynth").setLevel(logging.INFO)
    m = tiny_model(decoder=dict(layers=2, residual_channels=8, skip_channels=8, dilation_cycle=2))
    cond = m.conditioning(torch.zeros(1, m.config.latent_dim, 2), torch.tensor([60]))
    kernel = fast_cpu.FastCPUDecoder(m.decoder, cond)
    classes, _ = kernel.run(16, uniforms=np.full((16, 1), 0.5, np.float32))
    stats = fast_cpu._run.stats
    print(json.dumps({{"lines": lines, "hits": len(stats.cache_hits), "misses": len(stats.cache_misses),
                      "classes": classes.tolist(), "compiles": kernel.needs_compiling()}}))
"""


def test_the_cpu_kernel_is_compiled_once_then_loaded_from_the_disk_cache(tmp_path):
    """In an empty cache folder ($NUMBA_CACHE_DIR, as where site-packages is read-only), the first
    process compiles the kernel and says so; the next loads it and says nothing, with the same output."""
    code = KERNEL_RUN.format(tests=str(Path(__file__).parent))
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    first, second = (python(code, env=env, timeout=600) for _ in range(2))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert one["misses"] >= 1 and one["hits"] == 0
    assert [line for line in one["lines"] if line.startswith("compiling the CPU generation kernel")] != []
    assert two["misses"] == 0 and two["hits"] >= 1 and two["lines"] == []
    assert not one["compiles"] and not two["compiles"]  # in memory once run
    assert two["classes"] == one["classes"]
    assert any(p.suffix == ".nbc" for p in (tmp_path / "numba").rglob("*"))


def test_estimating_a_pitch_loads_no_librosa_and_compiles_its_kernel_once(tmp_path):
    """pYIN is nsynth.pyin (librosa's import chain alone cost a command 1.5-2 s): a pitch found
    without importing librosa, its kernel compiled in the first process (which says so) and
    loaded from the disk cache by the next."""
    code = """
        import logging, sys
        import numpy as np
        from nsynth.pitch import estimate_pitch
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        x = np.sin(2 * np.pi * 220 * np.arange(16000) / 16000).astype(np.float32)
        print("pitch", estimate_pitch(x, 16000).midi, "librosa" in sys.modules)
    """
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    first, second = (python(code, env=env) for _ in range(2))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.splitlines()[-1] == second.stdout.splitlines()[-1] == "pitch 57 False"  # 220 Hz = A3
    assert any(line.startswith("compiling the pitch tracker's kernel") for line in first.stdout.splitlines())
    assert not any(line.startswith("compiling") for line in second.stdout.splitlines())
