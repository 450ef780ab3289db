"""How well a model reconstructs notes: pitch agreement and log-spectral distance, against
a sine baseline (the input's f0 with its amplitude envelope), silence, and the input itself
through the model's 8-bit mu-law (``mu-law``: what a decoder that drew every sample's class
exactly right would score; the floor of the output format).

- Pitch agreement: share of notes whose reconstruction's median f0 (pYIN) lies within 50
  cents of the input's median f0. Octave errors count as errors; notes whose input has
  no detectable pitch are left out of this figure (and counted).
- LSD: multi-resolution log-spectral distance in dB (FFT sizes 256 ... 2048, hop = n/4),
  the mean over frames of the RMS over bins of the dB difference, averaged over sizes.
- Runaways: how many reconstructions get more than 6 dB louder (RMS over 0.25 s windows) than
  their input ever is: a DC drift or noise burst where the note has died away.
- Interpolation: for pairs of notes of the same pitch from different instruments, the
  spectral centroids of a 5-step latent interpolation (alpha 0 ... 1) must move
  monotonically from A's side to B's (each step's change has the sign of B's centroid
  minus A's); the figure is the share of pairs that do.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from nsynth.data import NoteDataset
from nsynth.dsp import envelope
from nsynth.errors import NSynthError
from nsynth.files import atomic_path
from nsynth.generation import encode_audio, generate_audio
from nsynth.generation.render import note_periods
from nsynth.generation.options import Sampling
from nsynth.model import NSynthAutoencoder
from nsynth.mulaw import dequantize, quantize
from nsynth.pitch import f0_frames, f0_track, note_f0, voiced_f0
from nsynth.postfilter import pitch_postfilter

FFT_SIZES = (256, 512, 1024, 2048)
CENTS = 50.0


def lsd(x: np.ndarray, y: np.ndarray) -> float:
    """Multi-resolution log-spectral distance (dB) between two (T,) signals."""
    n = min(x.size, y.size)
    out = []
    for size in FFT_SIZES:
        hop = size // 4
        if n < size:
            continue
        win = np.hanning(size).astype(np.float32)
        frames = 1 + (n - size) // hop
        idx = np.arange(size)[None] + hop * np.arange(frames)[:, None]
        px = np.abs(np.fft.rfft(x[:n][idx] * win)) ** 2
        py = np.abs(np.fft.rfft(y[:n][idx] * win)) ** 2
        d = 10 * np.log10(px + 1e-8) - 10 * np.log10(py + 1e-8)
        out.append(float(np.mean(np.sqrt(np.mean(d**2, axis=1)))))
    return float(np.mean(out)) if out else float("nan")


def runaway(x: np.ndarray, y: np.ndarray, window: int = 4000) -> bool:
    """Whether output ``y`` ran away from input ``x`` (both (T,)): some window of ``y`` is more
    than twice (6 dB) as loud (RMS) as the loudest window of ``x`` (a DC drift or a noise burst
    where the note has died away)."""

    def loudest(a: np.ndarray) -> float:
        return float(np.sqrt(np.mean(windows(a, window) ** 2, axis=1)).max())

    return loudest(y) > 2 * loudest(x)


def windows(a: np.ndarray, window: int) -> np.ndarray:
    """(T,) signal -> (ceil(T / window), window) float64 windows, the last zero-padded."""
    a = np.pad(np.asarray(a), (0, -len(a) % window))
    return a.reshape(-1, window).astype(np.float64)


def median_f0(audio: np.ndarray, sr: int, track: np.ndarray | None = None) -> float | None:
    f0 = voiced_f0(audio, sr, track=track)
    return float(np.median(f0)) if f0.size else None


def agrees(f_ref: float | None, f_out: float | None) -> bool:
    return f_ref is not None and f_out is not None and abs(1200 * np.log2(f_out / f_ref)) <= CENTS


def sine_baseline(audio: np.ndarray, f0: float | None, sr: int) -> np.ndarray:
    """A sine at f0 following the input's amplitude envelope (RMS over 512-sample frames)."""
    if f0 is None:
        return np.zeros_like(audio)
    return (np.sqrt(2) * envelope(audio) * np.sin(2 * np.pi * f0 * np.arange(audio.size) / sr)).astype(np.float32)


