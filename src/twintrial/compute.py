"""Dask execution: a local distributed cluster by default, an external scheduler by config.

Work is split into chunks of whole patient blocks (:data:`twintrial.rng.PATIENT_BLOCK`), each task a
pure function of ``(start, stop)`` whose random streams are keyed by patient (block), so the result is
the same for any number of workers, any chunk size, and after a worker dies and Dask reruns its
tasks elsewhere. No home-made scheduling: Dask does placement, retries and data movement.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from twintrial.config import DaskConfig
from twintrial.exceptions import TwinTrialError
from twintrial.rng import PATIENT_BLOCK

log = logging.getLogger("twintrial")


def chunk_bounds(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into chunks of whole patient blocks.

    ``chunk_size`` is rounded up to a multiple of ``PATIENT_BLOCK`` so that no block of a random
    stream is ever split between tasks.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    size = max(1, math.ceil(max(chunk_size, 1) / PATIENT_BLOCK)) * PATIENT_BLOCK
    return [(start, min(start + size, n)) for start in range(0, n, size)]


MAX_AUTO_CHUNK = 262144
"""Largest chunk :func:`auto_chunk_size` picks (a few hundred MB per task for small models;
callers lower it for models with large per-patient arrays)."""


def worker_threads(client: Any) -> int:
    """Total worker threads of ``client``'s cluster (1 without a client)."""
    if client is None:
        return 1
    return max(1, sum(int(t) for t in client.nthreads().values()))


def auto_chunk_size(n: int, client: Any = None, *, tasks_per_thread: int = 1,
                    max_size: int = MAX_AUTO_CHUNK) -> int:
    """Rows per task when none is configured: few, large tasks that still keep every worker busy.

    Measured on 2 workers (biomarker model, 10^5 patients): one task per thread needs ~20% less
    CPU than two, mostly per-task transfer and scheduling in the client process.

    ``ceil(n / (tasks_per_thread * threads))`` rounded up to whole patient blocks, at most
    ``max_size`` rows (in process: ``max_size``). Per-task costs (scheduling, transfer, fixed
    Python work) are then small next to the vectorised work of each task; the results do not
    depend on it (chunk-invariant streams).
    """
    if client is None:
        return max_size
    per = math.ceil(max(n, 1) / (tasks_per_thread * worker_threads(client)))
    blocks = max(1, math.ceil(per / PATIENT_BLOCK))
    return min(blocks * PATIENT_BLOCK, max_size)


WORKER_MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": str(256 * 2**20),
                     "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20)}
"""glibc malloc settings of local workers (set before they start; the OS environment wins).

Distributed's default ``MALLOC_TRIM_THRESHOLD_=65536`` hands freed memory back to the OS at once
and switches off glibc's adaptive mmap threshold, so every temporary array of a chunk is mapped
afresh and page-faulted in: the vectorised kernels then run ~2-3x slower than in a plain Python
process. Keeping up to 256 MB of freed heap per arena and serving blocks < 32 MB from the heap
lets the chunks reuse warm memory. Set the same variables on the workers of an external cluster.
"""


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)


