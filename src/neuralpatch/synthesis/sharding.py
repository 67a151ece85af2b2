"""A folder of photos over several processes of one machine (``devices=N``: one GPU each, or CPU processes
sharing the cores); over machines, each SLURM job takes a shard (``shards``/``shard``, inpaint_files.plan_jobs).
Photos are dealt out by their sorted order, so none is filled twice or lost."""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from neuralpatch.files import InputError, resolve_device
from neuralpatch.runs import Interrupted

log = logging.getLogger(__name__)


def worker_devices(device: str, count: int) -> list[torch.device]:
    """The device of each of ``count`` processes: ``cuda:0`` … ``cuda:N-1`` on GPUs, else the CPU ``count``
    times; an InputError when the machine has fewer GPUs."""
    if not isinstance(count, int) or count < 1:
        raise InputError(f"devices={count} must be a whole number ≥ 1 (processes for a folder)")
    chosen = resolve_device(device)
    if count == 1:
        return [chosen]
    if chosen.type == "cuda":
        if count > torch.cuda.device_count():
            raise InputError(f"devices={count} but this machine has {torch.cuda.device_count()} CUDA GPU(s)")
        return [torch.device("cuda", index) for index in range(count)]
    return [chosen] * count


def fill_in_processes(jobs: list, config: dict, devices: list[torch.device]) -> tuple[list[Path], list[str]]:
    """``inpaint_files.fill`` over one spawned process per device, each taking every len(devices)-th job; the
    CPU's threads are shared among CPU processes. (result paths, skipped image names) of all of them."""
    threads = max(1, torch.get_num_threads() // sum(d.type == "cpu" for d in devices)) if any(
        d.type == "cpu" for d in devices) else 1
    results, failures = [], []
    pool = ProcessPoolExecutor(len(devices), mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = [pool.submit(_worker, jobs[rank :: len(devices)], config, str(device), threads, rank)
                   for rank, device in enumerate(devices)]
        for future in futures:
            done, skipped = future.result()
            results += done
            failures += skipped
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        finished = sum(paths["result"].exists() for _, _, paths in jobs)
        raise Interrupted(f"{finished} of {len(jobs)} images finished; nothing partial was written") from None
    pool.shutdown()
    log.info(f"{len(results)} images filled by {len(devices)} processes")
    return results, failures


def _worker(jobs: list, config: dict, device: str, threads: int, rank: int) -> tuple[list[Path], list[str]]:
    from neuralpatch.synthesis.inpaint_files import fill  # the parent's module, imported in the spawned process

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format=f"[%(asctime)s][process {rank}, {device}] %(message)s")
    return fill(jobs, config, torch.device(device), show_progress=False)
