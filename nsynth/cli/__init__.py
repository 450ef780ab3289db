"""The ``nsynth`` command line: a thin layer over the Python API, one module per command group.

- ``synth``: decode, reconstruct, interpolate, morph;
- ``sound_design``: grid, multisample, plot;
- ``data``: encode, render-soundfont, map, neighbors, probe;
- ``model``: train, evaluate, import-magenta, bench, info;
- ``serve``: the web app;
- ``common``: the options and error rule they share.

Each command parses its options, checks paths (refusing to overwrite without --force) and
calls public functions. User errors (``NSynthError``) become one line on stderr and exit
status 1, without a traceback.
"""

from __future__ import annotations

import sys

import click

from nsynth.cli import data, model, serve, sound_design, synth
from nsynth.cli.common import Group, show_api_messages


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nsynth")
def main() -> None:
    """Neural timbre synthesis with the NSynth WaveNet autoencoder."""
    from nsynth._malloc import tune_malloc

    tune_malloc()
    show_api_messages()


for _group in (data, synth, sound_design, model, serve):
    for _command in _group.COMMANDS:
        main.add_command(_command)


def run() -> None:
    """The ``nsynth`` command: ``main`` as click runs it, then an immediate exit.

    A finished command has written and closed its files (atomically) and flushed its output;
    the interpreter's teardown of torch, numba and librosa after that takes about a second and
    does nothing the command needs, so the process ends at once with the command's status.
    ``python -m nsynth.cli`` (torchrun's entry) and in-process callers keep the normal exit."""
    import logging
    import os

    try:
        main()
        code: object = 0
    except SystemExit as e:
        code = e.code
    if isinstance(code, str):  # sys.exit("message"): printed and status 1, as Python does
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, OSError):  # a reader that left early (`nsynth info | head -1`)
            pass
    os._exit(0 if code is None else int(code))