@functools.cache
def keep_freed_memory() -> bool:
    """Give this process the malloc settings of :data:`WORKER_MALLOC_ENV` (glibc only).

    Python's default glibc settings return freed blocks of a few MB to the OS, so each temporary
    ``(patients, visits)`` array of a vectorised stage is page-faulted in afresh: measured, the
    arms kernels then run ~2x slower in the process that runs them or assembles their results.
    Called once by the stages that do (and by :func:`dask_client` for its client process); a
    variable already set in the environment wins. Returns whether ``mallopt`` applied a setting
    (never on other C libraries, e.g. musl or macOS, where nothing is changed).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
        gnu = getattr(libc, "gnu_get_libc_version", None)
    except OSError:
        return False
    if mallopt is None or gnu is None:  # mallopt parameter numbers are glibc's
        return False
    done = False
    for param, env in ((_M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_"),
                       (_M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_")):
        if env not in os.environ:
            value = ctypes.c_int(int(WORKER_MALLOC_ENV[env]))
            done = bool(mallopt(ctypes.c_int(param), value)) or done
    return done


@contextlib.contextmanager
def dask_client(cfg: DaskConfig | None = None, *, cores: int | None = None,
                processes: bool = False) -> Iterator[Any]:
    """Yield a ``distributed.Client``: to ``cfg.address`` if set, else to a new ``LocalCluster``.

    The local cluster has ``cfg.n_workers`` workers (default: ``cores``, the cores Snakemake gave
    the rule, else the machine's) with ``cfg.threads_per_worker`` threads each, as threads of this
    process (no data copied between processes) or as separate processes, which get
    :data:`WORKER_MALLOC_ENV`: ``cfg.processes``, or the stage's ``processes`` when that is
    ``None``. It is shut down on exit. An external cluster is left running.
    """
    from distributed import Client, LocalCluster

    keep_freed_memory()  # this process assembles what the tasks return
    cfg = cfg or DaskConfig()
    if cfg.address:
        try:
            client = Client(cfg.address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise TwinTrialError(f"compute.dask.address: cannot reach the Dask scheduler at "
                                 f"{cfg.address!r} ({exc.__class__.__name__}); start it or set "
                                 "address: null for a local cluster") from None
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    n_workers = cfg.n_workers or cores or os.cpu_count() or 1
    use_processes = processes if cfg.processes is None else cfg.processes
    # thread workers all measure this one process: 'auto' shares would pause a large run
    memory_limit: str | int = (cfg.memory_limit if use_processes or cfg.memory_limit != "auto"
                               else 0)
    key = "distributed.nanny.pre-spawn-environ"
    with dask.config.set({key: {**dask.config.get(key, default={}), **WORKER_MALLOC_ENV}}):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=cfg.threads_per_worker,
                               processes=use_processes, dashboard_address=None,
                               memory_limit=memory_limit, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def take_rows(value: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a DataFrame, an array or a mapping of per-row arrays (views).

    Scalars and 0-d entries of a mapping are kept as they are.
    """
    if hasattr(value, "iloc"):
        return value.iloc[start:stop]
    if isinstance(value, Mapping):
        return {k: (v[start:stop] if getattr(v, "ndim", 0) >= 1 else v) for k, v in value.items()}
    return value[start:stop]


def for_each_chunk[T](func: Callable[..., T], bounds: Sequence[tuple[int, int]],
                      collect: Callable[[int, T], None], *, client: Any = None,
                      label: str = "tasks", sliced: Mapping[str, Any] | None = None,
                      **kwargs: Any) -> None:
    """Run ``func(start, stop, **slices, **kwargs)`` for every chunk, handing results to ``collect``.

    ``collect(i, result)`` is called in this process for chunk ``i`` as soon as it is done (in
    completion order with ``client``, so the caller can assemble while other chunks still run).
    Each value of ``sliced`` is passed to chunk ``(start, stop)`` as its rows ``start:stop``
    (:func:`take_rows`): a task carries only its own rows, nothing is broadcast, and Dask can rerun
    it anywhere after a worker dies. Other large ``kwargs`` (> 1 MB) are scattered once to every
    worker. With ``client=None`` the chunks run in this process. Progress is logged every ~10% of
    tasks.
    """
    sliced = dict(sliced or {})
    keep_freed_memory()  # chunks run (client=None) or are assembled in this process
    if client is None:
        for i, (start, stop) in enumerate(bounds):
            rows = {k: take_rows(v, start, stop) for k, v in sliced.items()}
            collect(i, func(start, stop, **rows, **kwargs))
        return
    from distributed import as_completed

    # hash=False: identical data scattered by an earlier call gets its own key, so that call's
    # release cannot delete what these tasks depend on ("lost dependencies")
    scattered = {k: client.scatter(v, broadcast=True, hash=False) if _is_large(v) else v
                 for k, v in kwargs.items()}
    # one graph update for all chunks: the scheduler queues them as one group and hands them to
    # workers as threads free up (chunks submitted one by one land on one worker until stolen)
    token = uuid.uuid4().hex[:12]
    with warnings.catch_warnings():
        # each task carries its own rows exactly once: the graph is large by design
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        mapped = client.map(functools.partial(_run_chunk, func), [a for a, _ in bounds],
                            [b for _, b in bounds],
                            [{k: take_rows(v, a, b) for k, v in sliced.items()}
                             for a, b in bounds],
                            key=[f"{label}-chunk-{token}-{i}" for i in range(len(bounds))],
                            pure=False, retries=2, **scattered)
    futures = {fut: i for i, fut in enumerate(mapped)}
    del mapped
    step = max(1, len(futures) // 10)
    for done, (fut, result) in enumerate(as_completed(futures, with_results=True), start=1):
        collect(futures[fut], result)
        fut.release()
        if done % step == 0 or done == len(futures):
            log.info("%s: %d/%d chunks done", label, done, len(futures))


def _run_chunk[T](func: Callable[..., T], start: int, stop: int, rows: Mapping[str, Any],
                  **kwargs: Any) -> T:
    return func(start, stop, **rows, **kwargs)


def map_chunks[T](func: Callable[..., T], bounds: Sequence[tuple[int, int]], *, client: Any = None,
                  label: str = "tasks", sliced: Mapping[str, Any] | None = None,
                  **kwargs: Any) -> list[T]:
    """Run ``func(start, stop, **kwargs)`` for every chunk; return results in chunk order.

    See :func:`for_each_chunk` (``sliced``, scattering, progress). With ``client=None`` the chunks
    run in this process (used by tests and tiny runs).
    """
    out: list[Any] = [None] * len(bounds)

    def keep(i: int, result: T) -> None:
        out[i] = result

    for_each_chunk(func, bounds, keep, client=client, label=label, sliced=sliced, **kwargs)
    return out


def _is_large(value: Any) -> bool:
    nbytes = getattr(value, "nbytes", None)
    if nbytes is None and hasattr(value, "memory_usage"):
        with contextlib.suppress(Exception):
            nbytes = int(value.memory_usage(deep=False).sum())
    return bool(nbytes and nbytes > 1_000_000)
