"""The two-sound pad: a line of notes between sounds A and B, the grid's one-dimensional sibling.

It writes what ``nsynth.sound_design.grid`` writes (notes, ``manifest.json``; existing notes are
skipped, so a stopped render resumes) with the grid's own encoder padding and batched renderer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from nsynth.sound_design import Clip, Manifest, _encode_files, _render, _settings
from nsynth.generation.options import Sampling
from nsynth.model import NSynthAutoencoder
from nsynth.serve.store import line_note


def line(
    model: NSynthAutoencoder,
    sounds: Sequence[Path],
    out_dir: Path,
    *,
    points: int,
    pitches: Sequence[int],
    sampling: Sampling,
    seconds: float | None = None,
    model_path: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """The two-sound pad: ``points`` notes from A to B, DIR/pitch_PPP/line_CC.wav; returns how many were written.

    Point j mixes the embeddings (1 - u) z_A + u z_B with u = j / (points - 1), and samples with
    the grid's draws, so it is the note a grid with corners A B A B has at row 0, column j. Notes
    already written are skipped (a re-run resumes)."""
    sampling = sampling.for_model(model)
    rate = model.config.sample_rate
    length = int(seconds * rate) if seconds else None
    clip = Clip(0.0, seconds)  # as ``grid`` reads its corners, so the two agree to the last bit
    manifest = Manifest.open(
        out_dir,
        _settings(
            model_path,
            rate,
            rate,
            command="line",
            points=points,
            pitches=list(pitches),
            **sampling.as_dict(),
            sounds=[str(s) for s in sounds],
            **clip.as_dict(),
        ),
    )
    emb, n = _encode_files(model, sounds, clip, length)
    za, zb = (emb[s] for s in sounds)
    todo = []
    for p in pitches:
        for j, u in enumerate(np.linspace(0.0, 1.0, points)):
            out = out_dir / line_note(p, j)
            if out.exists():
                continue
            # the grid's sum over its corners, in its order, so the two agree to the last bit
            z = sum(w * zk for w, zk in zip((1 - u, u), (za, zb))).astype(np.float32)
            weights = {"A": float(1 - u), "B": float(u)}
            info = {"col": j, "weights": weights, "sources": dict(zip("AB", map(str, sounds)))}
            todo.append((out, z, p, n, info))
    return _render(model, todo, manifest, sampling=sampling, batch=32, fmt="pcm16", on_progress=on_progress)
