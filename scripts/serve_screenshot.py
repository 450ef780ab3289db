"""docs/pad.md's picture of `nsynth serve`: the shipped model, the shipped examples, a 3 x 3 grid
at MIDI 60, the pad moved and a key held. Needs Debian's chromium and `pip install playwright`.

    python scripts/serve_screenshot.py docs/serve.png
"""

import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from nsynth.serve import create_app


def main(out: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(Path(tempfile.mkdtemp())), port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(f"http://127.0.0.1:{port}/")
        page.click("#examples")
        page.wait_for_function("document.querySelectorAll('.corner.ok').length === 4")
        page.fill("#pitches", "60")
        page.fill("#seconds", "2")
        page.click("#render")
        page.wait_for_function("window.nsynthPad.status === 'ready'", timeout=600_000)
        box = page.locator("#pad").bounding_box()
        page.mouse.move(box["x"] + 0.35 * box["width"], box["y"] + 0.6 * box["height"])
        page.mouse.down()
        page.keyboard.down("a")
        page.wait_for_function("window.nsynthPad.voices.length && window.nsynthPad.voices[0].parts.every(p => p.src)")
        page.wait_for_function("document.querySelector('#rainbowgram').naturalWidth > 0")
        page.screenshot(path=out)
        browser.close()
    srv.should_exit = True


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/serve.png")
