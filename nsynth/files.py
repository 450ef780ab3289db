"""Safe output files: refuse to overwrite without ``force``, write atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from nsynth.errors import NSynthError, OutputExistsError


def check_outputs(paths: Iterable[str | os.PathLike], force: bool) -> None:
    """Raise before any work is done if an output exists and ``force`` is off."""
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not force:
        raise OutputExistsError(existing[0], len(existing) - 1)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    A crash or error leaves ``path`` untouched (either absent or its old content).
    """
    path = Path(path)
    check_outputs([path], force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a written file to the disk (before it is renamed into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unique_outputs(outs: Sequence[Path], names: Sequence[str]) -> list[Path]:
    """One output per input, named ``outs``; inputs whose outputs collide keep their own file
    name in it (x.wav -> x.wav.npy beside x.flac -> x.flac.npy). A collision left after that
    (the same file given twice) is an error."""
    counts = Counter(outs)
    fixed = [o.with_name(n + o.suffix) if counts[o] > 1 else o for o, n in zip(outs, names)]
    dup = [o for o, c in Counter(fixed).items() if c > 1]
    if dup:
        raise NSynthError(f"{dup[0]}: several inputs would write this output (the same file given twice?)")
    return fixed
