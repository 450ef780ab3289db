"""Pictures of `nsynth serve` with the shipped model and the shipped examples, at MIDI 60, 2 s notes.
Needs Debian's chromium and `pip install playwright`.

    python scripts/serve_screenshot.py docs/serve.png              # four sounds: a 3 x 3 grid, a key held
    python scripts/serve_screenshot.py docs/serve_line.png --mode line   # two sounds: 5 points A..B, the mouse held

The examples are rendered on the CPU unless --device says otherwise (about a minute on two cores).
The picture is saved with --colors colours (256: about 40 % of the bytes, no visible change; 0 keeps every colour).
"""

import argparse
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from nsynth.serve import create_app


def main(out: str, mode: str, device: str, colors: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(Path(tempfile.mkdtemp()), device=device)
    srv = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.set_default_timeout(120_000)  # the server's first picture imports matplotlib; a busy machine is slow
        page.goto(f"http://127.0.0.1:{port}/")
        page.check(f'input[name="mode"][value="{mode}"]')
        page.click("#examples")
        page.wait_for_function(f"document.querySelectorAll('.corner.ok').length === {4 if mode == 'grid' else 2}")
        page.fill("#resolution", "3" if mode == "grid" else "5")
        page.fill("#pitches", "60")
        page.fill("#seconds", "2")
        page.click("#render")
        page.wait_for_function("window.nsynthPad.status === 'ready'", timeout=900_000)
        box = page.locator("#pad").bounding_box()
        x, y = (0.35, 0.6) if mode == "grid" else (0.4, 0.5)
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.wait_for_function("(i => i.complete && i.naturalWidth > 0)(document.querySelector('#rainbowgram'))")
        sounding = "(s => s.voices.length && s.voices[0].parts.every(p => p.src))(window.nsynthPad)"
        press, lift = (page.keyboard.down, page.keyboard.up) if mode == "grid" else (page.mouse.down, page.mouse.up)
        key = ("a",) if mode == "grid" else ()  # a key held while the mouse points; the mouse button on the strip
        for _ in range(3):  # on a busy machine a 2 s note can end before its first buffers are decoded
            press(*key)
            try:
                page.wait_for_function(sounding, timeout=10_000)
                break
            except PlaywrightTimeout:
                lift(*key)  # the next try finds them decoded
        else:
            raise SystemExit("no note sounded: the picture would show none")
        page.screenshot(path=out, full_page=True)
        browser.close()
    srv.should_exit = True
    if colors:
        small(Path(out), colors)


# the page's own colours, kept exactly: a median cut alone greys the held note's ring and the pad's ground
UI = ["#111111", "#1b1b1b", "#333333", "#555555", "#66ccff", "#ffcc66", "#44aa44", "#224466", "#eeeeee", "#aaaaaa"]


def small(path: Path, colors: int) -> None:
    """Rewrite the PNG with a palette of ``colors``: the UI colours plus a median cut of the rest."""
    img = Image.open(path).convert("RGB")
    cut = img.quantize(colors=colors - len(UI), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    fixed = [int(c[i : i + 2], 16) for c in UI for i in (1, 3, 5)]
    palette = Image.new("P", (1, 1))
    palette.putpalette(fixed + cut.getpalette()[: 3 * (colors - len(UI))])
    img.quantize(palette=palette, dither=Image.Dither.NONE).save(path, optimize=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="docs/serve.png")
    ap.add_argument("--mode", choices=("grid", "line"), default="grid", help="four sounds (grid) or two (line)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--colors", type=int, default=256, help="palette size of the saved PNG (0: full colour)")
    args = ap.parse_args()
    main(args.out, args.mode, args.device, args.colors)
