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
        assert {"preset", "batch", "backend", "samples_per_s", "device"} <= set(row) and row["samples_per_s"] > 0
    assert next(row for row in rows if row["backend"] == "encoder")["realtime_factor"] > 0
