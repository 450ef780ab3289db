"""numba's compile-or-load step, made visible: a kernel's first call in a process either loads
it from numba's on-disk cache (fast) or compiles it (seconds to tens of seconds, once per
install), and a command says so before the latter."""

from __future__ import annotations

from typing import Any


def needs_compiling(kernel: Any, args: tuple) -> bool:
    """Whether calling the numba ``kernel`` with ``args`` compiles it: this process has no version
    for these arguments' types and numba's on-disk cache none either (``cache=True``: numba
    keeps it in ``__pycache__`` beside the source, where that is read-only in the user's cache
    folder, or in $NUMBA_CACHE_DIR when set). Reads numba's cache index, an internal: any
    surprise there counts as "compiles"."""
    sig = tuple(kernel.typeof_pyval(a) for a in args)
    if sig in kernel.overloads:
        return False
    try:
        cache = kernel._cache
        return cache._index_key(sig, kernel.targetctx.codegen()) not in cache._cache_file._load_index()
    except Exception:
        return True
