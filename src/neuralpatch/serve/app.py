"""The page's server: static files, uploads checked as ``inpaint.py`` checks its inputs, the fill queue and its
progress as server-sent events. Nothing on the server's disk is read or written on the page's behalf: uploads
are decoded in memory and results kept in memory (a bounded cache)."""

from __future__ import annotations

import asyncio
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from neuralpatch.files import InputError, decode_image, mask_from_image
from neuralpatch.serve.jobs import FINAL, Job, JobQueue
from neuralpatch.synthesis.inpaint_files import demo_inputs
from neuralpatch.synthesis.synthesizer import MIN_SIDE

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class PageOptions:
    """What the page offers: the priors and presets to choose from and the defaults, the upload limit."""

    priors: list[str]
    presets: list[str]
    prior: str
    preset: str
    max_upload_mb: float = 40.0


def read_upload(data: bytes, name: str, what: str) -> np.ndarray:
    """A photo ``[H,W,3]`` uint8 or a mask's hole ``[H,W]`` bool from uploaded bytes; one sentence if unusable."""
    image = decode_image(io.BytesIO(data), name, what)
    return np.array(image.convert("RGB")) if what == "image" else mask_from_image(image)


def checked_job(photo_data: bytes, photo_name: str, mask_data: bytes, prior: str, preset: str,
                options: PageOptions) -> Job:
    """The job of an upload, or an InputError in one sentence (not an image, no hole, too small, …)."""
    if prior not in options.priors or preset not in options.presets:
        raise InputError(f"unknown prior {prior!r} or preset {preset!r}; choose one the page lists")
    photo = read_upload(photo_data, photo_name, "image")
    if min(photo.shape[:2]) < MIN_SIDE:
        raise InputError(f"{photo_name} is {photo.shape[1]}×{photo.shape[0]} px; the fill needs at least {MIN_SIDE} px "
                         f"on each side")
    hole = read_upload(mask_data, "the painted mask", "mask")
    if hole.shape != photo.shape[:2]:
        raise InputError(f"the painted mask is {hole.shape[1]}×{hole.shape[0]} px, the photo "
                         f"{photo.shape[1]}×{photo.shape[0]}; reload the page and paint again")
    if not hole.any():
        raise InputError("no hole is painted; brush over what should go, then press Fill")
    if hole.all():
        raise InputError("the whole photo is painted; leave some of it to fill the hole from")
    return Job(photo, hole, prior, preset, name=re.sub(r"[^A-Za-z0-9._-]", "_", Path(photo_name).stem)[:64] or "photo")


async def limited_body(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes, refused with 413 past ``limit`` (read in chunks, never more than limit + 1 MiB)."""
    data = bytearray()
    while chunk := await upload.read(1 << 20):
        data += chunk
        if len(data) > limit:
            raise HTTPException(413, f"{upload.filename} is over the {limit / 2**20:.0f} MB upload limit; "
                                     f"pass a smaller photo")
    return bytes(data)


def create_app(queue: JobQueue, options: PageOptions) -> FastAPI:
    """The page's app over ``queue`` (its workers fill the jobs)."""
    app = FastAPI(title="neuralpatch", docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    limit = int(options.max_upload_mb * 2**20)

    @app.exception_handler(InputError)
    async def input_error(request: Request, error: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.get("/")
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/options")
    async def page_options() -> dict:
        return {"priors": options.priors, "presets": options.presets, "prior": options.prior,
                "preset": options.preset, "max_upload_mb": options.max_upload_mb}

    @app.get("/api/demo")
    async def demo() -> FileResponse:
        return FileResponse(demo_inputs()[0], media_type="image/jpeg", filename="demo.jpg")

    @app.post("/api/jobs")
    async def submit(request: Request, image: UploadFile = File(...), mask: UploadFile = File(...),
                     prior: str = Form(""), preset: str = Form("")) -> dict:
        if int(request.headers.get("content-length") or 0) > 2 * limit + (1 << 20):
            raise HTTPException(413, f"the upload is over the {options.max_upload_mb:.0f} MB limit; pass a smaller photo")
        photo_data, mask_data = await limited_body(image, limit), await limited_body(mask, limit)
        job = checked_job(photo_data, image.filename or "photo", mask_data, prior or options.prior,
                          preset or options.preset, options)
        queue.submit(job)
        return {"id": job.id, "position": queue.position(job)}

    def job_or_404(job_id: str) -> Job:
        job = queue.get(job_id)
        if job is None:
            raise HTTPException(404, "no such fill (it finished a while ago, or the server restarted); fill again")
        return job

    def snapshot(job: Job) -> dict:
        return {"state": job.state, "position": queue.position(job), "message": job.message, **job.progress}

    @app.get("/api/jobs/{job_id}")
    async def status(job_id: str) -> dict:
        return snapshot(job_or_404(job_id))

    @app.get("/api/jobs/{job_id}/events")
    async def events(job_id: str, request: Request) -> StreamingResponse:
        job = job_or_404(job_id)

        async def stream():
            last = None
            while not await request.is_disconnected():
                now = snapshot(job)
                if now != last:
                    yield f"data: {json.dumps(now)}\n\n"
                    last = now
                if now["state"] in FINAL:  # the state sent, not a later one: the last event is the job's end
                    return
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/api/jobs/{job_id}/cancel")
    async def cancel(job_id: str) -> dict:
        job = job_or_404(job_id)
        queue.cancel(job)
        return snapshot(job)

    @app.post("/api/jobs/{job_id}/forget")
    async def forget(job_id: str) -> Response:
        job = queue.get(job_id)
        if job is not None:
            queue.forget(job)
        return Response(status_code=204)

    @app.get("/api/jobs/{job_id}/result.png")
    async def result(job_id: str) -> Response:
        job = job_or_404(job_id)
        if job.result is None:
            raise HTTPException(409, f"the fill is {job.state}; wait for it to finish")
        return Response(job.result, media_type="image/png",
                        headers={"Content-Disposition": f'attachment; filename="{job.name}_inpainted.png"'})

    return app
