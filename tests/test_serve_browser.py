"""`nsynth serve` in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Four sounds: drop them on the corners (three picked, one dropped), render, point at the pad,
hold a key, and check from the page's own state that the four grid points around the pad
play, with bilinear weights that sum to one. Two sounds: the strip between A and B, played
with the mouse and a key. Both: a bad upload keeps the sound already there, the pad names
its sounds, and the preview is shown at its own aspect.
"""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import uvicorn
from conftest import tone
from playwright.sync_api import sync_playwright

from nsynth.serve import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


@pytest.fixture
def server(tmp_path, tiny_ckpt):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(tmp_path / "cache", str(tiny_ckpt), "cpu")
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    t0 = time.time()
    while not srv.started:
        assert time.time() - t0 < 30, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(timeout=10)


def expected_weights(x, y, res):
    u, v = x * (res - 1), y * (res - 1)
    c0, r0 = min(int(u), res - 2), min(int(v), res - 2)
    fu, fv = u - c0, v - r0
    return [
        (r0, c0, (1 - fu) * (1 - fv)),
        (r0, c0 + 1, fu * (1 - fv)),
        (r0 + 1, c0, (1 - fu) * fv),
        (r0 + 1, c0 + 1, fu * fv),
    ]


def launch(p):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"])
    page = browser.new_page(viewport={"width": 1000, "height": 860})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return browser, page, errors


def bad_upload_keeps(page, tmp_path, corner, label, kept):
    """Upload a text file named .wav to a box that holds ``kept``: one line naming it, the sound stays."""
    bad = tmp_path / "notes.wav"
    bad.write_text("a text file, not audio")
    before = page.evaluate(f"window.nsynthPad.corners[{corner}]")
    page.evaluate("document.querySelector('#message').textContent = ''")
    page.set_input_files(f'.corner[data-corner="{corner}"] input', str(bad))
    page.wait_for_function("document.querySelector('#message').textContent.length > 0")
    text = page.inner_text("#message")
    assert text.startswith("notes.wav: not a readable audio file") and text.endswith(f"{label} keeps {kept}"), text
    assert "\n" not in text
    assert page.evaluate(f"window.nsynthPad.corners[{corner}]") == before
    box = page.locator(f'.corner[data-corner="{corner}"]')
    assert kept in box.inner_text() and "ok" in box.get_attribute("class")


def preview_at_its_aspect(page):
    img = "document.querySelector('#rainbowgram')"
    page.wait_for_function(f"(i => i.complete && i.naturalWidth > 0)({img})")
    size = page.evaluate(f"(i => [i.naturalWidth, i.naturalHeight, i.clientWidth, i.clientHeight])({img})")
    nw, nh, w, h = size
    assert nh > 168 and abs(w / h - nw / nh) < 0.02, size  # axes around 168 bins; not stretched


