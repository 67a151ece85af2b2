"""The page's API through an ASGI test client: upload, fill, progress events, cancel, bad uploads, the size
limit, queued fills (issue #21)."""

import io
import json
import re
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pages import OPTIONS, mask_array, page_app, photo_array, png, tiny_factory  # noqa: F401 (a fixture)
from neuralpatch.serve import JobQueue, create_app
from neuralpatch.serve.app import STATIC


def submit(client, photo=None, mask=None, preset="default", name="photo.png"):
    photo = png(photo_array()) if photo is None else photo
    mask = png(mask_array()) if mask is None else mask
    return client.post("/api/jobs", files={"image": (name, photo), "mask": ("mask.png", mask)},
                       data={"prior": "telea", "preset": preset})


def events(client, job_id) -> list[dict]:
    """Every server-sent event of a job until it ends."""
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        return [json.loads(line[len("data: "):]) for line in stream.iter_lines() if line.startswith("data: ")]


def wait_for(client, job_id, state, timeout=60):
    deadline = time.monotonic() + timeout
    while client.get(f"/api/jobs/{job_id}").json()["state"] != state:
        assert time.monotonic() < deadline, f"{job_id} never became {state}"
        time.sleep(0.05)


def test_the_page_and_its_options_are_served(page_app):
    client = TestClient(page_app[0])
    page = client.get("/")
    assert page.status_code == 200 and 'id="mask"' in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/api/options").json() == {"priors": ["mean", "telea"], "presets": ["default", "slow"],
                                                   "prior": "telea", "preset": "default", "max_upload_mb": 40.0}
    assert Image.open(io.BytesIO(client.get("/api/demo").content)).size == (512, 288)


def test_nothing_on_the_page_comes_from_the_internet():
    for path in STATIC.iterdir():
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", path.read_text()), path.name


def test_a_fill_streams_its_progress_and_returns_the_photo_filled(page_app):
    client = TestClient(page_app[0])
    photo, hole = photo_array(), mask_array() > 0
    reply = submit(client, png(photo))
    assert reply.status_code == 200, reply.text
    stream = events(client, reply.json()["id"])
    last = stream[-1]  # the last progress stays with the job
    assert last["state"] == "done" and stream[0]["state"] in ("queued", "running")
    assert (last["level"], last["levels"], last["evaluation"], last["fraction"]) == (2, 2, last["evaluations"], 1.0)
    result = client.get(f"/api/jobs/{reply.json()['id']}/result.png")
    assert result.headers["content-disposition"] == 'attachment; filename="photo_inpainted.png"'
    filled = np.asarray(Image.open(io.BytesIO(result.content)))
    assert np.array_equal(filled[~hole], photo[~hole]) and not np.array_equal(filled[hole], photo[hole])
    assert client.post(f"/api/jobs/{reply.json()['id']}/forget").status_code == 204
    assert client.get(f"/api/jobs/{reply.json()['id']}/result.png").status_code == 404  # nothing kept


def test_a_running_fill_is_cancelled(page_app):
    client = TestClient(page_app[0])
    job_id = submit(client, preset="slow").json()["id"]
    wait_for(client, job_id, "running")
    deadline = time.monotonic() + 60
    while "level" not in (progress := client.get(f"/api/jobs/{job_id}").json()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert progress["level"] == 1 and progress["levels"] == 2 and 0 < progress["fraction"] < 1
    assert progress["seconds_left"] > 0  # 4000 evaluations a level: far from done
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    assert events(client, job_id)[-1]["state"] == "cancelled"
    assert client.get(f"/api/jobs/{job_id}/result.png").status_code == 409


def test_the_stream_ends_with_the_final_state_even_when_the_job_ends_between_two_reads(page_app, monkeypatch):
    client = TestClient(page_app[0])
    job_id = submit(client, preset="slow").json()["id"]
    wait_for(client, job_id, "running")
    queue, job = page_app[1], page_app[1].get(job_id)

    def position_then_end(other):  # a snapshot reads the state, then the position: the job ends in between
        if other.state == "running":
            queue.cancel(other)
            other.state = "cancelled"
        return 0

    monkeypatch.setattr(queue, "position", position_then_end)
    stream = events(client, job_id)
    assert stream[-2]["state"] == "running" and stream[-1]["state"] == "cancelled" and job.state == "cancelled"


def test_two_fills_queue_one_after_the_other(page_app):
    client = TestClient(page_app[0])
    first = submit(client, preset="slow").json()
    wait_for(client, first["id"], "running")
    second = submit(client).json()
    assert second["position"] == 1 and client.get(f"/api/jobs/{second['id']}").json()["state"] == "queued"
    client.post(f"/api/jobs/{first['id']}/cancel")
    stream = events(client, second["id"])
    assert stream[-1]["state"] == "done" and any(event["state"] == "running" for event in stream)


@pytest.mark.parametrize("photo, mask, name, message", [
    (b"these are not pixels", None, "notes.txt", "cannot read image notes.txt"),
    (None, png(np.zeros((72, 96), np.uint8)), "photo.png", "no hole is painted"),
    (png(photo_array(12, 12)), png(mask_array(12, 12)), "tiny.png", "tiny.png is 12×12 px; the fill needs at least 16"),
    (None, png(mask_array(48, 36)), "photo.png", "the painted mask is 48×36 px, the photo 96×72"),
    (None, png(np.full((72, 96), 255, np.uint8)), "photo.png", "the whole photo is painted"),
])
def test_bad_uploads_are_one_sentence(page_app, photo, mask, name, message):
    reply = submit(TestClient(page_app[0]), photo, mask, name=name)
    assert reply.status_code == 400 and message in reply.json()["detail"], reply.text
    assert "\n" not in reply.json()["detail"]


def test_uploads_over_the_limit_are_refused():
    import torch

    queue = JobQueue(tiny_factory, [torch.device("cpu")])
    try:
        small = OPTIONS.__class__(**{**OPTIONS.__dict__, "max_upload_mb": 0.01})  # 10 KiB
        reply = submit(TestClient(create_app(queue, small)), png(photo_array(200, 200)))
        assert reply.status_code == 413 and "over the 0 MB upload limit" in reply.json()["detail"]
    finally:
        queue.close()


def test_a_full_queue_refuses_more(page_app):
    app, queue = page_app
    client = TestClient(app)
    jobs = [submit(client, preset="slow").json()["id"] for _ in range(queue.max_waiting + 1)]  # one runs
    reply = submit(client)
    assert reply.status_code == 400 and "are waiting already" in reply.json()["detail"]
    for job_id in jobs:
        client.post(f"/api/jobs/{job_id}/cancel")


def test_serve_py_prints_its_address_serves_the_page_and_stops_on_ctrl_c(tmp_path):
    import signal
    import socket
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from conftest import ROOT as REPOSITORY
    from test_reliability import FAST

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, str(REPOSITORY / "serve.py"), *FAST, f"port={port}"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.strip() == f"neuralpatch page: http://127.0.0.1:{port}/  (Ctrl-C stops it)", line
        deadline = time.monotonic() + 30
        while True:  # the address is printed as uvicorn starts listening
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/options", timeout=30) as reply:
                    options = json.loads(reply.read())
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline, "serve.py never answered"
                time.sleep(0.1)
        assert options["prior"] == "softened_lines" and "paper" in options["presets"] and "content" not in options["priors"]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in stderr, stderr[-3000:]
