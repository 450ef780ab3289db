"""Model commands: train, evaluate, import-magenta, bench, info."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from nsynth.cli.common import (
    backend_option,
    device_option,
    int_list,
    load,
    min_p_option,
    postfilter_option,
    model_options,
    read_json,
    status,
    temperature_option,
)
from nsynth.errors import NSynthError
from nsynth.generation.options import Sampling

if TYPE_CHECKING:
    from nsynth.config import ModelConfig


def _resumed_settings(run_dir: Path, model_config: ModelConfig, settings: dict) -> ModelConfig:
    """--resume: the model config and training settings the run in ``run_dir`` recorded in its
    config.json, where the command line did not give them (``settings`` is updated in place;
    an option given that differs from the record wins, with a note). Returns the model config."""
    import dataclasses

    from nsynth.config import ModelConfig
    from nsynth.training import TrainConfig

    path = run_dir / "config.json"
    if not path.is_file():
        return model_config  # a run without a record: the options as given
    record = read_json(path)
    ctx = click.get_current_context()
    option = {"compile": "compile_"}  # TrainConfig field -> click parameter, where they differ

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)

    if not given("preset") and not given("model_config_path") and "model" in record:
        try:
            model_config = ModelConfig.from_dict(record["model"])
        except (ValueError, TypeError, KeyError) as e:
            raise NSynthError(f"{path}: model config: {e}") from None
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, value in (record.get("train") or {}).items():
        if name not in fields:
            continue  # a setting this version no longer has
        param = option.get(name, name)
        if name in settings and given(param):
            if settings[name] != value and name != "steps":  # more steps: what resuming is for
                flag = "--" + param.rstrip("_").replace("_", "-")
                said = f"{flag} {settings[name]} differs from the run's {value} ({path}); using {settings[name]}"
                click.echo(f"note: {said}", err=True)
            continue
        settings[name] = value
    return model_config


@click.command()
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
@click.option(
    "--self-feed",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Fraction of the decoder's input samples swapped for its own draws during training"
    " (parallel scheduled sampling; costs one extra forward pass).",
)
@click.option(
    "--plateaus",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Probability per crop that a stretch of the decoder's input (64-1,024 samples) is held at a random"
    " level during training, the targets unchanged (against decoders locking onto a constant).",
)
@click.option(
    "--rooms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Probability per crop that a random synthetic room (RT60 0.2-1.5 s) is mixed into the note"
    " (input and target alike: reverberant notes to learn from).",
)
@click.option(
    "--level-db",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 60.0),
    help="Attenuate each crop by a random 0..DB dB (input and target alike: quiet notes to learn from).",
)
@click.option(
    "--lsd-loss",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="A parallel decoder's loss: add this weight times the log-spectral distance `nsynth evaluate` scores"
    " (per frame the RMS of the dB difference, squaring big errors where the L1 of logs does not).",
)
@click.option(
    "--f0",
    default="label",
    show_default=True,
    type=click.Choice(["label", "track"]),
    help="The parallel decoder's f0 in training: its MIDI label's, or each note's own, the curve it"
    " follows at inference (nsynth.pitch.note_f0, around the label, computed once and cached; 30 %% of"
    " SoundFont notes sit 5 cents or more off their label, ~6 %% repeat at twice its period).",
)
@click.option("--checkpoint-every", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--valid-every", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0), help="DataLoader workers.")
@click.option("--amp/--no-amp", default=None, help="bf16 autocast [default: on for CUDA].")
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile [default: on for CUDA].")
@click.option("--family", "families", multiple=True, help="Keep only these instrument families.")
@click.option("--source", "sources", multiple=True, help="Keep only these sources.")
@click.option("--pitch-range", default=None, help="Keep pitches LO-HI, e.g. 24-96 or C1-C7.")
@click.option("--velocities", default=None, callback=int_list, help="Keep these velocities.")
@click.option("--pitch-csv", type=click.Path(dir_okay=False, path_type=Path), help="CSV of path,pitch (60 or C4) for folders.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in RUN_DIR from its last checkpoint, with the model and settings its config.json"
    " records (an option given overrides its record, with a note).",
)
@click.option(
    "--init-from",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Start from this weights file, e.g. the shipped model; of another config, its tensors of matching"
    " name and shape are copied.",
)
@device_option()
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
    self_feed: float,
    plateaus: float,
    rooms: float,
    level_db: float,
    lsd_loss: float,
    f0: str,
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
    status(f"reading the training data in {', '.join(map(str, data))} ...")
    from nsynth.config import get_preset
    from nsynth.data import NoteFilter, open_training_data, parse_pitch_range
    from nsynth.device import resolve_device
    from nsynth.training import TrainConfig
    from nsynth.training import train as run_training

    try:
        model_config = get_preset(preset)
    except ValueError as e:
        raise NSynthError(f"--preset: {e}") from None
    if model_config_path is not None:
        try:
            model_config = model_config.replace(**read_json(model_config_path))
        except (ValueError, TypeError) as e:
            raise NSynthError(f"{model_config_path}: {e}") from None
    lo, hi = parse_pitch_range(pitch_range) if pitch_range else (None, None)
    note_filter = NoteFilter(tuple(families), tuple(sources), lo, hi, tuple(velocities or ()))
    settings = dict(
        steps=steps,
        batch_size=batch_size,
        crop=crop,
        lr=lr,
        schedule=schedule,
        ema_decay=ema_decay,
        grad_clip=grad_clip,
        input_noise=input_noise,
        self_feed=self_feed,
        plateaus=plateaus,
        rooms=rooms,
        level_db=level_db,
        lsd_loss=lsd_loss,
        f0=f0,
        checkpoint_every=checkpoint_every,
        valid_every=valid_every,
        seed=seed,
        workers=workers,
        amp=amp,
        compile=compile_,
    )
    if resume:
        model_config = _resumed_settings(run_dir, model_config, settings)
    train_ds, valid_ds = open_training_data(data, valid_path, model_config.sample_rate, note_filter, pitch_csv)
    cfg = TrainConfig.for_preset(preset, cuda=resolve_device(device).type == "cuda", **settings)
    click.echo(
        (f"resuming {run_dir}" if resume else f"training {preset}")
        + f" on {len(train_ds)} notes" + (f", validating on {len(valid_ds)}" if valid_ds else ""),
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


@click.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path), help="JSON report.")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate an evenly spaced subset of this many notes.")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1))
@backend_option
@click.option("--seed", default=0, show_default=True, type=int)
@temperature_option
@min_p_option
@postfilter_option
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
@model_options
def evaluate(
    data: Path,
    out: Path | None,
    limit: int | None,
    batch_size: int,
    backend: str,
    seed: int,
    temperature: float | None,
    min_p: float | None,
    postfilter: float | None,
    period_source: str,
    pairs: int,
    force: bool,
    checkpoint: Path | None,
    device: str,
) -> None:
    """Reconstruct a dataset's notes; report pitch agreement and LSD against sine and silence baselines."""
    from nsynth.files import check_outputs

    if out is not None:
        check_outputs([out], force)
    model = load(checkpoint, device)
    from nsynth.data import open_dataset  # torch, librosa: after the checks and the first line
    from nsynth.evaluate import evaluate as run_eval
    from nsynth.evaluate import format_report, write_report

    full = open_dataset(data, model.config.sample_rate)
    sampling = Sampling(seed=seed, temperature=temperature, backend=backend, min_p=min_p, postfilter=postfilter)
    report = run_eval(model, full.subset(limit), batch=batch_size, sampling=sampling, follow_f0=period_source == "f0")
    if pairs:  # pairs come from every note, not the --limit subset
        from nsynth.evaluate import evaluate_interpolation, interpolation_pairs

        report["interpolation"] = evaluate_interpolation(
            model, full, interpolation_pairs(full, pairs, seed), sampling=sampling
        )
    click.echo(format_report(report))
    if out is not None:
        write_report(report, out, force=force)
        click.echo(str(out))


