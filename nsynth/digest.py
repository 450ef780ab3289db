"""Checksums of the files we write: a SHA-256 over a file's tensors and its metadata.

safetensors checks a file's layout (header, offsets), not its bytes: a flipped byte inside the
tensor data, or a header edit that still parses, loads as silently different weights. Every
weights file and training state we write records ``checksum`` = ``sha256:<hex>`` in its
metadata, a digest of

- its metadata: every key but ``checksum``, as sorted JSON;
- its tensors, in name order: each name, dtype, shape and raw bytes.

Loading recomputes it from what was read and refuses a file whose digest differs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Mapping

import torch

KEY = "checksum"
PREFIX = "sha256:"


def digest(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> str:
    """``sha256:<64 hex>`` of ``metadata`` (without its own ``checksum``) and ``tensors`` (CPU)."""
    h = hashlib.sha256()
    meta = {k: v for k, v in metadata.items() if k != KEY}
    h.update(json.dumps(meta, sort_keys=True, ensure_ascii=True).encode())
    for name in sorted(tensors):
        t = tensors[name]
        h.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        h.update(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return PREFIX + h.hexdigest()


def short(value: str) -> str:
    """A digest as a message shows it: its first 12 hex digits."""
    return value.removeprefix(PREFIX)[:12] + "…"


def mismatch(expected: str, found: str) -> str | None:
    """None when the digests agree; else the reason, for a one-line error."""
    if expected == found:
        return None
    return f"damaged (checksum {short(expected)} recorded, {short(found)} found): re-copy or re-create it"
