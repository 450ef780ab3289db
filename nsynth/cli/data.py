"""Data commands: encode (embedding extraction), render-soundfont, map, neighbors, probe."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nsynth.cli.common import (
    EXIT_USER_ERROR,
    clip_options,
    int_list,
    load,
    model_options,
    read_embedding,
    report,
    status,
)


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


@click.command()
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
@clip_options("Encode only this many seconds of each note [default: to its end].")
@model_options
def encode(
    paths: tuple[Path, ...],
    out_dir: Path,
    force: bool,
    shard: tuple[int, int] | None,
    consolidated: Path | None,
    batch_size: int,
    workers: int,
    offset: float,
    seconds: float | None,
    checkpoint: Path | None,
    device: str,
) -> None:
    """Encode audio files, folders and NSynth datasets to float32 (frames, 16) .npy files.

    Resumable: outputs are written atomically and existing ones are skipped. A bad file is
    reported and skipped; the exit status is non-zero if any failed.
    """
    status(f"encoding {_listed(paths)} into {out_dir} ...")
    if not any(p.exists() for p in paths):  # refused before the model loads (``plan`` words it the same)
        for p in paths:
            report(f"{p}: no such file or folder")
        sys.exit(EXIT_USER_ERROR)
    from nsynth.extract import consolidate, extract, plan, worker_device  # torch: after the first line

    model = load(checkpoint, worker_device(device))
    cfg = model.config
    work = plan(list(paths), out_dir, cfg.sample_rate, shard, on_error=report)
    if offset or seconds is not None:
        work = _clipped(work, cfg.sample_rate, offset, seconds)
    done = extract(model, work.jobs, force=force, batch_size=batch_size, workers=workers, on_error=report)
    failed = len(done.failed) + work.failed_inputs
    click.echo(
        f"encoded {done.done}, skipped {done.skipped} already done, failed {failed}"
        f" ({done.seconds_of_audio / 3600:.2f} h of audio in {done.wall_seconds:.1f} s"
        f", {done.seconds_of_audio / max(done.wall_seconds, 1e-9):.0f}x real time)"
    )
    if consolidated is not None:
        n = consolidate(
            work.jobs if work.sharded else work.all_jobs, consolidated, cfg.latent_dim, cfg.hop, cfg.sample_rate
        )
        click.echo(f"{consolidated}: {n} embeddings")
    if failed:
        sys.exit(EXIT_USER_ERROR)


def _clipped(work, rate: int, offset: float, seconds: float | None):
    """``work`` whose jobs load only the part of each note that --offset / --seconds select."""
    import dataclasses

    from nsynth.audio import clip_audio
    from nsynth.cli.common import user_message
    from nsynth.errors import NSynthError

    def part(job):
        def load():
            try:
                return clip_audio(job.load(), rate, offset, seconds, name=job.path)
            except NSynthError as e:  # the worker reports it as the CLI words it
                raise NSynthError(user_message(e)) from None

        return dataclasses.replace(job, load=load)

    return dataclasses.replace(work, jobs=[part(j) for j in work.jobs], all_jobs=[part(j) for j in work.all_jobs])


@click.command("render-soundfont")
@click.argument("font", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--programs", default="0-111", show_default=True, callback=int_list, help="GM programs (0-based).")
@click.option("--pitches", default="21-108", show_default=True, callback=int_list, help="MIDI pitches, e.g. 21-108:3.")
@click.option("--velocities", default="25,50,75,100,127", show_default=True, callback=int_list)
@click.option("--hold", default=3.0, show_default=True, type=click.FloatRange(min=0.01), help="Seconds held.")
@click.option(
    "--release", default=1.0, show_default=True, type=click.FloatRange(min=0.0), help="Seconds after note-off."
)
@click.option("--valid-programs", default=None, callback=int_list, help="Programs held out as the valid split.")
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
    status(f"rendering {font} into {out_dir} ...")
    from nsynth.data.soundfont import render_soundfont as render  # torch: after the first line

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


@click.command("map")
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
@click.option(
    "--label-points",
    default=30,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Write each note's name beside its point on maps of at most N notes (0: never).",
)
@click.option("--force", is_flag=True, help="Overwrite existing outputs.")
def map_(
    embeddings: tuple[Path, ...], out: Path, method: str, color_by: str, seed: int, label_points: int, force: bool
) -> None:
    """A 2-D timbre map of embeddings (folders of .npy or consolidated .npz), with a legend of
    the groups and, on small maps, each point's note name; coordinates and names go to a CSV."""
    from nsynth.files import check_outputs

    check_outputs([out, out.with_suffix(".csv")], force)
    status(f"mapping the embeddings in {_listed(embeddings)} ...")
    from nsynth.analysis import load_set, timbre_map  # torch, sklearn: after the checks and the first line

    s = load_set(list(embeddings))
    table = timbre_map(s, out, method, color_by, force=force, seed=seed, label_points=label_points)
    click.echo(f"{out} and {table}: {len(s.names)} notes")


@click.command()
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
@clip_options("With an audio QUERY: read only this many seconds of it [default: to its end].")
@model_options
def neighbors(
    query: Path,
    index: tuple[Path, ...],
    k: int,
    offset: float,
    seconds: float | None,
    checkpoint: Path | None,
    device: str,
) -> None:
    """The K notes whose timbre is nearest to QUERY (an audio file or a .npy embedding)."""
    status(f"searching {_listed(index)} for the neighbours of {query} ...")
    from nsynth.analysis import load_set  # torch: after the first line
    from nsynth.analysis import neighbors as nearest
    from nsynth.api import encode as api_encode
    from nsynth.audio import load_audio

    s = load_set(list(index))
    if query.suffix == ".npy":
        q = read_embedding(query, s.pooled.shape[1])
    else:
        model = load(checkpoint, device)
        q = api_encode(load_audio(query, model.config.sample_rate, offset=offset, seconds=seconds), model=model)
    for name, dist in nearest(s, q, k):
        click.echo(f"{dist:10.4f}  {name}")


@click.command()
@click.argument("embeddings", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--label", default="family", show_default=True, type=click.Choice(["family", "source", "pitch"]))
@click.option("--folds", default=5, show_default=True, type=click.IntRange(min=2))
@click.option("--seed", default=0, show_default=True, type=int)
def probe(embeddings: tuple[Path, ...], label: str, folds: int, seed: int) -> None:
    """How much LABEL the embeddings carry: cross-validated logistic-regression accuracy."""
    status(f"probing the embeddings in {_listed(embeddings)} for {label} ...")
    from nsynth.analysis import load_set  # torch, sklearn: after the first line
    from nsynth.analysis import probe as run_probe

    r = run_probe(load_set(list(embeddings)), label, folds, seed)
    click.echo(
        f"{label}: accuracy {r.accuracy:.3f} +- {r.accuracy_std:.3f} ({r.folds}-fold CV, {r.n} notes, "
        f"{r.classes} classes; majority-class baseline {r.chance:.3f})"
    )


def _listed(paths: tuple[Path, ...]) -> str:
    return ", ".join(map(str, paths[:3])) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


COMMANDS = [encode, render_soundfont, map_, neighbors, probe]
