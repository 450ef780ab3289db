"""The benchmark's machine-readable output (tiny run, the pitch-locked preset: every path gets its periods)."""

import json

from click.testing import CliRunner

from nsynth.cli import main


def test_bench_json_rows():
    r = CliRunner().invoke(
        main,
        [
            "bench",
            "--presets",
            "pitched",
            "--batches",
            "1",
            "--seconds",
            "0.1",
            "--repeats",
            "1",
            "--json",
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    kinds = {row["backend"] for row in rows}
    assert kinds == {"encoder", "postfilter", "naive", "reference", "fast"}
    for row in rows:
        assert {"preset", "batch", "backend", "samples_per_s", "device"} <= set(row)
        if row.get("realtime_factor") is not None:  # seconds of audio per second: the same figure in other units
            assert abs(row["realtime_factor"] - row["samples_per_s"] / 16000) < 1e-9 * row["samples_per_s"]
    by = {row["backend"]: row["samples_per_s"] for row in rows}
    # the fused kernel is what makes generation usable on a CPU: far ahead of the eager loop,
    # and the eager loop ahead of recomputing the whole receptive field per sample
    assert by["fast"] > 3 * by["reference"] > 3 * by["naive"]
