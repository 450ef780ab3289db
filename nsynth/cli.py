"""The ``nsynth`` command line: a thin layer over the Python API.

Each command parses its options, checks paths (refusing to overwrite without --force)
and calls public functions. User errors (``NSynthError``) become one line on stderr and
exit status 1, without a traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from nsynth.errors import NSynthError

EXIT_USER_ERROR = 1


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NSynthError as e:
            click.echo(f"nsynth: error: {e}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            click.echo("nsynth: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nsynth")
def main() -> None:
    """Neural timbre synthesis with the NSynth WaveNet autoencoder."""
    from nsynth._malloc import tune_malloc

    tune_malloc()


def _model_options(f: Callable) -> Callable:
    """--checkpoint and --device."""
    f = click.option(
        "--device",
        default="auto",
        show_default=True,
        type=click.Choice(["auto", "cpu", "cuda"]),
        help="Where to run the model.",
    )(f)
    return click.option(
        "--checkpoint",
        "-c",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Weights file (.safetensors); default: the model shipped with nsynth.",
    )(f)


_temperature_option = click.option(
    "--temperature",
    default=None,
    type=click.FloatRange(min=0.0),
    help="Softmax temperature of sampling (0 = greedy) [default: the model's recommended one, 1.0 unless its"
    " weights file says otherwise; `nsynth info` shows it].",
)

_backend_option = click.option(
    "--backend",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "reference", "fast"]),
    help="Generation backend: fused CPU kernel / CUDA graphs ('fast') or the eager reference.",
)


def _generation_options(f: Callable) -> Callable:
    """Options of every command that synthesises audio.

    --seed, --temperature, --greedy, --backend and --precision reach the command as one
    ``sampling`` dict of keyword arguments for the API (--greedy as temperature 0).
    """

    @functools.wraps(f)
    def command(
        *args: Any, seed: int, temperature: float | None, greedy: bool, backend: str, precision: str, **kw: Any
    ):
        temperature = 0.0 if greedy else temperature
        sampling = {"temperature": temperature, "seed": seed, "backend": backend, "precision": precision}
        return f(*args, sampling=sampling, **kw)

    opts = [
        click.option(
            "--seed", default=0, show_default=True, type=int, help="Seed of the sampler: same seed, same audio."
        ),
        _temperature_option,
        click.option("--greedy", is_flag=True, help="Take the most likely class instead of sampling."),
        _backend_option,
        click.option(
            "--precision",
            default="auto",
            show_default=True,
            type=click.Choice(["auto", "fp32", "bf16"]),
            help="Weight precision of the fast backend (auto: bf16 for wide models).",
        ),
        click.option(
            "--format",
            "fmt",
            default="pcm16",
            show_default=True,
            type=click.Choice(["pcm16", "float"]),
            help="Output WAV sample format.",
        ),
        click.option("--force", is_flag=True, help="Overwrite existing outputs."),
    ]
    for opt in reversed(opts):
        command = opt(command)
    return _model_options(command)


def _load(checkpoint: Path | None, device: str):
    from nsynth.generation import resolve_device
    from nsynth.weights import load_model, read_info

    if checkpoint is None and read_info(None).metadata.get("status") == "prototype":
        click.echo(
            "nsynth: note: the bundled model is a CPU-trained prototype: it keeps the note's pitch and"
            " envelope over a noise floor; see the README's model card, or pass --checkpoint",
            err=True,
        )
    return load_model(checkpoint, resolve_device(device))


def _pitch_arg(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        p = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a MIDI number or 'auto'") from None
    if not 0 <= p <= 127:
        raise click.BadParameter(f"{p} is not a MIDI note number 0-127")
    return p


def _pitch_option(default: str | None) -> Callable:
    return click.option(
        "--pitch",
        default=default,
        callback=lambda c, p, v: None if v is None else _pitch_arg(v),
        help="MIDI pitch 0-127"
        + (
            " or 'auto' (estimate from the audio; a pitch-locked model follows the audio's f0 curve)."
            if default
            else "."
        ),
    )


class _Failures:
    """Collects per-file errors so good files beside a bad one are still processed."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except NSynthError as e:
            click.echo(f"nsynth: error: {e}", err=True)
            self.count += 1
            return None

    def exit(self, total: int) -> None:
        if self.count:
            click.echo(f"nsynth: {self.count} of {total} input(s) failed", err=True)
            sys.exit(EXIT_USER_ERROR)


