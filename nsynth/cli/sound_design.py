"""Sound-design commands: grid, multisample, plot."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

from nsynth.cli.common import Synthesis, clip_options, pitch_list, require_files, sampling_options, status


@click.command()
@click.argument("corners", nargs=4, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--resolution", default=5, show_default=True, type=click.IntRange(min=2), help="Points per side.")
@click.option(
    "--pitches", default="36,48,60,72", show_default=True, callback=pitch_list, help="MIDI numbers or note names."
)
@clip_options("Read this many seconds of each corner: the length of each note [default: the longest corner].")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@sampling_options
def grid(
    corners: tuple[Path, ...],
    out_dir: Path,
    resolution: int,
    pitches: list[int],
    offset: float,
    seconds: float | None,
    batch_size: int,
    synth: Synthesis,
) -> None:
    """An NSynth-Super grid between corners NW NE SW SE (files, or folders of one file per pitch).

    Point (row i, column j) mixes the corner embeddings with bilinear weights
    ((1-u)(1-v), u(1-v), (1-u)v, uv), u = j/(R-1), v = i/(R-1). Existing outputs are kept
    (re-running resumes) unless --force; everything is listed in DIR/manifest.json.
    """
    model = synth.model()
    from nsynth.sound_design import grid as run_grid  # torch: after the first line

    written, skipped = run_grid(
        model,
        corners,
        out_dir,
        resolution=resolution,
        pitches=pitches,
        sampling=synth.sampling,
        batch=batch_size,
        fmt=synth.fmt,
        model_path=synth.model_path,
        seconds=seconds,
        offset=offset,
        file_rate=synth.file_rate,
        force=synth.force,
    )
    click.echo(f"{out_dir}: {written} notes written, {skipped} already there")


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--pitches", default="36-84:3", show_default=True, callback=pitch_list, help="MIDI numbers or note names."
)
@click.option(
    "--alpha",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="With two sources: the interpolation point (0 = first, 1 = second).",
)
@click.option("--name", help="Instrument name [default: the sources' names].")
@clip_options()
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@sampling_options
def multisample(
    sources: tuple[Path, ...],
    out_dir: Path,
    pitches: list[int],
    alpha: float,
    name: str | None,
    offset: float,
    seconds: float | None,
    batch_size: int,
    synth: Synthesis,
) -> None:
    """Render a sound across the keyboard and write a playable SFZ instrument."""
    model = synth.model()
    from nsynth.sound_design import multisample as run_multisample  # torch: after the first line

    sfz, written, skipped = run_multisample(
        model,
        sources,
        out_dir,
        pitches=pitches,
        alpha=alpha,
        name=name,
        sampling=synth.sampling,
        batch=batch_size,
        fmt=synth.fmt,
        model_path=synth.model_path,
        offset=offset,
        seconds=seconds,
        file_rate=synth.file_rate,
        force=synth.force,
    )
    click.echo(f"{sfz}: {len(pitches)} regions ({written} samples written, {skipped} already there)")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", default="rainbowgram", show_default=True, type=click.Choice(["rainbowgram", "mel"]))
@clip_options()
@click.option("--force", is_flag=True, help="Overwrite OUTPUT.")
def plot(files: tuple[Path, ...], out: Path, kind: str, offset: float, seconds: float | None, force: bool) -> None:
    """Side-by-side pictures of sounds (PNG)."""
    from nsynth.files import check_outputs

    check_outputs([out], force)
    require_files(*files)
    status(f"drawing {'mel spectrograms' if kind == 'mel' else 'rainbowgrams'} of {len(files)} sound(s) ...")
    from nsynth.audio import load_audio  # torch, librosa, matplotlib: after the checks and the first line
    from nsynth.plot import plot_sounds

    sounds = [load_audio(f, 16000, offset=offset, seconds=seconds) for f in files]
    plot_sounds(sounds, panel_titles(files), 16000, out, kind, force=force)
    click.echo(str(out))


def panel_titles(files: Sequence[Path]) -> list[str]:
    """Each file's name, with as many of its folders as it takes to tell files of the same name
    apart (a note and its reconstruction: ``flute.wav`` and ``reconstruct/flute.wav``)."""
    parts = [Path(os.path.abspath(f)).parts for f in files]
    depth = 1
    while depth < max(map(len, parts)) and len({p[-depth:] for p in parts}) < len(set(parts)):
        depth += 1
    return [str(Path(*p[-depth:])) for p in parts]


COMMANDS = [grid, multisample, plot]
