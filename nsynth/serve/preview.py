"""The pad's picture of a grid point: its rainbowgram at its natural aspect, with axes.

Every time frame and every CQT bin is ``CELL`` pixels on a side, so a note twice as long is a
picture twice as wide (nothing is stretched to fit the page); time runs along the bottom in
seconds and frequency up the side in Hz, one tick per octave. Drawn with matplotlib's
object API (no pyplot), since the server draws from several threads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nsynth.files import atomic_path
from nsynth.plot import HOP, rainbowgram

BINS_PER_OCTAVE = 24
OCTAVES = 7
FMIN = 32.7  # C1
CELL = 1.5  # pixels per frame and per bin
LEFT, RIGHT, TOP, BOTTOM = 62, 16, 12, 42  # margins in pixels, room for the ticks and labels
DPI = 100
BACKGROUND, INK = "#111111", "#cccccc"


def size(frames: int) -> tuple[int, int]:
    """(width, height) in pixels of the picture of a rainbowgram ``frames`` frames long."""
    return LEFT + RIGHT + round(frames * CELL), TOP + BOTTOM + round(BINS_PER_OCTAVE * OCTAVES * CELL)


def _hz(f: float) -> str:
    return f"{f / 1000:.2g}k" if f >= 1000 else f"{f:.0f}"


def preview_png(audio: np.ndarray, sr: int, out: Path) -> None:
    """Write the picture of (T,) audio at ``sr`` to ``out`` (atomically, replacing it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    bins = BINS_PER_OCTAVE * OCTAVES
    img = np.clip(rainbowgram(audio, sr, BINS_PER_OCTAVE, bins, FMIN), 0.0, 1.0)
    frames = img.shape[1]
    width, height = size(frames)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((LEFT / width, BOTTOM / height, 1 - (LEFT + RIGHT) / width, 1 - (TOP + BOTTOM) / height))
    seconds = frames * HOP / sr
    ax.imshow(img, origin="lower", aspect="auto", interpolation="nearest", extent=(0, seconds, 0, bins))
    octaves = np.arange(0, bins + 1, BINS_PER_OCTAVE)
    ax.set_yticks(octaves, [_hz(FMIN * 2 ** (b / BINS_PER_OCTAVE)) for b in octaves])
    ax.xaxis.set_major_locator(_time_ticks(seconds))
    ax.set_xlabel("time (s)", color=INK, fontsize=9, labelpad=2)
    ax.set_ylabel("frequency (Hz)", color=INK, fontsize=9, labelpad=2)
    ax.tick_params(colors=INK, labelsize=8, length=3, pad=2)
    for spine in ax.spines.values():
        spine.set_color("#555555")
    with atomic_path(out, force=True) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, facecolor=BACKGROUND)


def _time_ticks(seconds: float):
    from matplotlib.ticker import MaxNLocator

    # a narrow picture (a short note) has room for two or three labels, a wide one for more
    return MaxNLocator(nbins=max(2, int(seconds * 4)), steps=[1, 2, 2.5, 5, 10])
