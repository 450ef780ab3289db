"""Embedding extraction at dataset scale, and the scikit-learn analysis tools."""

import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import tiny_model, tone, torchrun_cli

import nsynth
from nsynth.analysis import load_set, map_figure, neighbors, probe, project, timbre_map
from nsynth.cli import main
from nsynth.extract import collect_jobs, encode_long, extract, shard


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "sounds"
    for sub in ("brass", "flute"):
        (root / sub).mkdir(parents=True)
        for p in (60, 67):
            sf.write(root / sub / f"{sub}_acoustic_001-{p:03d}-100.wav", tone(440 * 2 ** ((p - 69) / 12), 0.1), 16000)
    sf.write(root / "brass" / "same.wav", tone(300, 0.05), 16000)
    sf.write(root / "flute" / "same.wav", tone(300, 0.07), 16000)  # same stem, other folder
    sf.write(root / "flute" / "same.flac", tone(300, 0.06), 16000)  # same stem, same folder
    return root


def test_mirrored_names_never_collide(tmp_path, tree, tiny_ckpt):
    out = tmp_path / "emb"
    r = run("encode", tree, "-o", out, "-c", tiny_ckpt)
    assert r.exit_code == 0, r.output
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*.npy"))
    assert names == [
        "sounds/brass/brass_acoustic_001-060-100.npy",
        "sounds/brass/brass_acoustic_001-067-100.npy",
        "sounds/brass/same.npy",
        "sounds/flute/flute_acoustic_001-060-100.npy",
        "sounds/flute/flute_acoustic_001-067-100.npy",
        "sounds/flute/same.flac.npy",
        "sounds/flute/same.wav.npy",
    ]
    z = np.load(out / "sounds/flute/same.wav.npy")
    assert z.dtype == np.float32 and z.shape == (18, 16)  # 1120 samples / hop 64, rounded up
    model = nsynth.load_model(tiny_ckpt)
    np.testing.assert_allclose(z, nsynth.encode(nsynth.load_audio(tree / "flute" / "same.wav"), model=model), atol=1e-6)


def test_resume_after_crash_and_force(tmp_path, tree, tiny_ckpt):
    out = tmp_path / "emb"
    model = nsynth.load_model(tiny_ckpt)
    jobs = collect_jobs([tree], out, 16000)
    # a crash mid-run: some outputs written, plus a stray temp file from the killed write
    extract(model, jobs[:3], workers=0, progress=False)
    (out / "sounds" / "flute").mkdir(parents=True, exist_ok=True)
    (out / "sounds" / "flute" / ".same.wav.npy.x1y2.tmp").write_bytes(b"partial")
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")}
    r = run("encode", tree, "-o", out, "-c", tiny_ckpt, "--workers", "0")
    assert r.exit_code == 0 and "encoded 4, skipped 3" in r.output
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())  # finished outputs untouched
    r = run("encode", tree, "-o", out, "-c", tiny_ckpt, "--force", "--workers", "0")
    assert "encoded 7, skipped 0" in r.output


def test_shards_cover_every_file_exactly_once(tmp_path, tree, tiny_ckpt):
    jobs = collect_jobs([tree], tmp_path / "o", 16000)
    parts = [shard(jobs, i, 3) for i in range(3)]
    outs = [j.out for p in parts for j in p]
    assert sorted(outs) == sorted(j.out for j in jobs) and len(outs) == len(set(outs))
    for i in range(2):
        r = run("encode", tree, "-o", tmp_path / "sharded", "-c", tiny_ckpt, "--shard", f"{i}/2", "--workers", "0")
        assert r.exit_code == 0
    assert len(list((tmp_path / "sharded").rglob("*.npy"))) == 7


def test_two_torchrun_processes_split_the_work(tmp_path, tree, tiny_ckpt):
    args = ["encode", str(tree), "-o", str(tmp_path / "d"), "-c", str(tiny_ckpt), "--workers", "0", "--device", "cpu"]
    r = torchrun_cli(args, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("encoded") == 2 and "encoded 4" in r.stdout and "encoded 3" in r.stdout
    assert len(list((tmp_path / "d").rglob("*.npy"))) == 7


def test_bad_files_are_skipped_with_a_summary(tmp_path, tree, tiny_ckpt):
    (tree / "brass" / "broken.wav").write_text("not audio")
    r = run("encode", tree, tmp_path / "missing", "-o", tmp_path / "emb", "-c", tiny_ckpt, "--workers", "0")
    assert r.exit_code == 1
    assert "broken.wav: not a readable audio file" in r.output and "missing: no such file" in r.output
    assert "encoded 7" in r.output and "failed 2" in r.output
    assert len(list((tmp_path / "emb").rglob("*.npy"))) == 7


def test_consolidated_index_matches_per_file_outputs(tmp_path, tree, tiny_ckpt):
    out = tmp_path / "emb"
    r = run("encode", tree, "-o", out, "-c", tiny_ckpt, "--consolidate", tmp_path / "all.npz", "--workers", "0")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "all.npz", allow_pickle=False) as z:
        emb, off, index = z["embeddings"], z["offsets"], json.loads(str(z["index"]))
    assert len(index) == 7 and off[-1] == emb.shape[0]
    for k, entry in enumerate(index):
        np.testing.assert_array_equal(emb[off[k] : off[k + 1]], np.load(entry["output"]))
        assert entry["frames"] == off[k + 1] - off[k] and entry["duration"] == entry["frames"] * 64 / 16000


