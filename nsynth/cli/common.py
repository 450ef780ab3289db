"""What every command shares: the error rule, the model and sampling options, per-file failures."""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from nsynth.errors import NSynthError
from nsynth.generation.options import Sampling

EXIT_USER_ERROR = 1


class Group(click.Group):
    """User errors (``NSynthError``) become one line on stderr and exit status 1, without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NSynthError as e:
            click.echo(f"nsynth: error: {e}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            click.echo("nsynth: interrupted", err=True)
            ctx.exit(130)


class _EchoHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def show_api_messages() -> None:
    """Print the API's informational messages (e.g. an estimated pitch) on stderr."""
    log = logging.getLogger("nsynth")
    if not any(isinstance(h, _EchoHandler) for h in log.handlers):
        log.addHandler(_EchoHandler())
        log.setLevel(logging.INFO)
        log.propagate = False


def device_option(default: str = "auto") -> Callable:
    return click.option(
        "--device",
        default=default,
        show_default=True,
        type=click.Choice(["auto", "cpu", "cuda"]),
        help="Where to run the model.",
    )


checkpoint_option = click.option(
    "--checkpoint",
    "-c",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Weights file (.safetensors); default: the model shipped with nsynth.",
)


def model_options(f: Callable) -> Callable:
    """--checkpoint and --device."""
    return checkpoint_option(device_option()(f))


temperature_option = click.option(
    "--temperature",
    default=None,
    type=click.FloatRange(min=0.0),
    help="Softmax temperature of sampling (0 = greedy) [default: the model's recommended one, which `nsynth info`"
    " shows: 0.5 for the shipped model, 1.0 where its weights file names none].",
)

min_p_option = click.option(
    "--min-p",
    "min_p",
    default=None,
    type=click.FloatRange(min=0.0, max=1.0, max_open=True),
    help="Leave out sample values less likely than this fraction of the most likely one (0 = keep all)"
    " [default: the model's recommended one: 0 for the shipped model, 0 where its weights file names none].",
)

def _postfilter_arg(ctx: click.Context, param: click.Parameter, value: str) -> float | None:
    text = str(value).strip().lower()
    if text == "auto":
        return None
    if text == "off":
        return 0.0
    try:
        strength = float(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not auto, off or a strength from 0 to 1") from None
    if not 0.0 <= strength <= 1.0:
        raise click.BadParameter(f"{value!r}: the strength must be from 0 to 1")
    return strength


postfilter_option = click.option(
    "--postfilter",
    default="auto",
    show_default=True,
    callback=_postfilter_arg,
    help="Pitch-synchronous postfilter on each render, at the period it was generated with: auto (on for"
    " pitch-locked models, such as the shipped one), off, or a strength from 0 to 1.",
)

backend_option = click.option(
    "--backend",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "reference", "fast"]),
    help="Generation backend: fused CPU kernel / CUDA graphs ('fast') or the eager reference.",
)

force_option = click.option("--force", is_flag=True, help="Overwrite existing outputs.")


@dataclass(frozen=True)
class Synthesis:
    """What every generating command is given beside its own arguments: the model to load
    (--checkpoint, --device), how to sample (--seed, --temperature, --min-p, --postfilter, --greedy,
    --backend, --precision as one ``nsynth.Sampling``) and how to write (--format, --force)."""

    checkpoint: Path | None
    device: str
    sampling: Sampling
    fmt: str
    force: bool

    def model(self):
        return load(self.checkpoint, self.device)

    @property
    def model_path(self) -> str | None:
        return str(self.checkpoint) if self.checkpoint else None

    def save(self, path: Path, audio: np.ndarray, sample_rate: int) -> None:
        from nsynth.audio import save_audio

        save_audio(path, audio, sample_rate, fmt=self.fmt, force=self.force)
        click.echo(str(path))


def sampling_options(f: Callable) -> Callable:
    """The options of every command that synthesises audio; they reach it as ``synth`` (``Synthesis``)."""

    @functools.wraps(f)
    def command(
        *args: Any,
        seed: int,
        temperature: float | None,
        min_p: float | None,
        postfilter: float | None,
        greedy: bool,
        backend: str,
        precision: str,
        checkpoint: Path | None,
        device: str,
        fmt: str,
        force: bool,
        **kw: Any,
    ):
        sampling = Sampling(seed, 0.0 if greedy else temperature, backend, precision, min_p=min_p, postfilter=postfilter)
        return f(*args, synth=Synthesis(checkpoint, device, sampling, fmt, force), **kw)

    opts = [
        click.option(
            "--seed", default=0, show_default=True, type=int, help="Seed of the sampler: same seed, same audio."
        ),
        temperature_option,
        min_p_option,
        postfilter_option,
        click.option("--greedy", is_flag=True, help="Take the most likely class instead of sampling."),
        backend_option,
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
        force_option,
    ]
    for opt in reversed(opts):
        command = opt(command)
    return model_options(command)


def load(checkpoint: Path | None, device: str):
    """The model to run: ``checkpoint`` or the shipped one (with a note while it is a prototype)."""
    from nsynth.generation import resolve_device
    from nsynth.weights import load_model, read_info

    if checkpoint is None and read_info(None).metadata.get("status") == "prototype":
        click.echo(
            "nsynth: note: the bundled model is a CPU-trained prototype: it keeps the note's pitch and"
            " envelope over a noise floor; see docs/model-card.md, or pass --checkpoint",
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


def pitch_option(default: str | None) -> Callable:
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


def int_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    from nsynth.data.soundfont import parse_range

    if value is None:
        return None
    try:
        return parse_range(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected numbers and ranges like 0-111 or 25,50,75") from None


def pitch_list(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    pitches = int_list(ctx, param, value) or []
    if not pitches or any(not 0 <= p <= 127 for p in pitches):
        raise click.BadParameter(f"{value!r}: MIDI pitches 0-127")
    return pitches


class Failures:
    """Collects per-file errors so good files beside a bad one are still processed."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except NSynthError as e:
            report(str(e))
            self.count += 1
            return None

    def exit(self, total: int) -> None:
        if self.count:
            click.echo(f"nsynth: {self.count} of {total} input(s) failed", err=True)
            sys.exit(EXIT_USER_ERROR)


def report(message: str) -> None:
    """One user error, on stderr, when the command goes on with its other inputs."""
    click.echo(f"nsynth: error: {message}", err=True)


def per_input(files: tuple[Path, ...], suffix: str, out_dir: Path) -> list[Path]:
    """DIR/<stem><suffix> per input (colliding stems keep their extension, as ``nsynth encode``)."""
    from nsynth.files import unique_outputs

    return unique_outputs([out_dir / (f.stem + suffix) for f in files], [f.name for f in files])


def read_embedding(path: Path, latent_dim: int) -> np.ndarray:
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


def read_json(path: Path) -> dict:
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise NSynthError(f"{path}: cannot read JSON ({e})") from None
    if not isinstance(data, dict):
        raise NSynthError(f"{path}: expected a JSON object")
    return data