def _unique_stems(files: tuple[Path, ...], suffix: str, out_dir: Path) -> list[Path]:
    """DIR/<stem><suffix> per input; inputs whose stems collide keep their extension
    (x.wav -> x.wav.npy, x.flac -> x.flac.npy), as ``nsynth encode`` does."""
    from collections import Counter

    counts = Counter(f.stem for f in files)
    outs = [out_dir / ((f.name if counts[f.stem] > 1 else f.stem) + suffix) for f in files]
    dup = [o for o, c in Counter(outs).items() if c > 1]
    if dup:
        raise NSynthError(f"{dup[0]}: several inputs would write this output (the same file given twice?)")
    return outs


def _shard_arg(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        i, n = (int(v) for v in value.split("/"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected I/N, e.g. 0/4") from None
    if not 0 <= i < n:
        raise click.BadParameter(f"{value!r}: need 0 <= I < N")
    return i, n


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: mirrors the inputs as <relative path>/<stem>.npy.",
)
@click.option("--force", is_flag=True, help="Recompute outputs that already exist.")
@click.option("--shard", callback=_shard_arg, help="Take shard I of N (0-based); automatic under torchrun.")
@click.option(
    "--consolidate",
    "consolidated",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write every embedding plus an index into this .npz.",
)
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0), help="Decoding processes.")
@_model_options
def encode(
    paths: tuple[Path, ...],
    out_dir: Path,
    force: bool,
    shard: tuple[int, int] | None,
    consolidated: Path | None,
    batch_size: int,
    workers: int,
    checkpoint: Path | None,
    device: str,
) -> None:
    """Encode audio files, folders and NSynth datasets to float32 (frames, 16) .npy files.

    Resumable: outputs are written atomically and existing ones are skipped. A bad file is
    reported and skipped; the exit status is non-zero if any failed.
    """
    from nsynth.extract import collect_jobs, consolidate, dist_shard, extract
    from nsynth.extract import shard as take_shard

    dist = dist_shard()
    if dist is not None and device != "cpu":
        import torch

        if torch.cuda.is_available():
            device = f"cuda:{dist[2]}"
    model = _load(checkpoint, device)
    cfg = model.config
    jobs, failed_inputs = [], 0
    for p in paths:  # a missing or unreadable input is reported; the others still run
        try:
            jobs += collect_jobs([p], out_dir, cfg.sample_rate)
        except NSynthError as e:
            click.echo(f"nsynth: error: {e}", err=True)
            failed_inputs += 1
    all_jobs = jobs
    if shard is None and dist is not None:
        shard = (dist[0], dist[1])
    if shard is not None:
        jobs = take_shard(jobs, *shard)
    report = extract(
        model,
        jobs,
        force=force,
        batch_size=batch_size,
        workers=workers,
        on_error=lambda m: click.echo(f"nsynth: error: {m}", err=True),
    )
    hours = report.seconds_of_audio / 3600
    failed = len(report.failed) + failed_inputs
    click.echo(
        f"encoded {report.done}, skipped {report.skipped} already done, failed {failed}"
        f" ({hours:.2f} h of audio in {report.wall_seconds:.1f} s"
        f", {report.seconds_of_audio / max(report.wall_seconds, 1e-9):.0f}x real time)"
    )
    if consolidated is not None:
        n = consolidate(all_jobs if shard is None else jobs, consolidated, cfg.latent_dim, cfg.hop, cfg.sample_rate)
        click.echo(f"{consolidated}: {n} embeddings")
    if failed:
        sys.exit(EXIT_USER_ERROR)


