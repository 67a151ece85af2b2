"""The page's fills: a queue served by one worker thread per device (one synthesis at a time on each), progress
for the page, cancelling, and a bounded cache of results."""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from neuralpatch.files import InputError, first_line, from_uint8, to_uint8
from neuralpatch.synthesis.holes import hole_windows
from neuralpatch.synthesis.synthesizer import Prior, Synthesizer

log = logging.getLogger(__name__)

FINAL = ("done", "error", "cancelled")
Factory = Callable[[str, str], tuple[Synthesizer, Prior]]  # (prior name, preset name) → synthesizer, prior


class Cancelled(Exception):
    """Raised from the progress callback when the page cancelled the job."""


@dataclass(eq=False)  # a job is itself: compared by identity
class Job:
    """One fill: the photo ``[H,W,3]`` uint8 and hole ``[H,W]`` bool until it runs, then the result PNG."""

    photo: np.ndarray | None
    hole: np.ndarray | None
    prior: str
    preset: str
    name: str = "photo"
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = "queued"  # queued → running → done | error | cancelled
    message: str = ""
    progress: dict = field(default_factory=dict)  # level, levels, evaluation, evaluations, window, seconds_left
    result: bytes | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


class FillProgress:
    """The synthesis' progress callback → ``job.progress`` with the time left (each level costs ~4× the one
    before; the windows around the parts of the hole run one after another); raises Cancelled when asked."""

    def __init__(self, job: Job, levels: int, windows: int):
        self.job, self.levels, self.windows, self.window, self.last = job, levels, windows, 1, (-1, 0)
        self.start = time.monotonic()

    def __call__(self, level: int, evaluation: int, total: int) -> None:
        if self.job.cancel.is_set():
            raise Cancelled
        if (level, evaluation) < self.last:  # the pyramid starts again: the next window
            self.window += 1
        self.last = (level, evaluation)
        weights = [4.0**number for number in range(self.levels)]
        within = (sum(weights[:level]) + weights[min(level, self.levels - 1)] * evaluation / total) / sum(weights)
        done = min(1.0, (self.window - 1 + within) / self.windows)
        elapsed = time.monotonic() - self.start
        self.job.progress = {"level": level + 1, "levels": self.levels, "evaluation": evaluation,
                             "evaluations": total, "window": self.window, "windows": self.windows,
                             "fraction": round(done, 4),
                             "seconds_left": round(elapsed * (1 - done) / done, 1) if done > 0 else None}


class JobQueue:
    """Jobs waiting, running and finished; ``workers`` threads, one per device, each filling one job at a time.
    At most ``max_waiting`` wait; the ``keep`` latest finished jobs are kept (older ones and forgotten ones are
    dropped, inputs as soon as a job ends)."""

    def __init__(self, factory: Factory, devices: list[torch.device], max_waiting: int = 16, keep: int = 8):
        self.factory, self.max_waiting, self.keep = factory, max_waiting, keep
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.waiting: deque[Job] = deque()
        self.ready = threading.Condition()
        self.closing = False
        self.threads = [threading.Thread(target=self._work, args=(device,), daemon=True, name=f"fill-{device}")
                        for device in devices]
        for thread in self.threads:
            thread.start()

    def submit(self, job: Job) -> Job:
        with self.ready:
            if len(self.waiting) >= self.max_waiting:
                raise InputError(f"{len(self.waiting)} fills are waiting already; try again when one has finished")
            self.jobs[job.id] = job
            self.waiting.append(job)
            self.ready.notify()
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def position(self, job: Job) -> int:
        """1 for the next job to run, 2 for the one after…; 0 when not waiting."""
        with self.ready:
            return next((number for number, other in enumerate(self.waiting, 1) if other is job), 0)

    def cancel(self, job: Job) -> None:
        with self.ready:
            job.cancel.set()
            if job in self.waiting:
                self.waiting.remove(job)
                self._end(job, "cancelled")

    def forget(self, job: Job) -> None:
        """The page is done with ``job`` (downloaded, or closed): cancel it if it has not ended, and drop it."""
        self.cancel(job)
        with self.ready:
            if job.state in FINAL:
                self.jobs.pop(job.id, None)

    def close(self, timeout: float = 30.0) -> None:
        """Cancels every job (a running fill stops at its next evaluation) and waits for the workers."""
        with self.ready:
            self.closing = True
            for job in list(self.jobs.values()):
                job.cancel.set()
            for job in list(self.waiting):
                self._end(job, "cancelled")
            self.waiting.clear()
            self.ready.notify_all()
        for thread in self.threads:
            thread.join(timeout)

    def _end(self, job: Job, state: str, message: str = "") -> None:
        job.state, job.message, job.photo, job.hole = state, message, None, None
        finished = [other for other in self.jobs.values() if other.state in FINAL]
        for old in finished[: max(0, len(finished) - self.keep)]:
            self.jobs.pop(old.id, None)

    def _work(self, device: torch.device) -> None:
        while True:
            with self.ready:
                while not self.waiting and not self.closing:
                    self.ready.wait()
                if self.closing and not self.waiting:
                    return
                job = self.waiting.popleft()
                job.state = "running"
            state, message = "done", ""
            try:
                job.result = self._fill(job, device)
            except Cancelled:
                state = "cancelled"
            except (InputError, ValueError) as error:
                state, message = "error", first_line(error)
            except Exception as error:  # reported in the page; the server keeps serving
                log.exception(f"fill {job.id} failed")
                state, message = "error", f"the fill failed ({type(error).__name__}: {first_line(error)})"
            with self.ready:
                self._end(job, state, message)

    def _fill(self, job: Job, device: torch.device) -> bytes:
        synthesizer, prior = self.factory(job.prior, job.preset)
        synthesizer = synthesizer.to(device)
        image = from_uint8(job.photo, device)  # [1,3,H,W]
        hole = torch.from_numpy(job.hole)[None, None].to(device)  # [1,1,H,W]
        windows = 1 if synthesizer.window_context is None else len(hole_windows(hole, synthesizer.window_context))
        result, _ = synthesizer(image, hole, prior, progress=FillProgress(job, synthesizer.levels, windows))
        filled = np.where(job.hole[..., None], to_uint8(result), job.photo)  # exact outside the hole
        buffer = io.BytesIO()
        Image.fromarray(filled).save(buffer, format="PNG")
        return buffer.getvalue()
