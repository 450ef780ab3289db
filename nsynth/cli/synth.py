"""Synthesis commands: decode, reconstruct, interpolate, morph."""

from __future__ import annotations

from pathlib import Path

import click

from nsynth.cli.common import (
    Failures,
    Synthesis,
    clip_options,
    per_input,
    pitch_and_source,
    pitch_from_option,
    pitch_option,
    read_embedding,
    require_files,
    sampling_options,
)
from nsynth.errors import NSynthError


@click.command()
@click.argument("embeddings", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@pitch_option(None)
@sampling_options
def decode(
    embeddings: tuple[Path, ...],
    out_dir: Path,
    pitch: int | None,
    synth: Synthesis,
) -> None:
    """Synthesise EMB.npy files (frames, 16) to DIR/<stem>.wav, as one batch."""
    from nsynth.files import check_outputs

    outs = per_input(embeddings, ".wav", out_dir)
    check_outputs(outs, synth.force)
    failed = Failures()
    there = failed.existing(embeddings, kind="an embedding file")
    if not any(there):
        failed.exit(len(embeddings))
    model = synth.model()
    from nsynth.generation import generate_audio  # torch: after the checks and the first line

    if model.config.pitch_conditioning and pitch is None:
        raise NSynthError("this model is pitch-conditioned: give --pitch MIDI or NOTE")
    loaded = [
        (o, failed(lambda e=e: read_embedding(e, model.config.latent_dim)))
        for e, o, ok in zip(embeddings, outs, there)
        if ok
    ]
    loaded = [(o, z) for o, z in loaded if z is not None]
    if loaded:
        pitches = [pitch] * len(loaded) if pitch is not None else None
        audio = generate_audio(model, [z for _, z in loaded], pitches, sampling=synth.sampling)
        for (o, _), a in zip(loaded, audio):
            synth.save(o, a, model.config.sample_rate)
    failed.exit(len(embeddings))


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@pitch_option("auto")
@clip_options()
@sampling_options
def reconstruct(
    files: tuple[Path, ...],
    out_dir: Path,
    pitch: int | str,
    offset: float,
    seconds: float | None,
    synth: Synthesis,
) -> None:
    """Encode and re-synthesise audio FILES to DIR/<stem>.wav, as one batch."""
    from nsynth.files import check_outputs

    outs = per_input(files, ".wav", out_dir)
    check_outputs(outs, synth.force)
    failed = Failures()
    there = failed.existing(files)
    if not any(there):
        failed.exit(len(files))
    model = synth.model()
    from nsynth.api import note_pitch  # torch, librosa: after the checks and the first line
    from nsynth.api import reconstruct as api_reconstruct
    from nsynth.audio import load_audio

    notes = []  # a file that cannot be read, or whose pitch cannot be found, fails alone
    for f, o in [(f, o) for f, o, ok in zip(files, outs, there) if ok]:
        audio = failed(lambda: load_audio(f, model.config.sample_rate, offset=offset, seconds=seconds))
        p = None if audio is None else failed(lambda: note_pitch(audio, pitch, model=model, name=str(f)))
        if p is not None:
            notes.append((o, audio, p))
    if notes:
        audio = api_reconstruct(
            [a for _, a, _ in notes], pitch=[p for _, _, p in notes], model=model, sampling=synth.sampling
        )
        for (o, _, _), a in zip(notes, audio):
            synth.save(o, a, model.config.sample_rate)
    failed.exit(len(files))


@click.command()
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
@pitch_option("auto")
@pitch_from_option
@clip_options()
@sampling_options
def interpolate(
    a: Path,
    b: Path,
    steps: int,
    out_dir: Path | None,
    mix: bool,
    plot: bool,
    pitch: int | str,
    pitch_from: int | str | None,
    offset: float,
    seconds: float | None,
    synth: Synthesis,
) -> None:
    """Interpolate between notes A and B in the latent space.

    Writes STEPS files from pure A (alpha 0) to pure B (alpha 1), named so they sort:
    00_alpha0.00.wav ... 04_alpha1.00.wav, and DIR/manifest.json. All steps are generated as
    one batch. Notes of different lengths: the shorter is padded with silence to the longer.
    """
    from nsynth.files import check_outputs
    from nsynth.interpolation import alphas, crossfade, pair_pitch
    from nsynth.interpolation import interpolate as api_interpolate

    pitch, source = pitch_and_source(pitch, pitch_from)
    out_dir = out_dir or Path(f"{a.stem}_to_{b.stem}")
    weights = alphas(steps)
    width = max(2, len(str(steps - 1)))
    outs = [out_dir / f"{i:0{width}d}_alpha{w:.2f}.wav" for i, w in enumerate(weights)]
    mixes = [o.with_name("mix_" + o.name) for o in outs] if mix else []
    picture = out_dir / "interpolation.png"
    manifest_path = out_dir / "manifest.json"
    check_outputs(outs + mixes + ([picture] if plot else []) + [manifest_path], synth.force)
    require_files(a, b)
    model = synth.model()
    from nsynth.audio import load_audio  # torch: after the checks and the first line

    rate = model.config.sample_rate
    audio_a, audio_b = (load_audio(f, rate, offset=offset, seconds=seconds) for f in (a, b))
    names = (str(a), str(b))
    played = pair_pitch(audio_a, audio_b, pitch=pitch, pitch_from=source, model=model, names=names)
    notes = api_interpolate(audio_a, audio_b, steps, pitch=played, model=model, sampling=synth.sampling, names=names)
    written = [(o, note) for o, note in zip(outs, notes)]
    written += [(o, crossfade(audio_a, audio_b, float(w))) for o, w in zip(mixes, weights)]
    for o, note in written:
        synth.save(o, note, rate)
    if plot:
        from nsynth.plot import plot_sounds

        plot_sounds(notes, [f"alpha {w:.2f}" for w in weights], rate, picture, force=synth.force)
        click.echo(str(picture))
    settings = dict(command="interpolate", steps=steps, a=str(a), b=str(b), offset=offset, seconds=seconds)
    settings |= dict(pitch=played.midi, pitch_from=source if pitch == "auto" else None)
    settings |= dict(follows_f0=played.f0 is not None)
    from nsynth.sound_design import Manifest

    _write_manifest(Manifest(manifest_path), synth, model, settings, outs, mixes, weights, picture if plot else None)


def _write_manifest(manifest, synth: Synthesis, model, settings: dict, outs, mixes, weights, picture) -> None:
    """DIR/manifest.json of an interpolation: its settings, then every file with its alpha and rate."""
    model_rate = model.config.sample_rate
    rate = synth.rate(model_rate)
    manifest.settings = {"weights": synth.model_path or "default", "model_sample_rate": model_rate, "sample_rate": rate}
    manifest.settings |= {**settings, **synth.sampling.for_model(model).as_dict()}
    for o, w in zip(outs, weights):
        manifest.add(o, alpha=float(w), pitch=settings["pitch"], seed=synth.sampling.seed, sample_rate=rate)
    for o, w in zip(mixes, weights):
        manifest.add(o, alpha=float(w), crossfade=True, sample_rate=rate)
    if picture is not None:
        manifest.add(picture, picture=True)
    manifest.write()
    click.echo(str(manifest.path))


@click.command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--curve", default="linear", show_default=True, type=click.Choice(["linear", "ease", "hold"]))
@pitch_option("auto")
@pitch_from_option
@clip_options()
@sampling_options
def morph(
    a: Path,
    b: Path,
    out: Path,
    curve: str,
    pitch: int | str,
    pitch_from: int | str | None,
    offset: float,
    seconds: float | None,
    synth: Synthesis,
) -> None:
    """One note whose timbre moves from A to B over its length (the mix varies per frame)."""
    from nsynth.files import check_outputs
    from nsynth.interpolation import morph as api_morph

    pitch, source = pitch_and_source(pitch, pitch_from)
    check_outputs([out], synth.force)
    require_files(a, b)
    model = synth.model()
    from nsynth.audio import load_audio  # torch: after the checks and the first line

    rate = model.config.sample_rate
    note = api_morph(
        load_audio(a, rate, offset=offset, seconds=seconds),
        load_audio(b, rate, offset=offset, seconds=seconds),
        curve,
        pitch=pitch,
        pitch_from=source,
        model=model,
        sampling=synth.sampling,
        names=(str(a), str(b)),
    )
    synth.save(out, note, rate)


COMMANDS = [decode, reconstruct, interpolate, morph]
