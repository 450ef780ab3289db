"""Dataset readers and the SoundFont renderer, on data made in the test."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import tone
from sf2 import make_sf2

from nsynth.data import NoteFilter, open_dataset
from nsynth.data.soundfont import drawn_programs, gm_family, parse_range, render_soundfont
from nsynth.data.tfrecord import serialize_example, write_tfrecord
from nsynth.errors import NSynthError


def _nsynth_folder(root, notes):
    (root / "audio").mkdir(parents=True)
    meta = {}
    for key, pitch, vel, fam, src in notes:
        sf.write(root / "audio" / f"{key}.wav", tone(440 * 2 ** ((pitch - 69) / 12), 0.1), 16000)
        meta[key] = {
            "note_str": key,
            "pitch": pitch,
            "velocity": vel,
            "instrument_str": key.rsplit("-", 2)[0],
            "instrument_family_str": fam,
            "instrument_source_str": src,
            "qualities": [0] * 10,
        }
    (root / "examples.json").write_text(json.dumps(meta))


def test_nsynth_json_layout_and_filters(tmp_path):
    _nsynth_folder(
        tmp_path,
        [
            ("bass_synthetic_033-050-100", 50, 100, "bass", "synthetic"),
            ("guitar_acoustic_010-060-050", 60, 50, "guitar", "acoustic"),
            ("guitar_acoustic_010-072-100", 72, 100, "guitar", "acoustic"),
        ],
    )
    ds = open_dataset(tmp_path)
    assert len(ds) == 3 and ds.notes[0].pitch == 50 and ds.notes[0].family == "bass"
    assert ds.notes[1].extra["qualities"] == [0] * 10
    assert ds.load(1).shape == (1600,)
    assert [n.key for n in open_dataset(tmp_path, note_filter=NoteFilter(families=("guitar",))).notes] == [
        "guitar_acoustic_010-060-050",
        "guitar_acoustic_010-072-100",
    ]
    f = NoteFilter(sources=("acoustic",), pitch_min=61, velocities=(100,))
    only = open_dataset(tmp_path, note_filter=f)
    assert [n.key for n in only.notes] == ["guitar_acoustic_010-072-100"]
    np.testing.assert_array_equal(only.load(0), ds.load(2))


def test_tfrecord_roundtrip_without_tensorflow(tmp_path):
    path = tmp_path / "nsynth-test.tfrecord"
    audio = [tone(220, 0.05), tone(330, 0.05)]
    write_tfrecord(
        path,
        [
            serialize_example(
                {
                    "note_str": f"reed_acoustic_000-0{57 + 7 * i}-075",
                    "pitch": np.int64(57 + 7 * i),
                    "velocity": np.int64(75),
                    "audio": audio[i],
                    "instrument_family": np.int64(7),
                    "instrument_source": np.int64(0),
                    "qualities": np.array([0, 1, 0, 0, 0, 0, 0, 0, 0, 1]),
                }
            )
            for i in range(2)
        ],
    )
    ds = open_dataset(path)
    assert [n.key for n in ds.notes] == ["reed_acoustic_000-057-075", "reed_acoustic_000-064-075"]
    assert ds.notes[1].pitch == 64 and ds.notes[1].family == "reed" and ds.notes[1].source == "acoustic"
    assert ds.notes[0].extra["qualities"][1] == 1
    np.testing.assert_array_equal(ds.load(1), audio[1])
    assert len(open_dataset(tmp_path)) == 2  # a folder of .tfrecord files
    cut = tmp_path / "cut" / "x.tfrecord"
    cut.parent.mkdir()
    cut.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(NSynthError, match="truncated"):
        open_dataset(cut)
    junk = tmp_path / "junk.tfrecord"
    junk.write_bytes(b"definitely not a tfrecord file")
    with pytest.raises(NSynthError, match="not a TFRecord"):
        open_dataset(junk)


def test_folder_pitch_from_name_csv_and_cached_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "sounds"
    (root / "sub").mkdir(parents=True)
    sf.write(root / "flute_acoustic_002-067-127.wav", tone(392, 0.1), 16000)
    sf.write(root / "sub" / "csv_says.flac", tone(440, 0.1), 16000)
    sf.write(root / "sub" / "unknown.ogg", tone(261.63, 0.3, sr=22050), 22050)
    table = tmp_path / "p.csv"
    table.write_text("sub/csv_says.flac,45\n")
    ds = open_dataset(root, pitch_csv=table)
    pitches = {n.key: n.pitch for n in ds.notes}
    assert pitches == {"flute_acoustic_002-067-127.wav": 67, "sub/csv_says.flac": 45, "sub/unknown.ogg": 60}
    # the estimate is cached: a changed cache entry is what the next read returns
    (cache,) = (tmp_path / "cache" / "nsynth" / "pitch").iterdir()
    data = json.loads(cache.read_text())
    data["sub/unknown.ogg"]["pitch"] = 61
    cache.write_text(json.dumps(data))
    assert {n.key: n.pitch for n in open_dataset(root).notes}["sub/unknown.ogg"] == 61
    with pytest.raises(NSynthError, match="no audio files"):
        open_dataset(tmp_path / "cache")


def test_pitch_csv_takes_note_names_a_header_and_refuses_a_bad_row(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "sounds"
    root.mkdir()
    for name in ("a.wav", "b.wav", "c.wav"):
        sf.write(root / name, tone(440, 0.1), 16000)
    table = tmp_path / "p.csv"
    table.write_text("file,pitch\na.wav,C4\nb.wav, 62 \nc.wav,\n")
    assert {n.key: n.pitch for n in open_dataset(root, pitch_csv=table).notes} == {"a.wav": 60, "b.wav": 62, "c.wav": 69}
    for bad, why in (("200", "not a MIDI note number 0-127"), ("H4", "is not a pitch")):
        table.write_text(f"a.wav,60\nb.wav,{bad}\n")
        with pytest.raises(NSynthError, match=f"{table}: line 2: .*{why}"):
            open_dataset(root, pitch_csv=table)
        table.write_text(f"b.wav,{bad}\n")  # a bad first row is not taken for a header
        with pytest.raises(NSynthError, match=f"{table}: line 1: .*{why}"):
            open_dataset(root, pitch_csv=table)


def test_render_soundfont_layout_holdout_and_determinism(tmp_path):
    font = tmp_path / "tiny.sf2"
    font.write_bytes(make_sf2({0: "sine", 40: "square", 80: "saw"}))
    out = tmp_path / "ds"
    report = render_soundfont(
        font,
        out,
        programs=[0, 40, 80, 5],
        pitches=[57, 69],
        velocities=[64, 127],
        hold=0.5,
        release=0.25,
        valid_programs=[40],
        progress=False,
    )
    assert report.missing_programs == [5]
    assert report.written == 12
    train, valid = open_dataset(out / "train"), open_dataset(out / "valid")
    assert {n.instrument for n in valid.notes} == {"string_acoustic_040"}
    assert not {n.instrument for n in train.notes} & {n.instrument for n in valid.notes}
    meta = json.loads((out / "train" / "examples.json").read_text())
    note = meta["keyboard_acoustic_000-069-127"]
    assert (note["pitch"], note["velocity"], note["program"], note["instrument_family_str"]) == (69, 127, 0, "keyboard")
    assert meta["synth_lead_synthetic_080-057-064"]["instrument_source_str"] == "synthetic"
    y = train.load(train.notes.index(next(n for n in train.notes if n.key == "keyboard_acoustic_000-069-127")))
    assert y.shape == (12000,)  # 0.5 s + 0.25 s at 16 kHz
    spec = np.abs(np.fft.rfft(y[:8000]))
    assert abs(np.argmax(spec) * 16000 / 8000 - 440) <= 2
    # two processes, each rendering its programs with its own synth: the same files, byte for byte
    again = tmp_path / "again"
    render_soundfont(
        font,
        again,
        programs=[80, 0, 40],
        pitches=[57, 69],
        velocities=[64, 127],
        hold=0.5,
        release=0.25,
        valid_programs=[40],
        workers=2,
        progress=False,
    )
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert len(files) == 14 and files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((out / f).read_bytes() == (again / f).read_bytes() for f in files)


def test_valid_fraction_holds_out_the_drawn_programs(tmp_path):
    """``drawn_programs`` is the draw ``render_soundfont`` makes (scripts/render_freepats.py keeps
    the same programs out of its training notes with it)."""
    assert drawn_programs(range(112), 0.0, 0) == set()
    draw = drawn_programs(range(112), 0.1, 0)
    assert len(draw) == 11 and draw <= set(range(112))
    assert drawn_programs(list(reversed(range(112))) + [3, 3], 0.1, 0) == draw  # order and repeats do not matter
    assert drawn_programs(range(112), 0.1, 1) != draw and len(drawn_programs([7, 9], 0.01, 0)) == 1
    font = tmp_path / "tiny.sf2"
    font.write_bytes(make_sf2({0: "sine", 40: "square", 80: "saw"}))
    for seed in (0, 1, 2):
        out = tmp_path / f"ds{seed}"
        render_soundfont(font, out, programs=[0, 40, 80], pitches=[69], velocities=[100], hold=0.2, release=0.1,
                         valid_fraction=0.34, seed=seed, progress=False)
        valid = json.loads((out / "valid" / "examples.json").read_text())
        assert {n["program"] for n in valid.values()} == drawn_programs([0, 40, 80], 0.34, seed)


def test_render_reports_silent_notes_and_bad_fonts(tmp_path):
    font = tmp_path / "tiny.sf2"
    font.write_bytes(make_sf2({0: "sine"}))
    report = render_soundfont(
        font, tmp_path / "o", programs=[0], pitches=[60], velocities=[0, 100], hold=0.2, release=0.1, progress=False
    )
    assert report.silent == ["keyboard_acoustic_000-060-000"] and report.written == 1
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF nonsense")
    with pytest.raises(NSynthError, match="bad.sf2"):
        render_soundfont(bad, tmp_path / "o2", progress=False)


def test_gm_mapping_and_ranges():
    assert [gm_family(p) for p in (0, 8, 16, 24, 32, 40, 56, 64, 73, 81, 52)] == [
        "keyboard",
        "mallet",
        "organ",
        "guitar",
        "bass",
        "string",
        "brass",
        "reed",
        "flute",
        "synth_lead",
        "vocal",
    ]
    assert parse_range("21-27:3,60,0-1") == [0, 1, 21, 24, 27, 60]