@dataclass
class Scores:
    n: int = 0
    pitched: int = 0
    agree: int = 0
    lsd_sum: float = 0.0

    def add(self, pitched: bool, agree: bool, distance: float) -> None:
        self.n += 1
        self.pitched += pitched
        self.agree += agree
        self.lsd_sum += distance

    def summary(self) -> dict:
        return {
            "n": self.n,
            "pitch_agreement": self.agree / self.pitched if self.pitched else None,
            "lsd": self.lsd_sum / self.n if self.n else None,
        }


@dataclass
class Renders:
    """Reconstructions of some notes of a dataset, before any postfilter."""

    inputs: list[np.ndarray]  # (T_i,) the notes
    raw: list[np.ndarray]  # (T_i,) their reconstructions, unfiltered
    periods: list[np.ndarray] | None  # (T_i,) the period each was generated with (None: no pitch)
    tracks: list[np.ndarray]  # pYIN f0 track of each input (``f0_track``)


def render(
    model: NSynthAutoencoder, ds: NoteDataset, idx: list[int], sampling: Sampling, follow_f0: bool = True
) -> Renders:
    """Reconstruct notes ``idx`` of ``ds`` as one batch with ``sampling`` (its postfilter left
    off), the way ``evaluate`` does: the pitch label, and for a pitch-locked model with
    ``follow_f0`` the period along each input's f0 curve."""
    sr = model.config.sample_rate
    notes = [ds.load(i) for i in idx]
    pitches = [ds.notes[i].pitch for i in idx]
    if model.config.pitch_conditioning and any(p is None for p in pitches):
        missing = ds.notes[idx[[p is None for p in pitches].index(True)]].key
        raise NSynthError(f"{ds.name}: note {missing} has no pitch label; a pitch-conditioned model needs one")
    tracks = [f0_track(x, sr) for x in notes]  # one pYIN pass per input: its median f0 and its curve
    curves = None
    if follow_f0 and model.pitch_locked:
        hop = model.config.hop
        tracks_at_hop = [tr if hop == 512 else None for tr in tracks]
        if model.parallel:  # the pitch is the label: the curve around it (no pYIN octave errors)
            curves = [note_f0(x, sr, p, hop, tr) for x, p, tr in zip(notes, pitches, tracks_at_hop)]
        else:
            curves = [f0_frames(x, sr, hop, tr) for x, tr in zip(notes, tracks_at_hop)]
    labels = pitches if model.config.pitch_conditioning else None
    lengths = [a.size for a in notes]
    raw = generate_audio(
        model,
        encode_audio(model, notes),
        labels,
        lengths,
        sampling=sampling if model.parallel else dataclasses.replace(sampling, postfilter=0.0),
        f0=curves,
    )
    return Renders(notes, raw, note_periods(model, labels, lengths, curves), tracks)


