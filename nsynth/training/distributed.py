"""Data-parallel training under ``torchrun``: NCCL on CUDA, gloo on the CPU; rank 0 writes."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Runtime:
    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes the run's files."""
        return self.rank == 0

    def device(self, dev: torch.device) -> torch.device:
        """This process's device: its own GPU when several share a machine."""
        if dev.type == "cuda" and self.world > 1:
            dev = torch.device("cuda", self.local)
            torch.cuda.set_device(dev)
        return dev

    def wrap(self, model: torch.nn.Module, dev: torch.device) -> torch.nn.Module:
        """The model as the loop calls it: DistributedDataParallel when there are several processes."""
        if self.world == 1:
            return model
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


@contextlib.contextmanager
def runtime(device: str) -> Iterator[Runtime]:
    """The runtime of this process (RANK / WORLD_SIZE / LOCAL_RANK from torchrun; else one
    process), with the process group up for its duration when there are several."""
    rt = Runtime(
        int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
    )
    owns_group = rt.world > 1 and not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device != "cpu" and torch.cuda.is_available() else "gloo")
    try:
        yield rt
    finally:
        if owns_group:  # tear down before exit: a live gloo group can abort the process at shutdown
            dist.barrier()
            dist.destroy_process_group()


def check_replicas(model: torch.nn.Module, path: Path, rt: Runtime) -> None:
    """All ranks must hold the same weights after data-parallel training: compare a
    checksum of every parameter across ranks; rank 0 records them in ``replicas.json``."""
    with torch.no_grad():
        flat = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
        pos = torch.arange(1, flat.numel() + 1, dtype=torch.float64)
        mine = torch.stack([flat.sum(), (flat * pos).sum(), flat.abs().max()]).to(next(model.parameters()).device)
    sums = [torch.zeros_like(mine) for _ in range(rt.world)]
    dist.all_gather(sums, mine)
    values = [s.cpu().tolist() for s in sums]
    if rt.main:
        path.write_text(json.dumps({"world_size": rt.world, "checksums": values}))
    if any(v != values[0] for v in values):
        raise RuntimeError(f"data-parallel replicas diverged: {values}")
