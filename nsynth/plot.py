"""Pictures of sounds: the NSynth paper's rainbowgram and mel spectrograms, side by side.

A rainbowgram shows the constant-Q transform with log magnitude as brightness and the
instantaneous frequency (the time derivative of the unwrapped phase, relative to each
bin's centre) as colour: steady harmonics draw flat, evenly coloured lines.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from nsynth.files import atomic_path

HOP = 256


def rainbowgram(
    audio: np.ndarray, sr: int, bins_per_octave: int = 24, n_bins: int = 24 * 7, fmin: float = 32.7
) -> np.ndarray:
    """(T,) audio -> (n_bins, frames, 3) RGB image (low frequencies in row 0)."""
    import librosa
    from matplotlib.colors import hsv_to_rgb

    audio = np.pad(audio.astype(np.float32), (0, max(0, 4096 - audio.size)))
    with warnings.catch_warnings():
        # The CQT's lowest octaves run on the signal decimated many times over (down to 64 samples
        # for a 4096-sample note), shorter than their FFT; librosa pads them and warns each time.
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large for input signal", category=UserWarning)
        c = librosa.cqt(audio, sr=sr, hop_length=HOP, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave)
    mag = np.abs(c)
    db = librosa.amplitude_to_db(mag, ref=max(float(mag.max()), 1e-8), top_db=80.0)
    value = (db + 80.0) / 80.0
    phase = np.unwrap(np.angle(c), axis=1)
    dphase = np.diff(phase, axis=1, prepend=phase[:, :1])
    freqs = librosa.cqt_frequencies(n_bins=n_bins, fmin=fmin, bins_per_octave=bins_per_octave)
    expected = 2 * np.pi * freqs[:, None] * HOP / sr
    deviation = np.angle(np.exp(1j * (dphase - expected))) / np.pi  # in [-1, 1]
    hue = (deviation + 1.0) / 2.0
    hsv = np.stack([hue, np.full_like(hue, 0.9), np.clip(value, 0.0, 1.0)], axis=-1)
    return hsv_to_rgb(hsv)


def plot_sounds(
    audios: Sequence[np.ndarray],
    titles: Sequence[str],
    sr: int,
    out: Path,
    kind: str = "rainbowgram",
    force: bool = False,
) -> None:
    """One panel per sound, side by side, with axes, titles and a colour scale; writes a PNG."""
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(audios)
    fig, axes = plt.subplots(
        1, n, figsize=(3.2 * n + 1.2, 4.2), dpi=100, squeeze=False, sharey=True, layout="constrained"
    )
    im = None
    for ax, audio, title in zip(axes[0], audios, titles):
        dur = max(audio.size, 1) / sr
        if kind == "rainbowgram":
            img = rainbowgram(audio, sr)
            ax.imshow(img, origin="lower", aspect="auto", extent=(0, dur, 0, img.shape[0]))
            ticks = np.arange(0, img.shape[0] + 1, 24)
            ax.set_yticks(ticks, [librosa.midi_to_note(24 + t // 2) for t in ticks])
        elif kind == "mel":
            with warnings.catch_warnings():  # a note shorter than the FFT is padded: no need to say so
                warnings.filterwarnings(
                    "ignore", message=r"n_fft=\d+ is too large for input signal", category=UserWarning
                )
                m = librosa.feature.melspectrogram(
                    y=audio.astype(np.float32), sr=sr, n_fft=1024, hop_length=HOP, n_mels=96
                )
            db = librosa.power_to_db(m, ref=max(float(m.max()), 1e-10), top_db=80.0)
            im = ax.imshow(
                db, origin="lower", aspect="auto", extent=(0, dur, 0, db.shape[0]), cmap="magma", vmin=-80, vmax=0
            )
            hz = librosa.mel_frequencies(n_mels=96, fmax=sr / 2)
            ticks = np.arange(0, 96, 16)
            ax.set_yticks(ticks, [f"{hz[t] / 1000:.1f}k" if hz[t] >= 1000 else f"{hz[t]:.0f}" for t in ticks])
        else:
            raise ValueError(f"unknown picture kind {kind!r}: rainbowgram or mel")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time (s)")
    axes[0][0].set_ylabel("pitch (CQT bin)" if kind == "rainbowgram" else "frequency (Hz, mel scale)")
    if kind == "mel" and im is not None:
        fig.colorbar(im, ax=axes[0].tolist(), label="dB", fraction=0.03)
    title = (
        "Mel spectrograms"
        if kind == "mel"
        else ("Rainbowgrams\nbrightness: log magnitude (80 dB range)    colour: instantaneous-frequency deviation")
    )
    fig.suptitle(title, fontsize=10)
    with atomic_path(out, force=force) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def rainbowgram_png(audio: np.ndarray, sr: int, out: Path, force: bool = True) -> None:
    """One rainbowgram as a bare picture (no axes), low frequencies at the bottom."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = np.clip(rainbowgram(audio, sr)[::-1], 0.0, 1.0)
    with atomic_path(out, force=force) as tmp:
        plt.imsave(tmp, img, format="png")