def evaluate(
    model: NSynthAutoencoder,
    ds: NoteDataset,
    *,
    batch: int = 8,
    sampling: Sampling | None = None,
    follow_f0: bool = True,
    progress: bool = True,
) -> dict:
    """Reconstruct every note of ``ds`` and score it and the baselines; returns the report dict.

    ``sampling`` (default ``Sampling()``: the model's temperature) is recorded in the report;
    batch k draws with seed + k * batch.
    ``follow_f0``: a pitch-locked model's period follows each input's f0 curve (pYIN), where
    it has one, instead of its pitch label.
    """
    sr = model.config.sample_rate
    sampling = dataclasses.replace((sampling or Sampling()).for_model(model), progress=False)
    totals = {"model": Scores(), "sine": Scores(), "silence": Scores(), "mu-law": Scores(), "unfiltered": Scores()}
    per_family: dict[str, dict[str, Scores]] = defaultdict(
        lambda: {"model": Scores(), "sine": Scores(), "mu-law": Scores(), "unfiltered": Scores()}
    )
    unpitched = 0
    per_note: list[dict] = []
    bar = tqdm(total=len(ds), desc="evaluating", unit="note", disable=not progress)
    for start in range(0, len(ds), batch):
        idx = list(range(start, min(len(ds), start + batch)))
        r = render(model, ds, idx, sampling.shifted(start), follow_f0)
        notes, raw, tracks = r.inputs, r.raw, r.tracks
        recon = raw
        if sampling.postfilter and r.periods is not None:
            recon = [pitch_postfilter(y, per, sampling.postfilter) for y, per in zip(raw, r.periods)]
        for i, x, y, y_raw, track in zip(idx, notes, recon, raw, tracks):
            f_in = median_f0(x, sr, track)
            unpitched += f_in is None
            fam = ds.notes[i].family or "unknown"
            sine = sine_baseline(x, f_in, sr)
            exact = dequantize(quantize(torch.from_numpy(x))).numpy()
            f_out, dist = {}, {}
            outputs = [("model", y), ("sine", sine), ("silence", np.zeros_like(x)), ("mu-law", exact)]
            if y is not y_raw:
                outputs.append(("unfiltered", y_raw))
            for name, out in outputs:
                f_out[name] = median_f0(out, sr) if name != "silence" else None
                dist[name] = lsd(x, out)
                score = (f_in is not None, agrees(f_in, f_out[name]), dist[name])
                totals[name].add(*score)
                if name in per_family[fam]:
                    per_family[fam][name].add(*score)
            per_note.append(
                {
                    "key": ds.notes[i].key,
                    "family": fam,
                    "f0_in": f_in,
                    "f0_out": f_out["model"],
                    "lsd": dist["model"],
                    "lsd_sine": dist["sine"],
                    **({"lsd_unfiltered": dist["unfiltered"]} if "unfiltered" in dist else {}),
                    "runaway": runaway(x, y),
                }
            )
        bar.update(len(idx))
    bar.close()
    report = totals["model"].summary()
    report.update(
        unpitched_inputs=unpitched,
        cents_tolerance=CENTS,
        generation={
            **sampling.as_dict(),
            **({"period": "f0" if follow_f0 else "label"} if model.pitch_locked else {}),
        },
        fft_sizes=list(FFT_SIZES),
        baselines={k: totals[k].summary() for k in ("sine", "silence", "mu-law")},
        # the model's renders before the postfilter (when one was applied)
        **({"unfiltered": totals["unfiltered"].summary()} if totals["unfiltered"].n else {}),
        per_family={
            f: {
                "n": s["model"].n,
                **{k: v for k, v in s["model"].summary().items() if k != "n"},
                "sine": s["sine"].summary(),
                "mu-law": s["mu-law"].summary(),
                **({"unfiltered": s["unfiltered"].summary()} if s["unfiltered"].n else {}),
            }
            for f, s in sorted(per_family.items())
        },
        runaways=sum(n["runaway"] for n in per_note),  # see ``runaway``
        closer_than_sine=sum(n["lsd"] < n["lsd_sine"] for n in per_note),  # notes nearer their input than their sine
        notes=per_note,  # each note: median f0 in and out (Hz), LSD (dB) and its sine's, whether it ran away
    )
    return report


