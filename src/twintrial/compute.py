"""Dask execution: a local distributed cluster by default, an external scheduler by config.

Work is split into chunks of whole patient blocks (:data:`twintrial.rng.PATIENT_BLOCK`), each task a
pure function of ``(start, stop)`` whose random streams are keyed by patient block, so the result is
the same for any number of workers, any chunk size, and after a worker dies and Dask reruns its
tasks elsewhere. No home-made scheduling: Dask does placement, retries and data movement.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
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


@contextlib.contextmanager
def dask_client(cfg: DaskConfig | None = None, *, cores: int | None = None) -> Iterator[Any]:
    """Yield a ``distributed.Client``: to ``cfg.address`` if set, else to a new ``LocalCluster``.

    The local cluster has ``cfg.n_workers`` workers (default: ``cores``, the cores Snakemake gave
    the rule, else the machine's) with ``cfg.threads_per_worker`` threads each, and is shut down on
    exit; an external cluster is left running.
    """
    from distributed import Client, LocalCluster

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
    n_workers = cfg.n_workers or cores or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=cfg.threads_per_worker,
                           processes=True, dashboard_address=None, memory_limit=cfg.memory_limit,
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def map_chunks[T](func: Callable[..., T], bounds: Sequence[tuple[int, int]], *, client: Any = None,
               label: str = "tasks", **kwargs: Any) -> list[T]:
    """Run ``func(start, stop, **kwargs)`` for every chunk; return results in chunk order.

    With ``client=None`` the chunks run in this process (used by tests and tiny runs). Progress is
    logged every ~10% of tasks.
    """
    if client is None:
        return [func(start, stop, **kwargs) for start, stop in bounds]
    from distributed import as_completed

    # hash=False: identical data scattered by an earlier call gets its own key, so that call's
    # release cannot delete what these tasks depend on ("lost dependencies")
    scattered = {k: client.scatter(v, broadcast=True, hash=False) if _is_large(v) else v
                 for k, v in kwargs.items()}
    futures = [client.submit(func, start, stop, **scattered, pure=False, retries=2)
               for start, stop in bounds]
    step = max(1, len(futures) // 10)
    for done, _ in enumerate(as_completed(futures), start=1):
        if done % step == 0 or done == len(futures):
            log.info("%s: %d/%d chunks done", label, done, len(futures))
    return client.gather(futures)


def _is_large(value: Any) -> bool:
    nbytes = getattr(value, "nbytes", None)
    if nbytes is None and hasattr(value, "memory_usage"):
        with contextlib.suppress(Exception):
            nbytes = int(value.memory_usage(deep=False).sum())
    return bool(nbytes and nbytes > 1_000_000)
