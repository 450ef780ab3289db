"""The web app command: serve."""

from __future__ import annotations

from pathlib import Path

import click

from nsynth.cli.common import checkpoint_option, device_option, status


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback unless given).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@checkpoint_option
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where uploads and rendered grids are kept [default: ~/.cache/nsynth/serve].",
)
@device_option("cpu")
@click.option("--max-upload-mb", default=20, show_default=True, type=click.IntRange(1, 1024), help="Upload size limit.")
def serve(host: str, port: int, checkpoint: Path | None, cache: Path | None, device: str, max_upload_mb: int) -> None:
    """A local web app: drop two or four sounds, render the notes between them, play them on a strip or an XY pad."""
    status("starting the web app ...")
    from nsynth.serve import serve as run  # torch, the web server: after the first line

    run(
        host,
        port,
        checkpoint=str(checkpoint) if checkpoint else None,
        cache=cache,
        device=device,
        max_upload=max_upload_mb * 2**20,
        say=lambda m: click.echo(m, err=m.startswith("warning")),
    )


COMMANDS = [serve]
