"""`nsynth serve` in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Drop four sounds on the corners (three picked, one dropped), render, move the pad, press a
key, and check from the page's own state that the four grid points around the pad play,
with bilinear weights that sum to one.
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


def test_play_the_pad_in_chromium(server, tmp_path):
    files = []
    for k, f in enumerate((220.0, 330.0, 440.0, 550.0)):
        files.append(tmp_path / f"corner{k}.wav")
        sf.write(files[-1], tone(f, 2.0) * np.hanning(32000).astype(np.float32) ** 0.2, 16000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1000, "height": 760})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server)
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
        page.fill("#resolution", "3")
        page.fill("#pitches", "57,69")
        page.fill("#seconds", "2")  # notes long enough to sound while the pad moves
        page.click("#render")
        page.wait_for_function("window.nsynthPad.status === 'ready'", timeout=180_000)
        assert page.inner_text("#progress-text").startswith("done: 100 %")

        box = page.locator("#pad").bounding_box()
        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.7 * box["height"])
        page.mouse.down()
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
        page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.2 * box["height"], steps=5)  # drag while it plays
        page.wait_for_function("window.nsynthPad.voices[0].parts.every(p => p.src)")
        second = check()
        assert second["pos"]["x"] > 0.5 > second["pos"]["y"]
        page.wait_for_function("document.querySelector('#rainbowgram').naturalWidth > 0")
        page.mouse.up()
        shot = Path(os.environ.get("NSYNTH_SCREENSHOT", tmp_path / "pad.png"))
        page.screenshot(path=str(shot))
        page.keyboard.up("a")
        page.wait_for_function("window.nsynthPad.voices.length === 0")
        assert page.get_attribute("#export", "href").endswith("/export.zip")
        assert errors == []
        browser.close()
    assert shot.read_bytes()[:4] == b"\x89PNG"
