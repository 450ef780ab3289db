"""What every command shares: the error rule, the model and sampling options, per-file failures."""

from __future__ import annotations

import functools
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import click

from nsynth.errors import ClipError, NSynthError, OptionError, RemedyError
from nsynth.generation.options import Sampling

if TYPE_CHECKING:
    import numpy as np

EXIT_USER_ERROR = 1


class Group(click.Group):
    """User errors (``NSynthError``) become one line on stderr and exit status 1, without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NSynthError as e:
            status(f"nsynth: error: {user_message(e)}")  # above any progress bar, never on its line
            ctx.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            click.echo("nsynth: interrupted", err=True)
            ctx.exit(130)


#: Library parameters whose CLI option has another name (``load_model(path)`` is ``--checkpoint``).
_FLAG_OF = {"path": "checkpoint"}


def _flag(param: str) -> str:
    """The CLI option that sets a library parameter: ``min_p`` -> ``--min-p``, ``path`` -> ``--checkpoint``."""
    return "--" + _FLAG_OF.get(param, param).replace("_", "-")


def user_message(e: NSynthError) -> str:
    """A library error in the CLI's words: a parameter the library names becomes the option that sets it."""
    if isinstance(e, ClipError):
        return f"{e.name}: {_flag(e.param)} {e.value:g}: {e.reason}"
    if isinstance(e, OptionError):
        value = "" if e.value is True else f" {e.value}"  # a flag: no value to echo
        return f"{_flag(e.option)}{value}: {e.reason}"
    if isinstance(e, RemedyError):
        value = "" if e.value == "True" else f" {e.value}"
        return f"{e.problem}; use {_flag(e.param)}{value} {e.purpose}"
    return str(e)


class _EchoHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        status(self.format(record))


def status(message: str) -> None:
    """One line on stderr saying what the command is doing (above a progress bar if one is drawn)."""
    if "tqdm" in sys.modules:  # a bar may be on screen: tqdm clears it, prints the line, redraws it
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    else:
        click.echo(message, err=True)


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
    help="Weights file (.safetensors), or the name of a model shipped with nsynth (`nsynth info NAME`:"
    " pitched, parallel); default: the shipped default model.",
)


def model_options(f: Callable) -> Callable:
    """--checkpoint and --device."""
    return checkpoint_option(device_option()(f))


temperature_option = click.option(
    "--temperature",
    default=None,
    type=click.FloatRange(min=0.0),
    help="Softmax temperature of sampling (0 = greedy; sample-by-sample models) [default: the model's recommended"
    " one, which `nsynth info` shows: 0.5 for the shipped pitched model, 1.0 where its weights file names none].",
)

min_p_option = click.option(
    "--min-p",
    "min_p",
    default=None,
    type=click.FloatRange(min=0.0, max=1.0, max_open=True),
    help="Leave out sample values less likely than this fraction of the most likely one (0 = keep all)"
    " [default: the model's recommended one: 0 for the shipped pitched model, 0 where its weights file names none].",
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
    file_rate: int | None = None  # --sample-rate of written files; None: the model's

    def model(self):
        model = load(self.checkpoint, self.device)
        self.sampling.for_model(model)  # an option this model cannot take: refused before any work
        return model

    @property
    def model_path(self) -> str | None:
        return str(self.checkpoint) if self.checkpoint else None

    def rate(self, model_rate: int) -> int:
        """The rate files are written at."""
        return self.file_rate or model_rate

    def save(self, path: Path, audio: np.ndarray, sample_rate: int) -> None:
        """Write (T,) ``audio`` at ``sample_rate`` (the model's) to ``path`` at ``rate(sample_rate)``."""
        from nsynth.audio import save_audio

        save_audio(path, audio, sample_rate, fmt=self.fmt, force=self.force, file_rate=self.rate(sample_rate))
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
        file_rate: int | None,
        **kw: Any,
    ):
        sampling = Sampling(seed, 0.0 if greedy else temperature, backend, precision, min_p=min_p, postfilter=postfilter)
        return f(*args, synth=Synthesis(checkpoint, device, sampling, fmt, force, file_rate), **kw)

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
        click.option(
            "--sample-rate",
            "file_rate",
            type=click.IntRange(min=1),
            metavar="HZ",
            help="Sample rate of the written files, e.g. 44100 or 48000: the model's output resampled"
            " [default: the model's rate, 16000 for the shipped model].",
        ),
        force_option,
    ]
    for opt in reversed(opts):
        command = opt(command)
    return model_options(command)


def load(checkpoint: Path | None, device: str):
    """The model to run: ``checkpoint`` or the shipped one (with a note while it is a prototype)."""
    status(f"loading {'the model ' + str(checkpoint) if checkpoint else 'the shipped model'} ...")
    from nsynth.device import resolve_device
    from nsynth.weights import load_model, read_info

    meta = read_info(None).metadata if checkpoint is None else {}
    if meta.get("status") == "prototype":  # the weights file says what to tell users of it
        said = meta.get("status_note") or "it keeps the note's pitch and envelope over a noise floor"
        click.echo(
            f"nsynth: note: the bundled model is a CPU-trained prototype: {said}; see docs/model-card.md,"
            " or pass --checkpoint",
            err=True,
        )
    return load_model(checkpoint, resolve_device(device))


def require_files(*paths: Path, kind: str = "an audio file") -> None:
    """Refuse a missing input, or a folder where a file (``kind``) is expected, at once: before
    the model and the libraries behind it load (the same words as ``nsynth.audio.load_audio``)."""
    for p in paths:
        if not p.exists():
            raise NSynthError(f"{p}: no such file")
        if p.is_dir():
            raise NSynthError(f"{p}: is a directory, not {kind}")