def spectral_centroid(audio: np.ndarray, sr: int, size: int = 1024) -> float:
    """Power-weighted mean frequency (Hz) of a (T,) note over its whole length."""
    x = np.pad(audio, (0, max(0, size - audio.size)))
    frames = 1 + (x.size - size) // (size // 2)
    idx = np.arange(size)[None] + (size // 2) * np.arange(frames)[:, None]
    power = (np.abs(np.fft.rfft(x[idx] * np.hanning(size))) ** 2).sum(axis=0)
    freqs = np.fft.rfftfreq(size, 1.0 / sr)
    return float((power * freqs).sum() / max(power.sum(), 1e-20))


def monotonic(values: list[float], start: float, end: float) -> bool:
    """Whether ``values`` move from ``start``'s side towards ``end``: every step's change has
    the sign of end - start (or is zero)."""
    sign = np.sign(end - start)
    return bool(sign != 0 and (np.diff(values) * sign >= 0).all())


def interpolation_pairs(ds: NoteDataset, n: int, seed: int = 0) -> list[tuple[int, int]]:
    """Up to ``n`` pairs of notes with the same pitch from different instruments (seeded)."""
    rng = np.random.default_rng(seed)
    by_pitch: dict[int, list[int]] = defaultdict(list)
    for i, note in enumerate(ds.notes):
        if note.pitch is not None:
            by_pitch[note.pitch].append(i)
    pairs: list[tuple[int, int]] = []
    pitches = [p for p, idx in sorted(by_pitch.items()) if len({ds.notes[i].instrument for i in idx}) > 1]
    for p in rng.permutation(pitches)[:n] if pitches else []:
        idx = by_pitch[int(p)]
        a = int(rng.choice(idx))
        others = [i for i in idx if ds.notes[i].instrument != ds.notes[a].instrument]
        pairs.append((a, int(rng.choice(others))))
    return pairs


def evaluate_interpolation(
    model: NSynthAutoencoder,
    ds: NoteDataset,
    pairs: list[tuple[int, int]],
    *,
    steps: int = 5,
    seconds: float = 1.0,
    sampling: Sampling | None = None,
    progress: bool = True,
) -> dict:
    """Share of ``pairs`` whose interpolation's spectral centroid moves monotonically from A to B.

    Each pair's notes are cut to their first ``seconds``; the pitch is A's label, and a
    pitch-locked model follows A's f0 curve.
    """
    from nsynth.interpolation import interpolate

    sr = model.config.sample_rate
    sampling = dataclasses.replace((sampling or Sampling()).for_model(model), progress=False)
    n = int(seconds * sr)
    results = []
    for k, (i, j) in enumerate(tqdm(pairs, desc="interpolating", unit="pair", disable=not progress)):
        a, b = ds.load(i)[:n], ds.load(j)[:n]
        outs = interpolate(
            a,
            b,
            steps,
            pitch=ds.notes[i].pitch,
            model=model,
            follow_f0=True,
            sampling=sampling.shifted(k),
        )
        cents = [spectral_centroid(o, sr) for o in outs]
        ca, cb = spectral_centroid(a, sr), spectral_centroid(b, sr)
        results.append(
            {
                "a": ds.notes[i].key,
                "b": ds.notes[j].key,
                "input_centroids": [ca, cb],
                "centroids": cents,
                "monotonic": monotonic(cents, ca, cb),
            }
        )
    ok = sum(r["monotonic"] for r in results)
    return {
        "pairs": len(results),
        "monotonic": ok,
        "share": ok / len(results) if results else None,
        "steps": steps,
        "seconds": seconds,
        "detail": results,
    }


def format_report(r: dict) -> str:
    def pct(v):
        return "   -  " if v is None else f"{100 * v:5.1f}%"

    def db(v):
        return "   -  " if v is None else f"{v:6.2f}"

    lines = [
        f"{'':17} {'notes':>5} {'pitch agr.':>10} {'LSD dB':>7}",
        f"{'model':17} {r['n']:5d} {pct(r['pitch_agreement']):>10} {db(r['lsd']):>7}"
        + (f"   ({r['runaways']} ran away)" if r.get("runaways") else ""),
    ]
    if r.get("unfiltered"):
        u = r["unfiltered"]
        lines.append(f"{'model, unfiltered':17} {u['n']:5d} {pct(u['pitch_agreement']):>10} {db(u['lsd']):>7}")
    if "closer_than_sine" in r:  # reports written before it lack it
        lines.append(f"{'':17} closer than their sine: {r['closer_than_sine']} of {r['n']} notes")
    for k, b in r["baselines"].items():
        lines.append(f"{k + ' baseline':17} {b['n']:5d} {pct(b['pitch_agreement']):>10} {db(b['lsd']):>7}")
    lines.append("per family (model | sine | mu-law):")
    for fam, s in r["per_family"].items():
        mu = s.get("mu-law")  # reports written before the mu-law baseline lack it
        lines.append(
            f"  {fam:15} {s['n']:5d} {pct(s['pitch_agreement']):>10} {db(s['lsd']):>7}   |"
            f" {pct(s['sine']['pitch_agreement'])} {db(s['sine']['lsd'])}" + (f"   | {db(mu['lsd'])}" if mu else "")
        )
    interp = r.get("interpolation")
    if interp and interp["pairs"]:
        lines.append(
            f"interpolation: spectral centroid monotonic from A to B in {interp['monotonic']} of"
            f" {interp['pairs']} pairs ({pct(interp['share']).strip()})"
        )
    return "\n".join(lines)


def write_report(r: dict, path: Path, force: bool = False) -> None:
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(json.dumps(r, indent=1))
