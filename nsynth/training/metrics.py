"""A run's metrics: ``metrics.csv`` (one row per logged step), and TensorBoard where installed."""

from __future__ import annotations

import csv
from pathlib import Path

from nsynth.files import atomic_path

FIELDS = ["step", "seconds", "loss", "lr", "samples_per_s", "valid_loss"]


class Metrics:
    """Appends rows to RUN_DIR/metrics.csv. Opening it for a run resumed at ``start`` drops the
    rows past ``start`` (a killed run logged steps its checkpoint does not hold); ``seconds_before``
    is then the training time already spent, so the clock continues."""

    def __init__(self, run: Path, start: int) -> None:
        self.path = run / "metrics.csv"
        self.seconds_before = self._truncate(start)
        self.board = _tensorboard(run)

    def _truncate(self, step: int) -> float:
        if not self.path.exists():
            return 0.0
        with open(self.path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        with atomic_path(self.path, force=True) as tmp:
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, FIELDS)
                w.writeheader()
                w.writerows(rows)
        return float(rows[-1]["seconds"]) if rows else 0.0

    def log(self, step: int, seconds: float, loss: float, lr: float, sps: float, valid: float | None) -> None:
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, FIELDS)
            if new:
                w.writeheader()
            w.writerow(
                {
                    "step": step,
                    "seconds": f"{seconds:.2f}",
                    "loss": f"{loss:.5f}",
                    "lr": f"{lr:.3g}",
                    "samples_per_s": f"{sps:.0f}",
                    "valid_loss": "" if valid is None else f"{valid:.5f}",
                }
            )
        if self.board is not None:
            self.board.add_scalar("loss/train", loss, step)
            self.board.add_scalar("samples_per_s", sps, step)
            if valid is not None:
                self.board.add_scalar("loss/valid", valid, step)

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


def _tensorboard(run: Path):
    """A TensorBoard writer in RUN_DIR/tb when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run / "tb"))