def _pitch_arg(value: str, auto: bool) -> int | str:
    from nsynth.pitch import parse_pitch

    try:
        return parse_pitch(value, auto=auto)
    except NSynthError as e:
        raise click.BadParameter(str(e)) from None


def pitch_option(default: str | None) -> Callable:
    """--pitch: a MIDI number or note name, parsed once (``nsynth.pitch.parse_pitch``); with a
    default, also 'auto'."""
    return click.option(
        "--pitch",
        default=default,
        metavar="MIDI|NOTE|auto" if default else "MIDI|NOTE",
        callback=lambda c, p, v: None if v is None else _pitch_arg(v, auto=default is not None),
        help="MIDI pitch 0-127 or note name (C4 = 60, F#2, Bb3)"
        + (
            ", or 'auto' (estimate from the audio; a pitch-locked model follows the audio's f0 curve)."
            if default
            else "."
        ),
    )


def _pitch_from_arg(ctx: click.Context, param: click.Parameter, value: str | None) -> int | str | None:
    if value is None or value.lower() in ("a", "b"):
        return None if value is None else value.lower()
    try:
        return _pitch_arg(value, auto=False)
    except click.BadParameter:
        forms = "a or b (the note whose pitch is estimated), a MIDI number 0-127 or a note name such as C4"
        raise click.BadParameter(f"{value!r}: give {forms}") from None


pitch_from_option = click.option(
    "--pitch-from",
    callback=_pitch_from_arg,
    metavar="a|b|MIDI|NOTE",
    help="The pitch every note is played at: a or b (estimated from that note, as --pitch auto does from A; a"
    " pitch-locked model follows its f0 curve), or a MIDI number or note name (as --pitch) [default: a].",
)


def pitch_and_source(pitch: int | str, pitch_from: int | str | None) -> tuple[int | str, str]:
    """--pitch and --pitch-from as the API takes them: (pitch, pitch_from 'a' or 'b')."""
    if pitch_from is None:
        return pitch, "a"
    if pitch != "auto":
        raise click.UsageError("give --pitch or --pitch-from, not both")
    return ("auto", pitch_from) if pitch_from in ("a", "b") else (pitch_from, "a")


def _seconds(positive: bool) -> Callable:
    def check(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
            raise click.BadParameter(f"{value:g}: give a number of seconds {'>' if positive else '>='} 0")
        return value

    return check


def clip_options(seconds_help: str = "Read only this many seconds of each input [default: to its end].") -> Callable:
    """--offset and --seconds: the part of each input audio file that is read."""

    def decorate(f: Callable) -> Callable:
        f = click.option(
            "--seconds", type=float, metavar="SECONDS", callback=_seconds(positive=True), help=seconds_help
        )(f)
        return click.option(
            "--offset",
            default=0.0,
            type=float,
            metavar="SECONDS",
            callback=_seconds(positive=False),
            help="Start reading each input this many seconds in [default: 0].",
        )(f)

    return decorate


def int_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    from nsynth.data.soundfont import parse_range

    if value is None:
        return None
    try:
        return parse_range(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected numbers and ranges like 0-111 or 25,50,75") from None


def pitch_list(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    """'36,48,60' / '36-84:3' / 'C2-C6:12,E4': sorted MIDI pitches (numbers or note names)."""
    from nsynth.pitch import parse_pitch

    pitches: set[int] = set()
    try:
        for part in filter(None, (p.strip() for p in value.split(","))):
            part, _, step = part.partition(":")
            lo, hi = _pitch_range(part, parse_pitch)
            pitches.update(range(lo, hi + 1, int(step) if step else 1))
    except (NSynthError, ValueError):
        pitches = set()
    if not pitches:
        raise click.BadParameter(f"{value!r}: MIDI pitches 0-127 or note names (C4 = 60), e.g. 36,48,60 or C2-C6:3")
    return sorted(pitches)


def _pitch_range(text: str, parse: Callable) -> tuple[int, int]:
    """'60' -> (60, 60); '36-84' / 'C2-C6' / 'C-1-C0' -> (lo, hi): the first split whose both sides are pitches."""
    try:
        p = parse(text, auto=False)
        return p, p
    except NSynthError:
        pass
    for i, ch in enumerate(text):
        if ch == "-" and 0 < i < len(text) - 1:
            try:
                lo, hi = parse(text[:i], auto=False), parse(text[i + 1 :], auto=False)
            except NSynthError:
                continue
            if lo <= hi:
                return lo, hi
    raise ValueError(text)


class Failures:
    """Collects per-file errors so good files beside a bad one are still processed."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except NSynthError as e:
            report(user_message(e))
            self.count += 1
            return None

    def existing(self, files: Sequence[Path], kind: str = "an audio file") -> list[bool]:
        """Which of ``files`` exist as files; each that does not is reported (and counted) at
        once, before a model loads, so a mistyped name fails in a fraction of a second."""
        return [self(lambda f=f: require_files(f, kind=kind) or True) is not None for f in files]

    def exit(self, total: int) -> None:
        if self.count:
            status(f"nsynth: {self.count} of {total} input(s) failed")
            sys.exit(EXIT_USER_ERROR)


def report(message: str) -> None:
    """One user error, on stderr, when the command goes on with its other inputs (on a line of its
    own above the progress bar, which tqdm redraws below it)."""
    status(f"nsynth: error: {message}")


def per_input(files: tuple[Path, ...], suffix: str, out_dir: Path) -> list[Path]:
    """DIR/<stem><suffix> per input (colliding stems keep their extension, as ``nsynth encode``)."""
    from nsynth.files import unique_outputs

    return unique_outputs([out_dir / (f.stem + suffix) for f in files], [f.name for f in files])


def read_embedding(path: Path, latent_dim: int) -> np.ndarray:
    import numpy as np

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
