"""Grid renders in a worker process, one at a time, with a queue, progress and cancel.

The server stays responsive: a render runs ``nsynth.sound_design.grid`` in a separate process
(spawned, so it shares no threads or locks with the server) which writes its progress to
``progress.json`` in the grid's folder; cancelling terminates that process. Whatever it
wrote stays, so asking for the same grid again resumes it.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from nsynth.files import atomic_path
from nsynth.serve.store import GridRequest, Store


def render_grid(folder: str, corners: list[str], req: dict, checkpoint: str | None, device: str) -> None:
    """The worker process: render the grid (four corners) or the line (two) into ``folder``, then mark it done."""
    from nsynth._malloc import tune_malloc
    from nsynth.sound_design import grid
    from nsynth.device import resolve_device
    from nsynth.generation.options import Sampling
    from nsynth.serve.line import line
    from nsynth.weights import load_model

    tune_malloc()
    out = Path(folder)
    model = load_model(checkpoint, resolve_device(device))
    last = [0.0]
    first: list = []  # [samples, time] of the first progress report: the throughput is measured from there

    def progress(done: int, total: int) -> None:
        now = time.time()
        if not first:
            first[:] = [done, now]
        elif now - last[0] < 0.3 and done < total:
            return
        last[0] = now
        p = {"done": done, "total": total, "first": first, "updated": now}
        with atomic_path(out / "progress.json", force=True) as tmp:
            tmp.write_text(json.dumps(p))

    sampling = Sampling(seed=req["seed"], temperature=req["temperature"], progress=False)
    common = dict(pitches=req["pitches"], seconds=req["seconds"], sampling=sampling, model_path=checkpoint)
    if len(corners) == 2:
        line(model, [Path(c) for c in corners], out, points=req["resolution"], on_progress=progress, **common)
    else:
        grid(model, [Path(c) for c in corners], out, resolution=req["resolution"], on_progress=progress, **common)
    (out / "done").write_text("")


def eta(progress: dict, now: float) -> float | None:
    """Seconds left in a render, from the throughput measured since its first progress report.

    Loading the model, encoding the sounds and the first step of generation all come before that
    first report, so a rate measured from the start of the job would be far too low early on (a
    render of 24 s was once said to have 125 s left). None until half a second has been measured."""
    (done0, t0), done, total = progress["first"], progress["done"], progress["total"]
    span = progress["updated"] - t0
    if span < 0.5 or done <= done0:
        return None
    rate = (done - done0) / span  # samples per second
    return max(0.0, (total - done) / rate - (now - progress["updated"]))


@dataclass
class Job:
    key: str
    status: str = "queued"  # queued, running, done, cancelled, failed
    error: str | None = None
    process: multiprocessing.process.BaseProcess | None = field(default=None, repr=False)


class Runner:
    """One render at a time; the others wait in a queue."""

    def __init__(self, store: Store, checkpoint: str | None, device: str) -> None:
        self.store, self.checkpoint, self.device = store, checkpoint, device
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.todo: queue.Queue[str | None] = queue.Queue()
        self.renders = 0  # how many renders were started (a cache hit starts none)
        self.thread = threading.Thread(target=self._work, name="nsynth-render", daemon=True)
        self.thread.start()

    def submit(self, key: str) -> Job:
        with self.lock:
            job = self.jobs.get(key)
            if (self.store.root / "grids" / key / "done").exists():
                job = self.jobs[key] = Job(key, "done")
                return job
            if job is not None and job.status in ("queued", "running"):
                return job
            job = self.jobs[key] = Job(key)
        self.todo.put(key)
        return job

    def cancel(self, key: str) -> Job | None:
        with self.lock:
            job = self.jobs.get(key)
            if job is None or job.status not in ("queued", "running"):
                return job
            if job.process is not None:
                job.process.terminate()
            job.status = "cancelled"
            return job

    def status(self, key: str) -> dict:
        folder = self.store.grid_dir(key)
        with self.lock:
            job = self.jobs.get(key)
            state = job.status if job else ("done" if (folder / "done").exists() else "incomplete")
            error = job.error if job else None
        if (folder / "done").exists():
            state = "done"
        req = self.store.request(key)
        out = {"key": key, "status": state, "error": error, "progress": 1.0 if state == "done" else 0.0, "eta": None}
        out["notes"] = req.rows * req.resolution * len(req.pitches)
        try:
            p = json.loads((folder / "progress.json").read_text())
        except (OSError, ValueError):
            return out
        if state != "done" and p["total"]:
            out["progress"] = p["done"] / p["total"]
            if state == "running" and "first" in p:
                out["eta"] = eta(p, time.time())
        return out

    def close(self) -> None:
        for key in list(self.jobs):
            self.cancel(key)
        self.todo.put(None)

    def _work(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        while True:
            key = self.todo.get()
            if key is None:
                return
            with self.lock:
                job = self.jobs[key]
                if job.status != "queued":
                    continue
                req: GridRequest = self.store.request(key)
                folder = self.store.grid_dir(key)
                # a stopped render's last report would pass for this one's until it reports itself
                (folder / "progress.json").unlink(missing_ok=True)
                corners = [str(self.store.sound_path(c)) for c in req.corners]
                args = (
                    str(folder),
                    corners,
                    {**req.__dict__, "pitches": list(req.pitches)},
                    self.checkpoint,
                    self.device,
                )
                job.process = ctx.Process(target=render_grid, args=args, daemon=True)
                job.process.start()
                job.status = "running"
                self.renders += 1
            job.process.join()
            with self.lock:
                if job.status == "running":
                    if job.process.exitcode == 0:
                        job.status = "done"
                    else:
                        job.status, job.error = "failed", f"the render stopped (exit status {job.process.exitcode})"
                job.process = None