@click.command("import-magenta")
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

    check_outputs([out], force)
    status(f"converting {prefix} ...")
    from nsynth.magenta import convert  # torch: after the checks and the first line

    r = convert(prefix, out, ema=ema, dilation_cycle=dilation_cycle, hop=hop, force=force)
    n = sum(p.numel() for p in r.model.parameters())
    click.echo(
        f"{out}: {len(r.used)} variables, {n:,} parameters"
        + (f", step {r.global_step}" if r.global_step is not None else "")
        + f" ({'EMA' if ema else 'raw'} weights; {len(r.ignored)} optimizer/other variables ignored)"
    )


@click.command()
@click.option(
    "--presets",
    default="pitched,parallel,mini,nsynth",
    show_default=True,
    help="Comma-separated presets, or weights files (*.safetensors, timed with their own config).",
)
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
@device_option()
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

    status("measuring generation and encoding speed ...")
    from nsynth.bench import bench as run_bench  # torch: after the first line
    from nsynth.bench import table
    from nsynth.device import resolve_device

    dev = resolve_device(device)
    sizes = (
        [int(b) for b in batches.split(",")] if batches else ([1, 8, 16, 64, 512] if dev.type == "cuda" else [1, 8, 16])
    )
    rows = run_bench(
        presets.split(","), sizes, dev, seconds, precision, naive=not no_naive, repeats=repeats, log=status
    )
    click.echo(json.dumps([r.as_json() for r in rows], indent=1) if as_json else table(rows))


