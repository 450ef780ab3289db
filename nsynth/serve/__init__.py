"""``nsynth serve``: a local web app to play the timbre space between two or four sounds.

nsynth serve                 # http://127.0.0.1:8000/
nsynth serve --host 0.0.0.0  # reachable from the network (it warns)
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from pathlib import Path

from nsynth.errors import OptionError
from nsynth.serve.app import MAX_UPLOAD, create_app

__all__ = ["MAX_UPLOAD", "create_app", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    checkpoint: str | None = None,
    cache: Path | None = None,
    device: str = "cpu",
    max_upload: int = MAX_UPLOAD,
    say=print,
) -> None:
    """Run the app until interrupted; ``say`` hears its URL (and a warning off loopback)."""
    import uvicorn

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OverflowError as e:  # a port past 65535
            raise OptionError("port", port, f"cannot listen there ({e})") from None
        except OSError as e:
            if isinstance(e, socket.gaierror) or e.errno == errno.EADDRNOTAVAIL:  # unknown name; not this machine's
                raise OptionError("host", host, f"cannot listen there ({e.strerror})") from None
            raise OptionError("port", port, f"cannot listen there on host {host} ({e.strerror or e})") from None
    cache = cache or Path.home() / ".cache" / "nsynth" / "serve"
    app = create_app(cache, checkpoint, device, max_upload)
    if not is_loopback(host):
        say(f"warning: listening on {host}: anyone who can reach this machine can use the app")
    shown = f"[{host}]" if ":" in host else host
    say(f"nsynth serve: http://{shown}:{port}/  (cache {cache}; Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