@main.command()
@click.argument("embeddings", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@_pitch_option(None)
@_generation_options
def decode(
    embeddings: tuple[Path, ...],
    out_dir: Path,
    pitch: int | None,
    checkpoint: Path | None,
    device: str,
    sampling: dict[str, Any],
    fmt: str,
    force: bool,
) -> None:
    """Synthesise EMB.npy files (frames, 16) to DIR/<stem>.wav, as one batch."""
    from nsynth.audio import save_audio
    from nsynth.files import check_outputs
    from nsynth.generation import generate_audio

    outs = _unique_stems(embeddings, ".wav", out_dir)
    check_outputs(outs, force)
    model = _load(checkpoint, device)
    if model.config.pitch_conditioning and pitch is None:
        raise NSynthError("this model is pitch-conditioned: give --pitch MIDI")
    failed = _Failures()
    loaded = [(o, failed(lambda e=e: _read_embedding(e, model.config.latent_dim))) for e, o in zip(embeddings, outs)]
    loaded = [(o, z) for o, z in loaded if z is not None]
    if loaded:
        audio = generate_audio(
            model,
            [z for _, z in loaded],
            [pitch] * len(loaded) if pitch is not None else None,
            **sampling,
        )
        for (o, _), a in zip(loaded, audio):
            save_audio(o, a, model.config.sample_rate, fmt=fmt, force=force)
            click.echo(str(o))
    failed.exit(len(embeddings))


def _read_embedding(path: Path, latent_dim: int) -> np.ndarray:
    if not path.is_file():
        raise NSynthError(f"{path}: no such file")
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise NSynthError(f"{path}: not a .npy array ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(z, np.ndarray) or z.ndim != 2 or z.shape[1] != latent_dim or z.shape[0] == 0:
        raise NSynthError(f"{path}: expected shape (frames, {latent_dim}), got {getattr(z, 'shape', None)}")
    if not np.issubdtype(z.dtype, np.floating) or not np.isfinite(z).all():
        raise NSynthError(f"{path}: embeddings must be finite floats")
    return z.astype(np.float32)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@_pitch_option("auto")
@_generation_options
def reconstruct(
    files: tuple[Path, ...],
    out_dir: Path,
    pitch: int | str,
    checkpoint: Path | None,
    device: str,
    sampling: dict[str, Any],
    fmt: str,
    force: bool,
) -> None:
    """Encode and re-synthesise audio FILES to DIR/<stem>.wav, as one batch."""
    from nsynth.api import reconstruct as api_reconstruct
    from nsynth.api import resolve_pitch
    from nsynth.audio import load_audio, save_audio
    from nsynth.files import check_outputs

    outs = _unique_stems(files, ".wav", out_dir)
    check_outputs(outs, force)
    model = _load(checkpoint, device)
    failed = _Failures()
    notes = []
    for f, o in zip(files, outs):
        audio = failed(lambda: load_audio(f, model.config.sample_rate))
        p = None if audio is None else failed(lambda: resolve_pitch(audio, pitch, model=model, name=str(f)))
        if audio is not None and (p is not None or not model.config.pitch_conditioning):
            if pitch == "auto" and p is not None:
                click.echo(f"{f}: pitch {p} (estimated)", err=True)
            notes.append((o, audio, p))
    if notes:
        audio = api_reconstruct(
            [a for _, a, _ in notes],
            pitch=[p for _, _, p in notes],
            model=model,
            follow_f0=pitch == "auto",
            **sampling,
        )
        for (o, _, _), a in zip(notes, audio):
            save_audio(o, a, model.config.sample_rate, fmt=fmt, force=force)
            click.echo(str(o))
    failed.exit(len(files))


@main.command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option("--steps", default=5, show_default=True, type=click.IntRange(min=2), help="Outputs from A to B.")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder [default: <A>_to_<B>].",
)
@click.option("--mix", is_flag=True, help="Also write the audio-domain crossfade at the same alphas (mix_*.wav).")
@click.option("--plot", is_flag=True, help="Also write rainbowgrams of every step (interpolation.png).")
@_pitch_option("auto")
@_generation_options
def interpolate(
    a: Path,
    b: Path,
    steps: int,
    out_dir: Path | None,
    mix: bool,
    plot: bool,
    pitch: int | str,
    checkpoint: Path | None,
    device: str,
    sampling: dict[str, Any],
    fmt: str,
    force: bool,
) -> None:
    """Interpolate between notes A and B in the latent space.

    Writes STEPS files from pure A (alpha 0) to pure B (alpha 1), named so they sort:
    00_alpha0.00.wav ... 04_alpha1.00.wav. All steps are generated as one batch. Notes of
    different lengths: the shorter is padded with silence to the longer.
    """
    from nsynth.api import resolve_pitch
    from nsynth.audio import load_audio, save_audio
    from nsynth.files import check_outputs
    from nsynth.interpolation import alphas
    from nsynth.interpolation import interpolate as api_interpolate

    out_dir = out_dir or Path(f"{a.stem}_to_{b.stem}")
    weights = alphas(steps)
    width = max(2, len(str(steps - 1)))
    outs = [out_dir / f"{i:0{width}d}_alpha{w:.2f}.wav" for i, w in enumerate(weights)]
    mixes = [o.with_name("mix_" + o.name) for o in outs] if mix else []
    check_outputs(outs + mixes + ([out_dir / "interpolation.png"] if plot else []), force)
    model = _load(checkpoint, device)
    rate = model.config.sample_rate
    audio_a, audio_b = load_audio(a, rate), load_audio(b, rate)
    p = resolve_pitch(audio_a, pitch, model=model, name=str(a))
    if pitch == "auto" and p is not None:
        click.echo(f"{a}: pitch {p} (estimated; override with --pitch)", err=True)
    notes = api_interpolate(
        audio_a,
        audio_b,
        steps,
        pitch=p,
        model=model,
        follow_f0=pitch == "auto",
        **sampling,
    )
    for o, note in zip(outs, notes):
        save_audio(o, note, rate, fmt=fmt, force=force)
        click.echo(str(o))
    if mix:
        from nsynth.design import crossfade

        for o, w in zip(mixes, weights):
            save_audio(o, crossfade(audio_a, audio_b, float(w)), rate, fmt=fmt, force=force)
            click.echo(str(o))
    if plot:
        from nsynth.plot import plot_sounds

        picture = out_dir / "interpolation.png"
        plot_sounds(notes, [f"alpha {w:.2f}" for w in weights], rate, picture, force=force)
        click.echo(str(picture))


def _int_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    from nsynth.data.soundfont import parse_range

    if value is None:
        return None
    try:
        return parse_range(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected numbers and ranges like 0-111 or 25,50,75") from None


def _pitch_list(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    pitches = _int_list(ctx, param, value) or []
    if not pitches or any(not 0 <= p <= 127 for p in pitches):
        raise click.BadParameter(f"{value!r}: MIDI pitches 0-127")
    return pitches


@main.command()
@click.argument("corners", nargs=4, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--resolution", default=5, show_default=True, type=click.IntRange(min=2), help="Points per side.")
@click.option("--pitches", default="36,48,60,72", show_default=True, callback=_pitch_list)
@click.option("--seconds", type=click.FloatRange(min=0.05), help="Length of each note [default: the longest corner].")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@_generation_options
def grid(
    corners: tuple[Path, ...],
    out_dir: Path,
    resolution: int,
    pitches: list[int],
    seconds: float | None,
    batch_size: int,
    checkpoint: Path | None,
    device: str,
    sampling: dict[str, Any],
    fmt: str,
    force: bool,
) -> None:
    """An NSynth-Super grid between corners NW NE SW SE (files, or folders of one file per pitch).

    Point (row i, column j) mixes the corner embeddings with bilinear weights
    ((1-u)(1-v), u(1-v), (1-u)v, uv), u = j/(R-1), v = i/(R-1). Existing outputs are kept
    (re-running resumes) unless --force; everything is listed in DIR/manifest.json.
    """
    from nsynth.design import grid as run_grid

    model = _load(checkpoint, device)
    written, skipped = run_grid(
        model,
        corners,
        out_dir,
        resolution=resolution,
        pitches=pitches,
        **sampling,
        batch=batch_size,
        fmt=fmt,
        model_path=str(checkpoint) if checkpoint else None,
        seconds=seconds,
        force=force,
    )
    click.echo(f"{out_dir}: {written} notes written, {skipped} already there")


@main.command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--curve", default="linear", show_default=True, type=click.Choice(["linear", "ease", "hold"]))
@_pitch_option("auto")
@_generation_options
def morph(
    a: Path,
    b: Path,
    out: Path,
    curve: str,
    pitch: int | str,
    checkpoint: Path | None,
    device: str,
    sampling: dict[str, Any],
    fmt: str,
    force: bool,
) -> None:
    """One note whose timbre moves from A to B over its length (the mix varies per frame)."""
    from nsynth.api import resolve_pitch
    from nsynth.audio import load_audio, save_audio
    from nsynth.design import morph_embeddings
    from nsynth.files import check_outputs
    from nsynth.generation import encode_audio, generate_audio

    check_outputs([out], force)
    model = _load(checkpoint, device)
    rate = model.config.sample_rate
    xa, xb = load_audio(a, rate), load_audio(b, rate)
    n = max(xa.size, xb.size)
    xa, xb = np.pad(xa, (0, n - xa.size)), np.pad(xb, (0, n - xb.size))
    p = resolve_pitch(xa, pitch, model=model, name=str(a))
    za, zb = encode_audio(model, [xa, xb])
    note = generate_audio(
        model,
        [morph_embeddings(za, zb, curve)],
        None if p is None else [p],
        [n],
        **sampling,
    )[0]
    save_audio(out, note, rate, fmt=fmt, force=force)
    click.echo(str(out))


@main.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--pitches", default="36-84:3", show_default=True, callback=_pitch_list)
@click.option(
    "--alpha",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="With two sources: the interpolation point (0 = first, 1 = second).",
)
@click.option("--name", help="Instrument name [default: the sources' names].")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@_generation_options
def multisample(
    sources: tuple[Path, ...],
    out_dir: Path,
    pitches: list[int],
    alpha: float,
    name: str | None,
    batch_size: int,
    checkpoint: Path | None,
    device: str,
    sampling: dict[str, Any],
    fmt: str,
    force: bool,
) -> None:
    """Render a sound across the keyboard and write a playable SFZ instrument."""
    from nsynth.design import multisample as run_multisample

    model = _load(checkpoint, device)
    sfz, written, skipped = run_multisample(
        model,
        sources,
        out_dir,
        pitches=pitches,
        alpha=alpha,
        name=name,
        **sampling,
        batch=batch_size,
        fmt=fmt,
        model_path=str(checkpoint) if checkpoint else None,
        force=force,
    )
    click.echo(f"{sfz}: {len(pitches)} regions ({written} samples written, {skipped} already there)")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", default="rainbowgram", show_default=True, type=click.Choice(["rainbowgram", "mel"]))
@click.option("--force", is_flag=True, help="Overwrite OUTPUT.")
def plot(files: tuple[Path, ...], out: Path, kind: str, force: bool) -> None:
    """Side-by-side pictures of sounds (PNG)."""
    from nsynth.audio import load_audio
    from nsynth.files import check_outputs
    from nsynth.plot import plot_sounds

    check_outputs([out], force)
    plot_sounds([load_audio(f) for f in files], [f.name for f in files], 16000, out, kind, force=force)
    click.echo(str(out))


@main.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path), help="JSON report.")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate an evenly spaced subset of this many notes.")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1))
@_backend_option
@click.option("--seed", default=0, show_default=True, type=int)
@_temperature_option
@click.option(
    "--period",
    "period_source",
    type=click.Choice(["f0", "label"]),
    default="f0",
    show_default=True,
    help="Pitch-locked models: the period follows each input's f0 curve (pYIN), or its pitch label.",
)
@click.option(
    "--pairs",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Also interpolate this many same-pitch pairs of different instruments (first second of each)"
    " and report how often the spectral centroid moves monotonically from A to B.",
)
@click.option("--force", is_flag=True, help="Overwrite the report.")
@_model_options
def evaluate(
    data: Path,
    out: Path | None,
    limit: int | None,
    batch_size: int,
    backend: str,
    seed: int,
    temperature: float | None,
    period_source: str,
    pairs: int,
    force: bool,
    checkpoint: Path | None,
    device: str,
) -> None:
    """Reconstruct a dataset's notes; report pitch agreement and LSD against sine and silence baselines."""
    from nsynth.data import open_dataset
    from nsynth.evaluate import evaluate as run_eval
    from nsynth.evaluate import format_report, write_report
    from nsynth.files import check_outputs

    if out is not None:
        check_outputs([out], force)
    model = _load(checkpoint, device)
    ds = open_dataset(data, model.config.sample_rate)
    if limit is not None and limit < len(ds):
        keep = set(np.linspace(0, len(ds) - 1, limit).round().astype(int).tolist())
        order = {n.key: i for i, n in enumerate(ds.notes)}
        ds = ds.filter(lambda n: order[n.key] in keep)
    report = run_eval(
        model,
        ds,
        batch=batch_size,
        seed=seed,
        backend=backend,
        temperature=temperature,
        follow_f0=period_source == "f0",
    )
    if pairs:
        from nsynth.evaluate import evaluate_interpolation, interpolation_pairs

        full = open_dataset(data, model.config.sample_rate)  # pairs come from every note, not the --limit subset
        report["interpolation"] = evaluate_interpolation(
            model, full, interpolation_pairs(full, pairs, seed), seed=seed, backend=backend, temperature=temperature
        )
    click.echo(format_report(report))
    if out is not None:
        write_report(report, out, force=force)
        click.echo(str(out))


@main.command("render-soundfont")
@click.argument("font", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--programs", default="0-111", show_default=True, callback=_int_list, help="GM programs (0-based).")
@click.option("--pitches", default="21-108", show_default=True, callback=_int_list, help="MIDI pitches, e.g. 21-108:3.")
@click.option("--velocities", default="25,50,75,100,127", show_default=True, callback=_int_list)
@click.option("--hold", default=3.0, show_default=True, type=click.FloatRange(min=0.01), help="Seconds held.")
@click.option(
    "--release", default=1.0, show_default=True, type=click.FloatRange(min=0.0), help="Seconds after note-off."
)
@click.option("--valid-programs", default=None, callback=_int_list, help="Programs held out as the valid split.")
@click.option(
    "--valid-fraction",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 0.9),
    help="Share of programs held out as the valid split (drawn with --seed).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--force", is_flag=True, help="Re-render notes that already exist.")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Rendering processes (one per program)."
)
def render_soundfont(
    font: Path,
    out_dir: Path,
    programs: list[int],
    pitches: list[int],
    velocities: list[int],
    hold: float,
    release: float,
    valid_programs: list[int] | None,
    valid_fraction: float,
    seed: int,
    force: bool,
    workers: int,
) -> None:
    """Render a SoundFont into an NSynth-style dataset (JSON/WAV layout, 16 kHz notes)."""
    from nsynth.data.soundfont import render_soundfont as render

    report = render(
        font,
        out_dir,
        programs=programs,
        pitches=pitches,
        velocities=velocities,
        hold=hold,
        release=release,
        valid_programs=valid_programs or (),
        valid_fraction=valid_fraction,
        seed=seed,
        force=force,
        workers=workers,
    )
    click.echo(f"{report.written} notes in {out_dir}")
    for split, progs in report.splits.items():
        click.echo(f"  {split}: programs {','.join(map(str, progs))}")
    if report.silent:
        click.echo(
            f"skipped {len(report.silent)} silent notes: {', '.join(report.silent[:10])}"
            + (" ..." if len(report.silent) > 10 else "")
        )
    if report.missing_programs:
        click.echo(f"programs not in the font: {','.join(map(str, report.missing_programs))}")


@main.command()
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--preset", default="pitched", show_default=True, help="Model preset (pitched, mini, nsynth, magenta).")
@click.option(
    "--model-config",
    "model_config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help='JSON file of config overrides on the preset, e.g. {"decoder": {"layers": 10}}.',
)
@click.option(
    "--valid",
    "valid_path",
    type=click.Path(path_type=Path),
    help="Held-out dataset [default: every DATA/valid where DATA has train/ and valid/].",
)
@click.option("--steps", default=20000, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--crop", default=6144, show_default=True, type=click.IntRange(min=16), help="Samples per crop.")
@click.option("--lr", default=None, type=float, help="Peak learning rate [default: 2e-4 nsynth/magenta, 1e-3 others].")
@click.option(
    "--schedule",
    type=click.Choice(["magenta", "cosine", "constant"]),
    help="LR schedule [default: magenta for nsynth/magenta, cosine otherwise].",
)
@click.option("--ema-decay", default=0.9999, show_default=True, type=click.FloatRange(0.0, 1.0))
@click.option("--grad-clip", default=1.0, show_default=True, type=float)
@click.option(
    "--input-noise",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Std of Gaussian noise on the decoder's input during training (a mu-law step is 1/128).",
)
@click.option("--checkpoint-every", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--valid-every", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0), help="DataLoader workers.")
@click.option("--amp/--no-amp", default=None, help="bf16 autocast [default: on for CUDA].")
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile [default: on for CUDA].")
@click.option("--family", "families", multiple=True, help="Keep only these instrument families.")
@click.option("--source", "sources", multiple=True, help="Keep only these sources.")
@click.option("--pitch-range", default=None, help="Keep pitches LO-HI, e.g. 24-96.")
@click.option("--velocities", default=None, callback=_int_list, help="Keep these velocities.")
@click.option("--pitch-csv", type=click.Path(dir_okay=False, path_type=Path), help="CSV of path,pitch for folders.")
@click.option("--resume", is_flag=True, help="Continue the run in RUN_DIR from its last checkpoint.")
@click.option(
    "--init-from",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Start from this weights file, e.g. the shipped model; of another config, its tensors of matching"
    " name and shape are copied.",
)
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--seed", default=0, show_default=True, type=int)
def train(
    data: tuple[Path, ...],
    run_dir: Path,
    preset: str,
    model_config_path: Path | None,
    valid_path: Path | None,
    steps: int,
    batch_size: int,
    crop: int,
    lr: float | None,
    schedule: str | None,
    ema_decay: float,
    grad_clip: float,
    input_noise: float,
    checkpoint_every: int,
    valid_every: int,
    workers: int,
    amp: bool | None,
    compile_: bool | None,
    families: tuple[str, ...],
    sources: tuple[str, ...],
    pitch_range: str | None,
    velocities: list[int] | None,
    pitch_csv: Path | None,
    resume: bool,
    init_from: Path | None,
    device: str,
    seed: int,
) -> None:
    """Train (or --resume) a model on DATA: NSynth folders, TFRecords or folders of audio (several are joined)."""
    from nsynth.config import get_preset
    from nsynth.data import NoteDataset, NoteFilter, open_dataset
    from nsynth.generation import resolve_device
    from nsynth.training import TrainConfig
    from nsynth.training import train as run_training

    try:
        model_config = get_preset(preset)
    except ValueError as e:
        raise NSynthError(f"--preset: {e}") from None
    if model_config_path is not None:
        try:
            model_config = model_config.replace(**_read_json(model_config_path))
        except (ValueError, TypeError) as e:
            raise NSynthError(f"{model_config_path}: {e}") from None
    lo, hi = (None, None)
    if pitch_range:
        try:
            lo, hi = (int(v) for v in pitch_range.split("-"))
        except ValueError:
            raise NSynthError(f"--pitch-range {pitch_range!r}: expected LO-HI, e.g. 24-96") from None
    note_filter = NoteFilter(tuple(families), tuple(sources), lo, hi, tuple(velocities or ()))
    rate = model_config.sample_rate
    split = [
        (d / "train", d / "valid") if (d / "train").is_dir() and (d / "valid").is_dir() else (d, None) for d in data
    ]
    train_ds = NoteDataset.concat([open_dataset(t, rate, note_filter, pitch_csv) for t, _ in split])
    valid_paths = [valid_path] if valid_path else [v for _, v in split if v is not None]
    valid_ds = (
        NoteDataset.concat([open_dataset(v, rate, note_filter, pitch_csv) for v in valid_paths])
        if valid_paths
        else None
    )
    cuda = resolve_device(device).type == "cuda"
    big = preset in ("nsynth", "magenta")
    cfg = TrainConfig(
        steps=steps,
        batch_size=batch_size,
        crop=crop,
        lr=lr or (2e-4 if big else 1e-3),
        schedule=schedule or ("magenta" if big else "cosine"),
        ema_decay=ema_decay,
        grad_clip=grad_clip,
        input_noise=input_noise,
        checkpoint_every=checkpoint_every,
        valid_every=valid_every,
        seed=seed,
        workers=workers,
        amp=cuda if amp is None else amp,
        compile=cuda if compile_ is None else compile_,
    )
    click.echo(
        f"training {preset} on {len(train_ds)} notes" + (f", validating on {len(valid_ds)}" if valid_ds else ""),
        err=True,
    )
    result = run_training(
        model_config,
        train_ds,
        run_dir,
        cfg,
        valid_data=valid_ds,
        resume=resume,
        init_from=init_from,
        device=device,
        log=lambda m: click.echo(m, err=True),
    )
    click.echo(
        f"step {result.step}: loss {result.train_loss:.4f}"
        + (f", valid {result.valid_loss:.4f}" if result.valid_loss is not None else "")
        + f", {result.samples_per_s:,.0f} samples/s; weights: {run_dir / 'model.safetensors'}"
    )


@main.command("import-magenta")
@click.argument("prefix", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Weights file to write (.safetensors).",
)
@click.option("--ema", is_flag=True, help="Take the ExponentialMovingAverage shadows instead of the raw weights.")
@click.option(
    "--dilation-cycle",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Magenta's num_stages (10 in h512_bo16); not stored in the checkpoint.",
)
@click.option("--hop", default=512, show_default=True, type=click.IntRange(min=1), help="Encoder hop (ae_hop_length).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT.")
def import_magenta(prefix: Path, out: Path, ema: bool, dilation_cycle: int, hop: int, force: bool) -> None:
    """Convert Magenta's NSynth TF checkpoint (e.g. wavenet-ckpt/model.ckpt-200000) without TensorFlow."""
    from nsynth.files import check_outputs
    from nsynth.magenta import convert

    check_outputs([out], force)
    r = convert(prefix, out, ema=ema, dilation_cycle=dilation_cycle, hop=hop, force=force)
    n = sum(p.numel() for p in r.model.parameters())
    click.echo(
        f"{out}: {len(r.used)} variables, {n:,} parameters"
        + (f", step {r.global_step}" if r.global_step is not None else "")
        + f" ({'EMA' if ema else 'raw'} weights; {len(r.ignored)} optimizer/other variables ignored)"
    )


@main.command()
@click.option("--presets", default="pitched,mini,nsynth", show_default=True, help="Comma-separated presets.")
@click.option("--batches", default=None, help="Comma-separated batch sizes [default: 1,8,16; on GPU also 64,512].")
@click.option(
    "--seconds",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Target duration of each timed run.",
)
@click.option(
    "--repeats",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Timed runs per measurement; the best is kept.",
)
@click.option("--precision", default="auto", show_default=True, type=click.Choice(["auto", "fp32", "bf16"]))
@click.option("--no-naive", is_flag=True, help="Skip the (slow) naive baseline.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of rows instead of the table.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
def bench(
    presets: str,
    batches: str | None,
    seconds: float,
    repeats: int,
    precision: str,
    no_naive: bool,
    as_json: bool,
    device: str,
) -> None:
    """Measure generation speed (naive / reference / fast) and encoder speed."""
    import json

    from nsynth.bench import bench as run_bench
    from nsynth.bench import table
    from nsynth.generation import resolve_device

    dev = resolve_device(device)
    sizes = (
        [int(b) for b in batches.split(",")] if batches else ([1, 8, 16, 64, 512] if dev.type == "cuda" else [1, 8, 16])
    )
    rows = run_bench(presets.split(","), sizes, dev, seconds, precision, naive=not no_naive, repeats=repeats)
    click.echo(json.dumps([r.as_json() for r in rows], indent=1) if as_json else table(rows))


@main.command("map")
@click.argument("embeddings", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PNG picture; coordinates go to the same name with .csv.",
)
@click.option("--method", default="pca", show_default=True, type=click.Choice(["pca", "tsne"]))
@click.option("--color-by", default="family", show_default=True, type=click.Choice(["family", "source", "pitch"]))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--force", is_flag=True, help="Overwrite existing outputs.")
def map_(embeddings: tuple[Path, ...], out: Path, method: str, color_by: str, seed: int, force: bool) -> None:
    """A 2-D timbre map of embeddings (folders of .npy or consolidated .npz)."""
    from nsynth.analysis import load_set, timbre_map
    from nsynth.files import check_outputs

    check_outputs([out, out.with_suffix(".csv")], force)
    s = load_set(list(embeddings))
    table = timbre_map(s, out, method, color_by, force=force, seed=seed)
    click.echo(f"{out} and {table}: {len(s.names)} notes")


@main.command()
@click.argument("query", type=click.Path(path_type=Path))
@click.option(
    "--index",
    "index",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Embeddings to search (folder of .npy or consolidated .npz); repeatable.",
)
@click.option("-k", default=5, show_default=True, type=click.IntRange(min=1))
@_model_options
def neighbors(query: Path, index: tuple[Path, ...], k: int, checkpoint: Path | None, device: str) -> None:
    """The K notes whose timbre is nearest to QUERY (an audio file or a .npy embedding)."""
    from nsynth.analysis import load_set
    from nsynth.analysis import neighbors as nearest
    from nsynth.api import encode as api_encode
    from nsynth.audio import load_audio

    s = load_set(list(index))
    if query.suffix == ".npy":
        q = _read_embedding(query, s.pooled.shape[1])
    else:
        model = _load(checkpoint, device)
        q = api_encode(load_audio(query, model.config.sample_rate), model=model)
    for name, dist in nearest(s, q, k):
        click.echo(f"{dist:10.4f}  {name}")


@main.command()
@click.argument("embeddings", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--label", default="family", show_default=True, type=click.Choice(["family", "source", "pitch"]))
@click.option("--folds", default=5, show_default=True, type=click.IntRange(min=2))
@click.option("--seed", default=0, show_default=True, type=int)
def probe(embeddings: tuple[Path, ...], label: str, folds: int, seed: int) -> None:
    """How much LABEL the embeddings carry: cross-validated logistic-regression accuracy."""
    from nsynth.analysis import load_set
    from nsynth.analysis import probe as run_probe

    r = run_probe(load_set(list(embeddings)), label, folds, seed)
    click.echo(
        f"{label}: accuracy {r.accuracy:.3f} +- {r.accuracy_std:.3f} ({r.folds}-fold CV, {r.n} notes, "
        f"{r.classes} classes; majority-class baseline {r.chance:.3f})"
    )


def _read_json(path: Path) -> dict:
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise NSynthError(f"{path}: cannot read JSON ({e})") from None
    if not isinstance(data, dict):
        raise NSynthError(f"{path}: expected a JSON object")
    return data


@main.command()
@click.argument("checkpoint", required=False, type=click.Path(dir_okay=False, path_type=Path))
def info(checkpoint: Path | None) -> None:
    """Describe a weights file (default: the shipped model)."""
    import json

    from nsynth.weights import read_info

    meta = read_info(checkpoint)
    cfg = meta.config
    click.echo(f"file:             {meta.path}")
    click.echo(f"format version:   {meta.format_version}")
    for key in ("preset", "status", "source", "weights", "step", "train_loss", "valid_loss", "samples_seen", "note"):
        if meta.metadata.get(key):
            click.echo(f"{key + ':':18}{meta.metadata[key]}")
    click.echo(f"parameters:       {meta.n_parameters:,}")
    click.echo(
        f"receptive field:  {cfg.decoder.receptive_field()} samples "
        f"({1000 * cfg.decoder.receptive_field() / cfg.sample_rate:.1f} ms)"
    )
    click.echo(f"sample rate:      {cfg.sample_rate} Hz, hop {cfg.hop}, latent {cfg.latent_dim}")
    click.echo(f"pitch conditioned: {cfg.pitch_conditioning}")
    click.echo("config: " + json.dumps(cfg.to_dict(), indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
