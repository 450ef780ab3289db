"""`nsynth serve`: the web app's API against a tiny random model (uploads, jobs, progress,
results, cache hits, cancel, the two-sound line, the ETA, the preview picture, bad uploads,
path traversal)."""

import io
import json
import time
import zipfile

import numpy as np
import pytest
import soundfile as sf
from conftest import tone
from fastapi.testclient import TestClient

from nsynth.serve import create_app, is_loopback


def wav_bytes(x: np.ndarray, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


@pytest.fixture
def client(tmp_path, tiny_ckpt):
    app = create_app(tmp_path / "cache", str(tiny_ckpt), "cpu", max_upload=200_000)
    with TestClient(app) as c:
        c.app_state = app.state
        yield c


def upload(client, name, data):
    return client.post("/api/sounds", files={"file": (name, data, "audio/wav")})


def corners(client):
    ids = []
    for k, f in enumerate((220.0, 330.0, 440.0, 550.0)):
        r = upload(client, f"c{k}.wav", wav_bytes(tone(f, 0.1)))
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    return ids


def wait(client, key, until=("done", "failed", "cancelled"), timeout=120, every=0.2):
    t0 = time.time()
    while time.time() - t0 < timeout:
        s = client.get(f"/api/grids/{key}").json()
        if s["status"] in until:
            return s
        time.sleep(every)
    raise AssertionError(f"job {key} still {s}")


def test_upload_render_play_and_export(client):
    ids = corners(client)
    again = upload(client, "other name.wav", wav_bytes(tone(220.0, 0.1)))
    assert again.json()["id"] == ids[0]  # stored by content
    body = {"corners": ids, "resolution": 3, "pitches": [57, 69], "seconds": 0.1}
    job = client.post("/api/grids", json=body).json()
    assert job["status"] in ("queued", "running") and job["notes"] == 18
    done = wait(client, job["key"])
    assert done["status"] == "done" and done["progress"] == 1.0, done
    m = client.get(f"/api/grids/{job['key']}/manifest").json()
    assert m["resolution"] == 3 and m["pitches"] == [57, 69] and all(p["ready"] for p in m["points"])
    assert m["corners"] == ["c0.wav", "c1.wav", "c2.wav", "c3.wav"]
    note = client.get(f"/api/grids/{job['key']}/audio/69/2/1.wav")
    assert note.status_code == 200
    x, sr = sf.read(io.BytesIO(note.content))
    assert sr == 16000 and x.size == 1600  # 0.1 s
    png = client.get(f"/api/grids/{job['key']}/rainbowgram/57/0/0.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    # the same request again: a cache hit, no second render
    renders = client.app_state.runner.renders
    hit = client.post("/api/grids", json=body).json()
    assert hit == {**done, "key": job["key"]} and client.app_state.runner.renders == renders
    z = zipfile.ZipFile(io.BytesIO(client.get(f"/api/grids/{job['key']}/export.zip").content))
    names = set(z.namelist())
    assert {"manifest.json", "pitch_057/grid_00_00.wav", "pitch_069/grid_02_02.wav", "grid_01_01.sfz"} <= names
    sfz = z.read("grid_01_01.sfz").decode()
    assert "sample=pitch_057/grid_01_01.wav" in sfz and "sample=pitch_069/grid_01_01.wav" in sfz
    manifest = json.loads(z.read("manifest.json"))
    assert len(manifest["files"]) == 18


def test_cancel_then_resume(client):
    ids = corners(client)
    body = {"corners": ids, "resolution": 4, "pitches": [48, 60, 72], "seconds": 2.0}
    job = client.post("/api/grids", json=body).json()
    wait(client, job["key"], until=("running",))
    stopped = client.delete(f"/api/grids/{job['key']}").json()
    assert stopped["status"] == "cancelled"
    assert wait(client, job["key"], until=("cancelled",))["status"] == "cancelled"
    resumed = client.post("/api/grids", json=body).json()
    assert resumed["status"] in ("queued", "running")
    client.delete(f"/api/grids/{job['key']}")


def test_two_sounds_render_a_line_between_them(client):
    a, b = corners(client)[:2]
    line = {"corners": [a, b], "resolution": 3, "pitches": ["C4"], "seconds": 0.1}  # a note name: MIDI 60
    job = client.post("/api/grids", json=line).json()
    assert job["notes"] == 3
    assert wait(client, job["key"])["status"] == "done"
    m = client.get(f"/api/grids/{job['key']}/manifest").json()
    assert m["mode"] == "line" and m["rows"] == 1 and m["resolution"] == 3 and m["corners"] == ["c0.wav", "c1.wav"]
    assert m["pitches"] == [60]
    assert [(p["row"], p["col"]) for p in m["points"]] == [(0, 0), (0, 1), (0, 2)]
    assert all(p["ready"] for p in m["points"])
    assert client.get(f"/api/grids/{job['key']}/audio/60/1/0.wav").status_code == 404  # a line has one row
    # the line is the edge of a grid: corners A B A B make the same notes in its first and last rows
    square = client.post("/api/grids", json={**line, "corners": [a, b, a, b]}).json()
    assert wait(client, square["key"])["status"] == "done"
    for j in range(3):
        note = client.get(f"/api/grids/{job['key']}/audio/60/0/{j}.wav").content
        assert note == client.get(f"/api/grids/{square['key']}/audio/60/0/{j}.wav").content
        assert note == client.get(f"/api/grids/{square['key']}/audio/60/2/{j}.wav").content
    assert client.get(f"/api/grids/{job['key']}/audio/60/0/0.wav").content != note  # A's end is not B's
    z = zipfile.ZipFile(io.BytesIO(client.get(f"/api/grids/{job['key']}/export.zip").content))
    assert {"pitch_060/line_00.wav", "pitch_060/line_02.wav", "line_01.sfz"} <= set(z.namelist())
    weights = {e["file"]: e["weights"] for e in json.loads(z.read("manifest.json"))["files"]}
    assert weights["pitch_060/line_01.wav"] == {"A": 0.5, "B": 0.5} and weights["pitch_060/line_02.wav"]["B"] == 1
    r = client.post("/api/grids", json={**line, "resolution": 17})
    assert r.status_code == 400 and "choose 2 to 16 points on the line" in r.json()["error"]


def test_eta_comes_from_the_measured_throughput():
    from nsynth.serve.jobs import eta

    # 20 s of loading and warm-up before the first samples, then 100,000 samples/s: 6 s left, not 33
    p = {"total": 1_000_000, "first": [200_000, 20.0], "done": 400_000, "updated": 22.0}
    assert eta(p, now=22.0) == pytest.approx(6.0)
    assert eta(p, now=23.5) == pytest.approx(4.5)  # polled 1.5 s after the last report
    assert eta({**p, "done": 200_000, "updated": 20.0}, now=20.0) is None  # nothing measured yet


def test_eta_of_a_real_render_is_close(client):
    ids = corners(client)
    # 32 notes: one batch, so the throughput stays the same from start to end
    body = {"corners": ids, "resolution": 4, "pitches": [48, 60], "seconds": 3.0}
    key = client.post("/api/grids", json=body).json()["key"]
    t0 = time.time()
    while (s := client.get(f"/api/grids/{key}").json())["eta"] is None:
        assert s["status"] in ("queued", "running") and time.time() - t0 < 120, s
        time.sleep(0.05)
    said, t = s["eta"], time.time()
    assert wait(client, key, every=0.05)["status"] == "done"
    took = time.time() - t
    assert abs(said - took) <= 0.5 * took + 1.0, (said, took)


def test_the_preview_has_axes_at_its_natural_aspect(client):
    from PIL import Image

    from nsynth.plot import rainbowgram
    from nsynth.serve import preview

    ids = corners(client)
    job = client.post("/api/grids", json={"corners": ids[:2], "resolution": 2, "pitches": [60], "seconds": 1.5}).json()
    assert wait(client, job["key"])["status"] == "done"
    x, sr = sf.read(io.BytesIO(client.get(f"/api/grids/{job['key']}/audio/60/0/1.wav").content), dtype="float32")
    png = client.get(f"/api/grids/{job['key']}/rainbowgram/60/0/1.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(png.content)).convert("L"))
    bins, frames, _ = rainbowgram(x, sr).shape
    # each frame and each frequency bin is CELL pixels on a side: nothing stretched
    plot = (img.shape[1] - preview.LEFT - preview.RIGHT, img.shape[0] - preview.TOP - preview.BOTTOM)
    assert plot == (round(frames * preview.CELL), round(bins * preview.CELL)), (img.shape, frames, bins)
    # the margins carry tick labels (light text on the dark ground), left and below
    assert (img[: -preview.BOTTOM, : preview.LEFT - 8] > 128).sum() > 50
    assert (img[-preview.BOTTOM + 8 :, preview.LEFT :] > 128).sum() > 50


def test_bad_uploads_get_one_line_and_a_4xx(client, tmp_path):
    cases = [
        ("garbage.wav", b"RIFF not really a wav file", 400, "garbage.wav: not a readable audio file"),
        ("empty.wav", b"", 400, "empty.wav: the file is empty"),
        ("nan.wav", wav_bytes(np.full(100, np.nan, np.float32)), 400, "nan.wav: contains NaN or infinite samples"),
        ("nothing.wav", wav_bytes(np.zeros(0, np.float32)), 400, "nothing.wav: contains no samples"),
        ("silent.wav", wav_bytes(np.zeros(16000, np.float32)), 400, "silent.wav: silent (no sample above -80 dBFS)"),
        ("short.wav", wav_bytes(tone(440.0, 0.05)), 400, "short.wav: too short (0.05 s; needs at least 0.1 s)"),
        ("big.wav", b"\0" * 200_001, 413, "big.wav: larger than the upload limit"),
        ("../../etc/passwd", b"junk", 400, "passwd: not a readable audio file"),
    ]
    for name, data, status, text in cases:
        r = upload(client, name, data)
        assert r.status_code == status, (name, r.text)
        error = r.json()["error"]
        assert error.startswith(text) and "\n" not in error and "Traceback" not in error, error
        assert str(tmp_path) not in error  # the server's own paths stay private
    assert not list((tmp_path / "cache").rglob("passwd*"))
    huge = upload(client, "huge.wav", b"\0" * 400_000)  # refused from its declared length
    assert huge.status_code == 413 and "larger than the limit" in huge.json()["error"]


def test_bad_requests_and_path_traversal(client):
    ids = corners(client)
    bad = [
        ({"corners": ids[:3]}, "four corners"),
        ({"corners": ids, "resolution": 40}, "resolution 40"),
        ({"corners": ids, "pitches": [200]}, "pitches: pitch 200 is not a MIDI note number 0-127"),
        ({"corners": ids, "pitches": ["H4"]}, "pitches: 'H4' is not a pitch"),
        ({"corners": ids, "pitches": "C4"}, "give a list of 1 to 8 pitches"),
        ({"corners": ids, "pitches": {"60": 1, "C5": 2}}, "give a list of 1 to 8 pitches"),
        ({"corners": ids, "pitches": [True]}, "pitches: True is not a pitch"),
        ({"corners": ids, "pitches": [60] * 100_000}, "give 1 to 8 pitches"),
        ({"corners": ids, "pitches": ["C" * 100_000]}, "is not a pitch"),
        ({"corners": ids, "pitches": []}, "give 1 to 8 pitches"),
        ({"corners": ids, "pitches": [60, "C4"]}, "each pitch once"),
        ({"corners": ids[:3] + ["../../../etc/passwd"]}, "no sound"),
        ({"corners": ids, "resolution": "many"}, "numeric settings"),
    ]
    for body, text in bad:
        r = client.post("/api/grids", json=body)
        assert 400 <= r.status_code < 500 and text in r.json()["error"], (body, r.text)
    key = client.post("/api/grids", json={"corners": ids, "resolution": 2, "pitches": [60], "seconds": 0.1}).json()
    for path in (
        "/api/grids/..%2F..%2Fsounds",
        "/api/grids/" + "0" * 64,
        f"/api/grids/{key['key']}/audio/60/0/9.wav",
        f"/api/grids/{key['key']}/audio/61/0/0.wav",
        f"/api/grids/{key['key']}/audio/60/..%2F..%2F..%2Fjob/0.wav",
        "/static/..%2F..%2F__init__.py",
        "/api/grids/../../../../etc/passwd",
    ):
        r = client.get(path)
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert "Traceback" not in r.text
    wait(client, key["key"])


def test_loopback_rule():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


def test_serve_command_errors_and_warning(tmp_path, tiny_ckpt, monkeypatch):
    import socket

    import uvicorn
    from click.testing import CliRunner

    from nsynth.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = str(s.getsockname()[1])
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    r = CliRunner().invoke(main, ["serve", "-c", str(bad), "--port", free, "--cache", str(tmp_path / "c")])
    errors = [line for line in r.output.splitlines() if line.startswith("nsynth: error")]  # beside status lines
    assert r.exit_code == 1 and len(errors) == 1 and str(bad) in errors[0] and "Traceback" not in r.output, r.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = CliRunner().invoke(main, ["serve", "--port", str(port), "-c", str(tiny_ckpt)])
        assert r.exit_code == 1 and f"--port {port}: cannot listen there" in r.output, r.output
    r = CliRunner().invoke(main, ["serve", "--host", "192.0.2.1", "--port", free, "-c", str(tiny_ckpt)])  # not ours
    assert r.exit_code == 1 and "--host 192.0.2.1: cannot listen there" in r.output, r.output
    ran = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: ran.update(host=host, port=port))
    r = CliRunner().invoke(
        main, ["serve", "--host", "0.0.0.0", "--port", free, "-c", str(tiny_ckpt), "--cache", str(tmp_path / "c")]
    )
    assert r.exit_code == 0, r.output
    assert "warning: listening on 0.0.0.0" in r.output and f"http://0.0.0.0:{free}/" in r.output
    assert ran == {"host": "0.0.0.0", "port": int(free)}
