"""Training across processes: the launcher, the process group, and the rank helpers.

`launch` is a small torchrun: it hosts the rendezvous store on 127.0.0.1 (a port the
kernel picks, so two launches never race for one), starts `nproc` fresh interpreters
(`python -m scalesearch.training.distributed`) with the usual RANK / WORLD_SIZE / LOCAL_RANK /
MASTER_ADDR / MASTER_PORT environment, and waits.  Each rank joins the group (gloo on
CPU, nccl on CUDA, one GPU per rank), calls the target function with the launcher's
keyword arguments, and rank 0 hands its return value back through a file.  A rank that
fails takes the others down with it; a UserError raised in a rank becomes the
launcher's own one-line error.  A launcher killed by any signal, SIGKILL included, takes
its ranks with it (processes.die_with_parent), so no orphan keeps a core busy.  Rank 0's
progress reaches the launcher through the rendezvous store (`relay_progress`).

The helpers (`rank`, `world_size`, `is_main`, `shard`, `all_reduce_sum`, ...) answer for
a single process too (rank 0 of 1, no-op reductions), so the training loop calls them
unconditionally and reads the same with one process or many.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn

from scalesearch.errors import UserError
from scalesearch.processes import die_with_parent, signals_as_interrupt, stop

JOB_ENV = "SCALESEARCH_DIST_JOB"  # the pickled job file a rank reads
PARENT_ENV = "SCALESEARCH_DIST_PARENT"  # the launcher's pid, to notice its death
JOIN_TIMEOUT = datetime.timedelta(minutes=5)  # every rank imports torch and loads data first
PROGRESS_KEY = "scalesearch/progress"
_store: dist.TCPStore | None = None  # this rank's connection to the launcher's store


# -- rank helpers (valid with or without a process group) -------------------------------

def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process writes files and reports: rank 0, or the only process."""
    return rank() == 0


def shard(n: int) -> slice:
    """This rank's contiguous part of n items; parts differ in size by at most one."""
    world, me = world_size(), rank()
    return slice(n * me // world, n * (me + 1) // world)


def all_reduce_sum(value: torch.Tensor) -> torch.Tensor:
    """The sum over ranks of `value` (a new tensor; `value` is left alone)."""
    if world_size() == 1:
        return value
    total = value.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `model` when there is more than one rank."""
    if world_size() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


@torch.no_grad()
def average_batch_norm_statistics(norms: list[nn.Module], batches: int) -> None:
    """Combine per-rank cumulative BN statistics over `batches` local batches into the
    average over every rank's batches: the same numbers one process would get from them all."""
    if world_size() == 1:
        return
    weight = torch.tensor(float(batches), device=norms[0].running_mean.device)
    total = all_reduce_sum(weight)
    for m in norms:
        for buffer in (m.running_mean, m.running_var):
            buffer.mul_(weight)
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer.div_(total.clamp_min(1))
        m.num_batches_tracked.fill_(int(total))


def from_main(value: Any) -> Any:
    """Rank 0's `value` on every rank (itself without a process group)."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def rng_states() -> list[torch.Tensor]:
    """Every rank's global torch RNG state (dropout, stochastic depth), in rank order."""
    state = torch.get_rng_state()
    if world_size() == 1:
        return [state]
    states: list[Any] = [None] * world_size()
    dist.all_gather_object(states, state)
    return states


# -- the launcher ---------------------------------------------------------------------

def check_nproc(nproc: int, device_type: str, cores: int) -> None:
    if nproc < 1:
        raise UserError(f"{{nproc}} must be >= 1, got {nproc}")
    if device_type == "cuda":
        gpus = torch.cuda.device_count()
        if nproc > gpus:
            raise UserError(f"{{nproc}} {nproc} needs one GPU per process, but {gpus} are visible; "
                            f"use {{nproc}} {gpus} or fewer")
    elif nproc > cores:
        raise UserError(f"{{nproc}} {nproc} is more than the {cores} CPU cores available to this process; "
                        f"use {{nproc}} {cores} or fewer")


def relay_progress(done: int, total: int, info: str) -> None:
    """In rank 0 of a launched job: hand a progress line to the launcher (else nothing)."""
    if _store is not None:
        _store.set(PROGRESS_KEY, json.dumps([done, total, info]))


def launch(target: str, kwargs: dict[str, Any], nproc: int, device_type: str,
           on_progress: Callable[[list], None] | None = None) -> Any:
    """Run `target` ("package.module:function") in `nproc` ranks; return rank 0's result.

    `on_progress([done, total, info])` hears what rank 0 relays while the ranks run."""
    store = dist.TCPStore("127.0.0.1", 0, nproc + 1, True, timeout=JOIN_TIMEOUT,
                          wait_for_workers=False)  # port 0: the kernel picks a free one
    with tempfile.TemporaryDirectory(prefix="scalesearch-dist-") as folder:
        job = Path(folder) / "job.pkl"
        job.write_bytes(pickle.dumps({"target": target, "kwargs": kwargs,
                                      "backend": "nccl" if device_type == "cuda" else "gloo",
                                      "folder": folder}))
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(store.port),
               "WORLD_SIZE": str(nproc), "LOCAL_WORLD_SIZE": str(nproc), JOB_ENV: str(job),
               PARENT_ENV: str(os.getpid())}
        ranks: list[subprocess.Popen] = []
        with signals_as_interrupt():
            try:
                for r in range(nproc):
                    ranks.append(subprocess.Popen(
                        [sys.executable, "-m", "scalesearch.training.distributed"],
                        env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                        stdin=subprocess.DEVNULL, stdout=2))  # stdout is the launcher's alone (JSON)
                failed = _wait(ranks, store, on_progress)
            finally:
                stop(ranks)
        del store
        if failed is not None:
            r, code = failed
            for path in sorted(Path(folder).glob("error-*.pkl")):
                raise UserError(pickle.loads(path.read_bytes()))  # the rank's message template
            raise UserError(f"training rank {r} of {nproc} failed (exit code {code}); its output is above")
        return pickle.loads((Path(folder) / "result.pkl").read_bytes())


def _wait(ranks: list[subprocess.Popen], store: dist.TCPStore,
          on_progress: Callable[[list], None] | None) -> tuple[int, int] | None:
    """Wait for every rank, relaying progress; at the first failure, return (rank, exit code)."""
    last = None
    while True:
        codes = [p.poll() for p in ranks]
        for r, code in enumerate(codes):
            if code not in (None, 0):
                return r, code
        if all(code == 0 for code in codes):
            return None
        if on_progress is not None and store.check([PROGRESS_KEY]):
            value = store.get(PROGRESS_KEY)
            if value != last:
                last = value
                on_progress(json.loads(value))
        time.sleep(0.05)


# -- one rank -------------------------------------------------------------------------

def _rank_main() -> int:
    global _store
    die_with_parent(int(os.environ.get(PARENT_ENV, "0")))
    job = pickle.loads(Path(os.environ[JOB_ENV]).read_bytes())
    me, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    folder = Path(job["folder"])
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world + 1, False,
                          timeout=JOIN_TIMEOUT)
    if job["backend"] == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(job["backend"], store=store, rank=me, world_size=world, timeout=JOIN_TIMEOUT)
    _store = store if me == 0 else None
    try:
        module, name = job["target"].split(":")
        result = getattr(importlib.import_module(module), name)(**job["kwargs"])
        if me == 0:
            (folder / "result.pkl").write_bytes(pickle.dumps(result))
        return 0
    except UserError as error:
        (folder / f"error-{me}.pkl").write_bytes(pickle.dumps(error.template))
        return 1
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(_rank_main())