def test_long_files_in_windows_equal_one_pass():
    model = tiny_model()
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, 64 * 40 + 17).astype(np.float32)
    whole = nsynth.encode(audio, model=model)
    for window in (64, 64 * 3, 64 * 7):
        np.testing.assert_allclose(encode_long(model, audio, window), whole, atol=1e-5)


def test_map_neighbors_probe(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "emb"
    folder.mkdir()
    centres = {"brass": rng.normal(0, 1, 16), "flute": rng.normal(0, 1, 16), "string": rng.normal(0, 1, 16)}
    for fam, c in centres.items():
        for i in range(12):
            pitch = 48 + i * 3
            z = (c + rng.normal(0, 0.2, (10, 16))).astype(np.float32)
            np.save(folder / f"{fam}_acoustic_{i:03d}-{pitch:03d}-100.npy", z)
    s = load_set([folder])
    assert len(s.names) == 36 and set(s.labels("family")) == set(centres)
    csv_path = timbre_map(s, tmp_path / "map.png", "pca", "family")
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "name,x,y,family" and len(rows) == 37
    near = neighbors(s, (centres["flute"] + np.zeros((3, 16))).astype(np.float32), k=4)
    assert all("flute" in name for name, _ in near)
    r = probe(s, "family")
    assert r.accuracy > 0.9 and r.chance == pytest.approx(1 / 3)
    r = run("probe", folder, "--label", "family")
    assert r.exit_code == 0 and "majority-class baseline 0.333" in r.output
    r = run("map", folder, "-o", tmp_path / "m2.png", "--method", "tsne", "--color-by", "pitch")
    assert r.exit_code == 0 and (tmp_path / "m2.csv").exists()
    np.save(tmp_path / "q.npy", centres["brass"][None].astype(np.float32))
    r = run("neighbors", tmp_path / "q.npy", "--index", folder, "-k", "3")
    assert r.exit_code == 0 and r.output.count("brass") == 3


@pytest.fixture
def nsynth_set(tmp_path):
    """A tiny NSynth JSON/WAV split whose notes carry NSynth's ``source`` field, plus a plain file."""
    root = tmp_path / "nsynth-valid"
    (root / "audio").mkdir(parents=True)
    meta = {}
    for fam, src, inst in (("brass", "acoustic", 1), ("keyboard", "synthetic", 7), ("keyboard", "electronic", 9)):
        for pitch in (57, 64):
            key = f"{fam}_{src}_{inst:03d}-{pitch:03d}-100"
            f0 = 440 * 2 ** ((pitch - 69) / 12)
            audio = tone(f0, 0.1, amp=0.4) + tone(f0 * (inst % 4 + 2), 0.1, amp=inst / 40)  # each note its own
            sf.write(root / "audio" / f"{key}.wav", audio, 16000)
            meta[key] = {
                "note_str": key,
                "pitch": pitch,
                "velocity": 100,
                "instrument_str": f"{fam}_{src}_{inst:03d}",
                "instrument_family_str": fam,
                "instrument_source_str": src,
            }
    (root / "examples.json").write_text(json.dumps(meta))
    sf.write(tmp_path / "hum.wav", tone(300, 0.08), 16000)
    return root, sorted(meta)


def test_consolidated_index_keeps_note_names_apart_from_nsynth_metadata(tmp_path, nsynth_set, tiny_ckpt):
    root, keys = nsynth_set
    out, npz = tmp_path / "emb", tmp_path / "all.npz"
    r = run("encode", root, tmp_path / "hum.wav", "-o", out, "-c", tiny_ckpt, "--consolidate", npz, "--workers", "0")
    assert r.exit_code == 0, r.output
    names = sorted([f"nsynth-valid/{k}" for k in keys] + ["hum"])
    s = load_set([npz])
    assert sorted(s.names) == names
    assert sorted(load_set([out]).names) == names  # the same names as the folder of .npy gives
    by_name = dict(zip(s.names, s.meta))
    assert by_name["nsynth-valid/brass_acoustic_001-057-100"] == {
        "pitch": 57,
        "velocity": 100,
        "instrument": "brass_acoustic_001",
        "family": "brass",
        "source": "acoustic",
    }
    assert by_name["hum"] == {}
    sources = dict(zip(s.names, s.labels("source")))
    assert sources["hum"] is None and sources["nsynth-valid/keyboard_synthetic_007-064-100"] == "synthetic"
    # the query is one of the indexed notes, so it is its own nearest neighbour at distance 0
    query = out / "nsynth-valid" / "keyboard_electronic_009-057-100.npy"
    outputs = {}
    for index in (npz, out):
        r = run("neighbors", query, "--index", index, "-k", "7")
        assert r.exit_code == 0, r.output
        rows = [line.split() for line in r.stdout.splitlines()]
        assert rows[0] == ["0.0000", "nsynth-valid/keyboard_electronic_009-057-100"]
        assert sorted(name for _, name in rows) == names
        outputs[index] = r.stdout
    assert outputs[npz] == outputs[out]
    r = run("map", npz, "-o", tmp_path / "map.png", "--color-by", "source")
    assert r.exit_code == 0, r.output
    table = [line.split(",") for line in (tmp_path / "map.csv").read_text().splitlines()]
    assert sorted((row[0], row[3]) for row in table[1:]) == sorted(
        [(f"nsynth-valid/{k}", k.split("_")[1]) for k in keys] + [("hum", "")]
    )


def test_indexes_written_before_format_2_still_load(tmp_path, nsynth_set, tiny_ckpt):
    root, keys = nsynth_set
    out = tmp_path / "emb"
    r = run("encode", root, tmp_path / "hum.wav", "-o", out, "-c", tiny_ckpt, "--workers", "0")
    assert r.exit_code == 0, r.output
    # the layout the first consolidate wrote: no format member, rows {"source": path, ..., **meta}
    jobs = collect_jobs([root, tmp_path / "hum.wav"], out, 16000)
    embs = [np.load(j.out) for j in jobs]
    rows = [
        {"source": j.path, "output": str(j.out), "frames": len(e), "duration": len(e) * 64 / 16000, **j.meta}
        for j, e in zip(jobs, embs)
    ]
    offsets = np.cumsum([0] + [len(e) for e in embs])
    old = tmp_path / "old.npz"
    np.savez(old, embeddings=np.concatenate(embs), offsets=offsets, index=np.array(json.dumps(rows)))
    s = load_set([old])
    assert s.names == [str(tmp_path / "hum.wav")] + [f"nsynth-valid/{k}" for k in keys]  # emb/hum.npy sorts first
    assert [m.get("source") for m in s.meta] == [None] + [k.split("_")[1] for k in keys]
    assert s.labels("family") == [None] + [k.split("_")[0] for k in keys]
    r = run("neighbors", out / "nsynth-valid" / f"{keys[0]}.npy", "--index", old, "-k", "1")
    assert r.exit_code == 0 and r.stdout.split() == ["0.0000", f"nsynth-valid/{keys[0]}"]


def test_a_file_that_is_no_index_gets_one_line(tmp_path):
    q = tmp_path / "q.npy"
    np.save(q, np.zeros((3, 16), np.float32))
    np.savez(tmp_path / "plain.npz", embeddings=np.zeros((3, 16), np.float32))
    np.savez(
        tmp_path / "future.npz",
        embeddings=np.zeros((3, 16), np.float32),
        offsets=np.array([0, 3]),
        format=np.array(99),
        index=np.array(json.dumps([{"name": "x", "meta": {}}])),
    )
    (tmp_path / "text.npz").write_text("not a zip")
    expected = {
        "plain.npz": "not a consolidated embedding index (missing 'offsets",
        "future.npz": "consolidated index format 99 is newer than this nsynth reads (2)",
        "text.npz": "not a consolidated embedding index (",
    }
    for name, message in expected.items():
        r = CliRunner().invoke(main, ["neighbors", str(q), "--index", str(tmp_path / name)])
        assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.exception  # no traceback
        errors = [line for line in r.stderr.splitlines() if line.startswith("nsynth: error:")]
        assert len(errors) == 1 and errors[0].startswith(f"nsynth: error: {tmp_path / name}: {message}"), r.output
        assert r.stdout == "" and "Traceback" not in r.output, r.output


def test_small_maps_name_their_points_and_the_legend_counts_groups(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "emb" / "ds"
    folder.mkdir(parents=True)
    groups = (("brass", "acoustic", 3), ("lead", "synthetic", 2))
    keys = [f"{fam}_{src}_{i:03d}-060-100" for fam, src, n in groups for i in range(n)]
    for key in keys:
        np.save(folder / f"{key}.npy", rng.normal(0, 1, (4, 16)).astype(np.float32))
    s = load_set([tmp_path / "emb"])
    xy = project(s.pooled)
    fig = map_figure(s, xy, color_by="source")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == keys  # sorted by name, as loaded
    assert [tuple(t.xy) for t in ax.texts] == [tuple(p) for p in xy]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["acoustic (3)", "synthetic (2)"]
    crowded = map_figure(s, xy, color_by="source", label_points=4)
    assert len(crowded.axes[0].texts) == 0  # 5 notes > 4
    import matplotlib.pyplot as plt  # after map_figure has chosen the Agg backend

    plt.close(fig)
    plt.close(crowded)
    for n in ("30", "0"):
        r = run("map", tmp_path / "emb", "-o", tmp_path / f"m{n}.png", "--color-by", "source", "--label-points", n)
        assert r.exit_code == 0, r.output
        assert (tmp_path / f"m{n}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "m30.png").read_bytes() != (tmp_path / "m0.png").read_bytes()  # the names are drawn
    rows = [line.split(",") for line in (tmp_path / "m30.csv").read_text().splitlines()]
    assert [(r[0], r[3]) for r in rows[1:]] == [(f"ds/{k}", k.split("_")[1]) for k in keys]