@click.command()
@click.argument("checkpoint", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-c",
    "--checkpoint",
    "checkpoint_option",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The weights file, as the other commands take it (the same as CHECKPOINT).",
)
def info(checkpoint: Path | None, checkpoint_option: Path | None) -> None:
    """Describe a weights file (default: the shipped model)."""
    import json

    if checkpoint and checkpoint_option:
        raise click.UsageError("give the weights file once: CHECKPOINT or --checkpoint")
    checkpoint = checkpoint or checkpoint_option

    status(f"reading {checkpoint or 'the shipped model'} ...")
    from nsynth.weights import read_info, read_tensors  # torch: after the first line

    meta = read_info(checkpoint)
    read_tensors(meta)  # a damaged file stops here, with its one line; a version-1 file gets a note
    cfg = meta.config
    click.echo(f"file:             {meta.path}")
    click.echo(f"format version:   {meta.format_version}")
    verified = f"{meta.checksum} (verified)" if meta.checksum else "none (written before checksums; not verified)"
    click.echo(f"checksum:         {verified}")
    for key in (
        "preset",
        "status",
        "source",
        "weights",
        "step",
        "train_loss",
        "valid_loss",
        "samples_seen",
        "wall_seconds",
        "init_from",
        "heldout",
        "temperature",
        "min_p",
        "note",
    ):
        if meta.metadata.get(key):
            click.echo(f"{key + ':':18}{meta.metadata[key]}")
    click.echo(f"parameters:       {meta.n_parameters:,}")
    rf = cfg.decoder.receptive_field()
    if cfg.parallel:
        d = cfg.decoder
        fir = f", {2 * d.filter_taps + 1}-tap FIR" if d.filter_taps else ""
        fir += ", conditioned at its input" if d.filter_cond == "input" else ""
        filt = f"WaveNet filter {d.filter_layers}x{d.filter_channels} (fold {d.filter_fold}{fir})"
        extra = f" (folded above Nyquist up to {d.alias_limit:g} x sr)" if d.folds else ""
        extra += f", jittered by up to {d.jitter_cents:g} cents" if d.jitter_cents else ""
        extra += f", noise locked to them ({d.harmonic_noise:g} f0)" if d.harmonic_noise else ""
        click.echo(
            f"decoder:          parallel, one pass per note: {d.harmonics} harmonics{extra} + {d.noise_bands} noise"
            f" bands, {filt if d.filter_layers else 'no filter'}"
        )
        crf = d.control_receptive_field()
        click.echo(
            f"receptive field:  {rf} samples, centred ({1000 * rf / cfg.sample_rate:.1f} ms, the filter's);"
            f" the controls' {crf} ({1000 * crf / cfg.sample_rate:.0f} ms)"
        )
    else:
        click.echo(f"receptive field:  {rf} samples ({1000 * rf / cfg.sample_rate:.1f} ms)")
    click.echo(f"sample rate:      {cfg.sample_rate} Hz, hop {cfg.hop}, latent {cfg.latent_dim}")
    click.echo(f"pitch conditioned: {cfg.pitch_conditioning}")
    click.echo("config: " + json.dumps(cfg.to_dict(), indent=1))


COMMANDS = [train, evaluate, import_magenta, bench, info]
