"""A local page to paint the hole and watch the fill: ``python serve.py`` (FastAPI under uvicorn)."""

from neuralpatch.serve.app import PageOptions, create_app
from neuralpatch.serve.jobs import Job, JobQueue

__all__ = ["Job", "JobQueue", "PageOptions", "create_app"]