def test_play_the_pad_in_chromium(server, tmp_path):
    files = []
    for k, f in enumerate((220.0, 330.0, 440.0, 550.0)):
        files.append(tmp_path / f"corner{k}.wav")
        sf.write(files[-1], tone(f, 4.0) * np.hanning(64000).astype(np.float32) ** 0.2, 16000)
    with sync_playwright() as p:
        browser, page, errors = launch(p)
        page.goto(server)
        assert page.evaluate("window.nsynthPad.mode") == "grid"  # four sounds unless told
        bad = tmp_path / "garbage.wav"
        bad.write_bytes(b"RIFF, but not audio")
        page.set_input_files('.corner[data-corner="0"] input', str(bad))
        page.wait_for_function("document.querySelector('#message').textContent.length > 0")
        assert page.inner_text("#message").startswith("garbage.wav: not a readable audio file")
        for k in range(3):
            page.set_input_files(f'.corner[data-corner="{k}"] input', str(files[k]))
        data = list(files[3].read_bytes())
        page.evaluate(
            """(bytes) => {
                const dt = new DataTransfer();
                dt.items.add(new File([new Uint8Array(bytes)], "dropped.wav", {type: "audio/wav"}));
                const zone = document.querySelector('.corner[data-corner="3"]');
                zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
            }""",
            data,
        )
        page.wait_for_function("document.querySelectorAll('.corner.ok').length === 4", timeout=20_000)
        assert "dropped.wav" in page.inner_text('.corner[data-corner="3"]')
        bad_upload_keeps(page, tmp_path, 0, "NW", "corner0.wav")
        page.fill("#resolution", "3")
        page.fill("#pitches", "57,69")
        page.fill("#seconds", "4")  # notes long enough to sound while the pad moves on a busy machine
        page.click("#render")
        page.wait_for_function("window.nsynthPad.status === 'ready'", timeout=180_000)
        assert page.inner_text("#progress-text").startswith("done: 100 %")
        names = ["corner0.wav", "corner1.wav", "corner2.wav", "dropped.wav"]
        assert page.evaluate("window.nsynthPad.labels") == [f"{c} {n}" for c, n in zip(("NW", "NE", "SW", "SE"), names)]

        box = page.locator("#pad").bounding_box()
        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.7 * box["height"])  # point at a spot
        preview_at_its_aspect(page)  # (the server's first picture takes a while: before the note starts)
        page.keyboard.down("a")  # C4 = MIDI 60: the nearest rendered pitch is 57, played a minor third up
        page.wait_for_function(
            "window.nsynthPad.voices.length === 1 && window.nsynthPad.voices[0].parts.every(p => p.src)"
        )

        def check():
            state = page.evaluate(
                """() => { const s = window.nsynthPad; const v = s.voices[0];
                   return {pos: s.position, pitch: v.pitch, rate: v.rate,
                           parts: v.parts.map(p => ({row: p.row, col: p.col, url: p.url, gain: p.gain,
                                                     started: !!p.src, live: p.node.gain.value}))}; }"""
            )
            want = expected_weights(state["pos"]["x"], state["pos"]["y"], 3)
            got = [(q["row"], q["col"], q["gain"]) for q in state["parts"]]
            assert [(r, c) for r, c, _ in got] == [(r, c) for r, c, _ in want]
            np.testing.assert_allclose([g for _, _, g in got], [w for _, _, w in want], atol=1e-9)
            assert abs(sum(q["gain"] for q in state["parts"]) - 1) < 1e-9
            assert all(q["started"] for q in state["parts"])
            assert all(q["url"].endswith(f"/audio/57/{q['row']}/{q['col']}.wav") for q in state["parts"])
            assert state["pitch"] == 57 and abs(state["rate"] - 2 ** (3 / 12)) < 1e-9
            return state

        first = check()
        assert 0 < first["pos"]["x"] < 0.5 < first["pos"]["y"] < 1
        page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.2 * box["height"], steps=5)  # the note follows
        page.wait_for_function("window.nsynthPad.voices[0].parts.every(p => p.src)")
        second = check()
        assert second["pos"]["x"] > 0.5 > second["pos"]["y"]
        shot = Path(os.environ.get("NSYNTH_SCREENSHOT", tmp_path / "pad.png"))
        page.screenshot(path=str(shot))
        page.keyboard.up("a")
        page.wait_for_function("window.nsynthPad.voices.length === 0")
        page.mouse.down()  # the mouse button plays too: the middle rendered pitch, as rendered
        page.wait_for_function("window.nsynthPad.voices.length === 1")
        assert page.evaluate("[window.nsynthPad.voices[0].pitch, window.nsynthPad.voices[0].rate]") == [69, 1]
        page.mouse.up()
        page.wait_for_function("window.nsynthPad.voices.length === 0")
        assert page.get_attribute("#export", "href").endswith("/export.zip")
        assert errors == []
        browser.close()
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_play_the_strip_between_two_sounds(server, tmp_path):
    files = []
    for k, f in enumerate((220.0, 440.0)):
        files.append(tmp_path / f"{'ab'[k]}.wav")
        sf.write(files[-1], tone(f, 4.0) * np.hanning(64000).astype(np.float32) ** 0.2, 16000)
    with sync_playwright() as p:
        browser, page, errors = launch(p)
        page.goto(server)
        page.check('input[name="mode"][value="line"]')
        assert page.evaluate("window.nsynthPad.mode") == "line"
        visible = page.evaluate("[...document.querySelectorAll('.corner')].map(c => !c.hidden)")
        assert visible == [True, True, False, False]
        assert [page.inner_text(f'.corner[data-corner="{k}"] .label') for k in (0, 1)] == ["A", "B"]
        box = page.locator("#pad").bounding_box()
        assert box["height"] < box["width"] / 2  # a strip, not a square
        page.click("#render")
        assert page.inner_text("#message") == "give A and B a sound first"
        for k in range(2):
            page.set_input_files(f'.corner[data-corner="{k}"] input', str(files[k]))
        page.wait_for_function("document.querySelectorAll('.corner.ok').length === 2", timeout=20_000)
        bad_upload_keeps(page, tmp_path, 1, "B", "b.wav")
        assert page.evaluate("window.nsynthPad.labels") == ["A a.wav", "B b.wav"]  # named before the render too
        page.fill("#resolution", "5")
        page.fill("#seconds", "4")
        page.fill("#pitches", "H4")  # not a note name: refused in one line, nothing rendered
        page.evaluate("document.querySelector('#message').textContent = ''")
        page.click("#render")
        page.wait_for_function("document.querySelector('#message').textContent.length > 0")
        assert page.inner_text("#message").startswith("pitches: 'H4' is not a pitch")
        page.fill("#pitches", "C4")  # a note name: MIDI 60
        page.click("#render")
        page.wait_for_function("window.nsynthPad.status === 'ready'", timeout=180_000)
        assert page.inner_text("#progress-text").startswith("done: 100 % of 5 notes")
        assert page.evaluate("[window.nsynthPad.rows, window.nsynthPad.resolution]") == [1, 5]
        assert page.evaluate("window.nsynthPad.pitches") == [60]

        def state():
            return page.evaluate(
                """() => { const s = window.nsynthPad;
                   return {x: s.position.x, weights: s.weights,
                           voices: s.voices.map(v => ({pitch: v.pitch, rate: v.rate,
                               parts: v.parts.map(p => ({row: p.row, col: p.col, url: p.url, gain: p.gain,
                                                         started: !!p.src}))}))}; }"""
            )

        def linear(x):
            u = x * 4
            c0 = min(int(u), 3)
            return [(0, c0, 1 - (u - c0)), (0, c0 + 1, u - c0)]

        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.5 * box["height"])  # hover: the point moves
        s = state()
        assert 0.2 < s["x"] < 0.3 and s["voices"] == []
        want = linear(s["x"])
        assert [(w["row"], w["col"]) for w in s["weights"]] == [(r, c) for r, c, _ in want]
        np.testing.assert_allclose([w["weight"] for w in s["weights"]], [w for _, _, w in want], atol=1e-9)
        preview_at_its_aspect(page)
        assert "of 5 (" in page.inner_text("#point")
        page.mouse.down()  # the mouse plays the strip
        page.wait_for_function("(s => s.voices.length === 1 && s.voices[0].parts.every(p => p.src))(window.nsynthPad)")
        for at in (0.3, 0.85):
            page.mouse.move(box["x"] + at * box["width"], box["y"] + 0.4 * box["height"], steps=4)
            page.wait_for_function("window.nsynthPad.voices[0].parts.every(p => p.src)")
            s = state()
            (v,) = s["voices"]
            assert v["pitch"] == 60 and v["rate"] == 1
            assert [(q["row"], q["col"]) for q in v["parts"]] == [(r, c) for r, c, _ in linear(s["x"])]
            np.testing.assert_allclose([q["gain"] for q in v["parts"]], [w for _, _, w in linear(s["x"])], atol=1e-9)
            assert all(q["url"].endswith(f"/audio/60/0/{q['col']}.wav") for q in v["parts"])
        assert s["x"] > 0.8
        shot = Path(os.environ.get("NSYNTH_SCREENSHOT_LINE", tmp_path / "strip.png"))
        page.screenshot(path=str(shot))
        page.mouse.up()
        page.wait_for_function("window.nsynthPad.voices.length === 0")
        page.keyboard.down("j")  # B4 = MIDI 71 on the keys, from the one rendered pitch 60
        page.wait_for_function("window.nsynthPad.voices.length === 1")
        assert page.evaluate("window.nsynthPad.voices[0].rate") == pytest.approx(2 ** (11 / 12))
        page.keyboard.up("j")
        page.wait_for_function("window.nsynthPad.voices.length === 0")
        assert errors == []
        browser.close()
    assert shot.read_bytes()[:4] == b"\x89PNG"
