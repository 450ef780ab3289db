"""``nsynth serve``: the NSynth Super pad in a browser, as a FastAPI app.

Four sounds in the corners make a grid (a 2-D pad, as on the NSynth Super); two sounds A and B
make a line of points between them (a strip).

Routes (JSON unless said):

    GET  /                                     the page (plain HTML/JS/CSS from the package)
    GET  /api/info                             the model, limits and rendered-pitch defaults
    GET  /api/examples                         the shipped example notes, stored as sounds
    POST /api/sounds                           upload one audio file (multipart field "file")
    POST /api/grids                            {corners: [4 or 2 sound ids], resolution, pitches, seconds,
                                                seed, temperature}
    GET  /api/grids/{key}                      status, progress (0-1), seconds left (from the measured throughput)
    DELETE /api/grids/{key}                    cancel the render
    GET  /api/grids/{key}/manifest             the rendered points
    GET  /api/grids/{key}/audio/{pitch}/{row}/{col}.wav
    GET  /api/grids/{key}/rainbowgram/{pitch}/{row}/{col}.png  with axes, at its natural aspect
    GET  /api/grids/{key}/export.zip           the WAVs, manifest.json and one SFZ per point

A line is a grid of one row: its points are row 0, columns 0 (A) to resolution - 1 (B).

Every user error is a 4xx with ``{"error": one line}``: the same reasons as the CLI's.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import zipfile
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from nsynth.errors import NSynthError, OptionError
from nsynth.files import atomic_path
from nsynth.serve.jobs import Runner
from nsynth.serve.store import GridRequest, NotFound, Store, display_name, request_pitches

MAX_UPLOAD = 20 * 2**20  # bytes
DEFAULT_PITCHES = (48, 60, 72)


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


def create_app(
    cache: Path, checkpoint: str | None = None, device: str = "cpu", max_upload: int = MAX_UPLOAD
) -> FastAPI:
    """The app, with its disk cache in ``cache`` and renders by the model in ``checkpoint`` (default: shipped).

    Renders run in spawned processes, which import the main module again: a script that builds
    the app itself keeps its work under ``if __name__ == "__main__":``."""
    from nsynth.weights import read_info

    info = read_info(checkpoint)  # a bad weights file stops here, before the server starts
    weights_id = hashlib.sha256(Path(info.path).read_bytes()).hexdigest()  # grids are cached per weights file
    store = Store(Path(cache), info.config.sample_rate, weights_id)
    runner = Runner(store, checkpoint, device)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        runner.close()

    app = FastAPI(title="nsynth", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.store, app.state.runner = store, runner
    static = resources.files("nsynth.serve") / "static"

    @app.exception_handler(NSynthError)
    async def user_error(request: Request, e: NSynthError) -> JSONResponse:
        return JSONResponse({"error": str(e)}, status_code=404 if isinstance(e, NotFound) else 400)

    @app.exception_handler(_Refused)
    async def refused(request: Request, e: _Refused) -> JSONResponse:
        return JSONResponse({"error": e.message}, status_code=e.status)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return (static / "index.html").read_text()

    @app.get("/api/info")
    def api_info() -> dict:
        return {
            "weights": str(info.path),
            "preset": info.metadata.get("preset"),
            "sample_rate": info.config.sample_rate,
            "max_upload": max_upload,
            "pitches": list(DEFAULT_PITCHES),
        }

    @app.get("/api/examples")
    def examples() -> list[dict]:
        folder = resources.files("nsynth.examples")
        files = sorted(Path(str(f)) for f in folder.iterdir() if f.name.endswith(".wav"))
        return [store.add_file(f).__dict__ for f in files]

    @app.middleware("http")
    async def size_limit(request: Request, call_next):
        # refuse an oversized upload from its declared length, before the body is received
        length = request.headers.get("content-length")
        if request.url.path == "/api/sounds" and length and length.isdigit() and int(length) > max_upload + 2**16:
            return JSONResponse({"error": f"the upload is larger than the limit ({max_upload / 2**20:g} MiB)"}, 413)
        return await call_next(request)

    @app.post("/api/sounds")
    async def upload(file: UploadFile) -> dict:
        data, name = await file.read(max_upload + 1), display_name(file.filename)
        if len(data) > max_upload:
            raise _Refused(413, f"{name}: larger than the upload limit ({max_upload / 2**20:g} MiB)")
        if not data:
            raise _Refused(400, f"{name}: the file is empty")
        return store.add_sound(data, file.filename).__dict__

    @app.post("/api/grids")
    async def new_grid(request: Request) -> dict:
        try:
            body = await request.json()
            req = GridRequest(
                corners=tuple(str(c) for c in body["corners"]),
                resolution=int(body.get("resolution", 3)),
                pitches=request_pitches(DEFAULT_PITCHES if body.get("pitches") is None else body["pitches"]),
                seconds=None if body.get("seconds") in (None, "") else float(body["seconds"]),
                seed=int(body.get("seed", 0)),
                temperature=None if body.get("temperature") in (None, "") else float(body["temperature"]),
            )
        except NSynthError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError):
            raise _Refused(400, "a render needs corners (4 or 2 sound ids) and numeric settings") from None
        req.check(store)
        if req.temperature is not None and info.config.parallel:
            raise OptionError("temperature", req.temperature, "the parallel decoder draws no samples: leave this option out")
        key = store.grid_key(req)
        store.new_grid(key, req)
        runner.submit(key)
        return runner.status(key)

    @app.get("/api/grids/{key}")
    def grid_status(key: str) -> dict:
        return runner.status(key)

    @app.delete("/api/grids/{key}")
    def cancel(key: str) -> dict:
        store.grid_dir(key)
        runner.cancel(key)
        return runner.status(key)

    @app.get("/api/grids/{key}/manifest")
    def manifest(key: str) -> dict:
        req, folder = store.request(key), store.grid_dir(key)
        points = [
            {"pitch": p, "row": i, "col": j, "ready": (folder / req.note(p, i, j)).is_file()}
            for p in req.pitches
            for i in range(req.rows)
            for j in range(req.resolution)
        ]
        names = [store.sound(c).name for c in req.corners]
        return {
            "key": key,
            "mode": req.mode,
            "rows": req.rows,
            "resolution": req.resolution,
            "pitches": list(req.pitches),
            "corners": names,
            "points": points,
        }

    @app.get("/api/grids/{key}/audio/{pitch}/{row}/{col}.wav")
    def audio(key: str, pitch: int, row: int, col: int) -> FileResponse:
        path = store.note_path(key, pitch, row, col)
        if not path.is_file():
            raise _Refused(404, "this point is not rendered yet")
        return FileResponse(path, media_type="audio/wav")

    @app.get("/api/grids/{key}/rainbowgram/{pitch}/{row}/{col}.png")
    def picture(key: str, pitch: int, row: int, col: int) -> FileResponse:
        path = store.note_path(key, pitch, row, col)
        if not path.is_file():
            raise _Refused(404, "this point is not rendered yet")
        png = path.with_name(path.stem + ".preview.png")
        if not png.is_file():
            from nsynth.audio import load_audio
            from nsynth.serve.preview import preview_png

            preview_png(load_audio(path, store.sample_rate), store.sample_rate, png)
        return FileResponse(png, media_type="image/png")

    @app.get("/api/grids/{key}/export.zip")
    def export(key: str) -> Response:
        folder = store.grid_dir(key)
        if not (folder / "done").exists():
            raise _Refused(409, "the grid is not finished: render it first")
        path = folder / "export.zip"
        if not path.is_file():
            with atomic_path(path, force=True) as tmp:
                tmp.write_bytes(_zip(store, key))
        return FileResponse(path, media_type="application/zip", filename=f"nsynth_grid_{key[:8]}.zip")

    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app


def _zip(store: Store, key: str) -> bytes:
    """WAVs as ``pitch_PPP/grid_RR_CC.wav`` (a line's: ``pitch_PPP/line_CC.wav``), ``manifest.json``,
    and ``grid_RR_CC.sfz`` (``line_CC.sfz``): each point as an instrument over the rendered
    pitches (the multisample writer's regions)."""
    from nsynth.sound_design import sfz_regions, sfz_text

    req = store.request(key)
    folder = store.grid_dir(key)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(folder / "manifest.json", "manifest.json")
        for i in range(req.rows):
            for j in range(req.resolution):
                files = [req.note(p, i, j) for p in req.pitches]
                for f in files:
                    z.write(folder / f, f)
                name = f"line_{j:02d}" if req.mode == "line" else f"grid_{i:02d}_{j:02d}"
                z.writestr(f"{name}.sfz", sfz_text(sfz_regions(req.pitches, files), name))
        z.writestr("request.json", json.dumps(req.__dict__, indent=1))
    return buf.getvalue()
