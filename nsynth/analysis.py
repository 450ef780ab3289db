"""Timbre analysis of embeddings with scikit-learn: 2-D maps, nearest neighbours, linear probes.

Embeddings are time-pooled (mean over frames) to one 16-d vector per note. Labels
(family, source, pitch) come from the consolidated index's NSynth metadata when present,
else from NSynth-style names (``<family>_<source>_<id>-<pitch>-<velocity>``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nsynth.errors import NSynthError
from nsynth.extract import iter_embeddings
from nsynth.files import atomic_path

if TYPE_CHECKING:  # matplotlib is imported only when a map is drawn
    from matplotlib.figure import Figure

_NAME = re.compile(r"(?P<family>[a-z_]+?)_(?P<source>acoustic|electronic|synthetic)_\d+-(?P<pitch>\d{3})-\d{3}")


@dataclass
class EmbeddingSet:
    names: list[str]  # note names (see nsynth.extract), never metadata
    pooled: np.ndarray  # (N, D) mean over frames
    meta: list[dict]  # each note's NSynth metadata ({} where the index has none)

    def labels(self, kind: str) -> list[str | None]:
        out = []
        for name, m in zip(self.names, self.meta):
            value = m.get(kind)
            if value is None:
                hit = _NAME.search(Path(name).name)
                value = hit.group(kind) if hit else None
                if kind == "pitch" and value is not None:
                    value = str(int(value))
            out.append(None if value is None else str(value))
        return out


def load_set(paths: list[Path]) -> EmbeddingSet:
    names, pooled, meta = [], [], []
    for p in paths:
        for name, emb, m in iter_embeddings(Path(p)):
            if emb.ndim != 2 or emb.shape[0] == 0:
                raise NSynthError(f"{name}: not a (frames, D) embedding")
            names.append(name)
            pooled.append(emb.mean(axis=0))
            meta.append(m)
    if not names:
        raise NSynthError("no embeddings found")
    return EmbeddingSet(names, np.stack(pooled).astype(np.float32), meta)


def project(x: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) by PCA or t-SNE."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    z = StandardScaler().fit_transform(x)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(z)
    if method == "tsne":
        return TSNE(
            n_components=2, perplexity=min(30.0, max(2.0, (len(z) - 1) / 3)), random_state=seed, init="pca"
        ).fit_transform(z)
    raise NSynthError(f"unknown method {method!r}: use pca or tsne")


def map_figure(
    s: EmbeddingSet,
    xy: np.ndarray,
    method: str = "pca",
    color_by: str = "family",
    label_points: int = 30,
) -> Figure:
    """The scatter plot of (N, 2) coordinates ``xy``: coloured by ``color_by`` with a legend of
    each group and its count (a colour bar for pitch), and each point labelled with its note's
    name (the last part) when there are at most ``label_points`` notes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = s.labels(color_by)
    fig, ax = plt.subplots(figsize=(8, 6.5), dpi=110)
    if color_by == "pitch" and all(v is not None for v in labels):
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=[int(v) for v in labels], cmap="viridis", s=14)
        fig.colorbar(sc, ax=ax, label="MIDI pitch")
    else:
        groups = sorted({v or "unknown" for v in labels})
        cmap = plt.get_cmap("tab20" if len(groups) > 10 else "tab10")
        for k, g in enumerate(groups):
            sel = np.array([(v or "unknown") == g for v in labels])
            ax.scatter(xy[sel, 0], xy[sel, 1], s=14, color=cmap(k % cmap.N), label=f"{g} ({sel.sum()})")
        ax.legend(title=color_by, fontsize=8, loc="best", markerscale=1.5)
    if len(s.names) <= label_points:
        for name, (a, b) in zip(s.names, xy):
            ax.annotate(name.rsplit("/", 1)[-1], (a, b), xytext=(3, 3), textcoords="offset points", fontsize=6)
    axis = "PC" if method == "pca" else "t-SNE "
    ax.set_xlabel(f"{axis}1")
    ax.set_ylabel(f"{axis}2")
    ax.set_title(f"Timbre map of {len(s.names)} notes ({method.upper()} of time-pooled embeddings)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def timbre_map(
    s: EmbeddingSet,
    out: Path,
    method: str = "pca",
    color_by: str = "family",
    force: bool = False,
    seed: int = 0,
    label_points: int = 30,
) -> Path:
    """Scatter plot of the 2-D projection (PNG, see ``map_figure``) plus ``<out>.csv`` of each
    note's name, coordinates and ``color_by`` label; returns the CSV's path."""
    import matplotlib.pyplot as plt

    xy = project(s.pooled, method, seed)
    fig = map_figure(s, xy, method, color_by, label_points)
    with atomic_path(out, force=force) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    table = out.with_suffix(".csv")
    with atomic_path(table, force=force) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["name", "x", "y", color_by])
            for n, (a, b), lab in zip(s.names, xy, s.labels(color_by)):
                w.writerow([n, f"{a:.5f}", f"{b:.5f}", lab or ""])
    return table


def neighbors(s: EmbeddingSet, query: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` notes nearest (Euclidean, time-pooled) to a (frames, D) query embedding."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(k, len(s.names))).fit(s.pooled)
    dist, idx = nn.kneighbors(query.mean(axis=0, keepdims=True))
    return [(s.names[i], float(d)) for d, i in zip(dist[0], idx[0])]


@dataclass(frozen=True)
class ProbeResult:
    label: str
    n: int
    classes: int
    accuracy: float
    accuracy_std: float
    chance: float  # accuracy of always guessing the most common class
    folds: int


def probe(s: EmbeddingSet, label: str, folds: int = 5, seed: int = 0) -> ProbeResult:
    """Cross-validated logistic-regression accuracy of predicting ``label`` from embeddings."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y_all = s.labels(label)
    keep = [i for i, v in enumerate(y_all) if v is not None]
    if len(keep) < 4:
        raise NSynthError(f"only {len(keep)} notes carry a {label!r} label; a probe needs more")
    x = s.pooled[keep]
    y = np.array([y_all[i] for i in keep])
    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2:
        raise NSynthError(f"every note has the same {label!r}; nothing to probe")
    k = int(max(2, min(folds, counts.min())))
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    scores = cross_val_score(clf, x, y, cv=StratifiedKFold(k, shuffle=True, random_state=seed))
    return ProbeResult(
        label, len(y), len(counts), float(scores.mean()), float(scores.std()), float(counts.max() / counts.sum()), k
    )
