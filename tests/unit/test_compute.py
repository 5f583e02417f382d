"""Chunking in whole patient blocks; results independent of the scheduler."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twintrial import rng
from twintrial.compute import (
    MAX_AUTO_CHUNK,
    WORKER_MALLOC_ENV,
    auto_chunk_size,
    chunk_bounds,
    dask_client,
    for_each_chunk,
    keep_freed_memory,
    map_chunks,
    take_rows,
)
from twintrial.config import DaskConfig


@given(n=st.integers(0, 20_000), size=st.integers(1, 9000))
def test_chunks_cover_range_in_whole_blocks(n: int, size: int) -> None:
    bounds = chunk_bounds(n, size)
    assert [b for b in bounds] == sorted(bounds)
    covered = [i for a, b in bounds for i in range(a, b)]
    assert covered == list(range(n))
    assert all(a % rng.PATIENT_BLOCK == 0 for a, _ in bounds)


def _draw(start: int, stop: int, *, seed: int) -> np.ndarray:
    out = []
    for block in range(start // rng.PATIENT_BLOCK, -(-stop // rng.PATIENT_BLOCK)):
        g = rng.block_generator(seed, "test", block=block)
        out.append(g.normal(size=rng.PATIENT_BLOCK))
    x = np.concatenate(out)
    return x[: stop - start]


def test_map_chunks_is_chunk_invariant() -> None:
    a = np.concatenate(map_chunks(_draw, chunk_bounds(5000, 1024), seed=3))
    b = np.concatenate(map_chunks(_draw, chunk_bounds(5000, 4096), seed=3))
    np.testing.assert_array_equal(a, b)


def _sum_rows(start: int, stop: int, *, data: np.ndarray) -> float:
    return float(data[start:stop].sum())


def test_repeated_runs_with_the_same_scattered_input() -> None:
    """Regression: scattering identical data twice must not lose the second run's dependencies."""
    from distributed import Client

    data = np.arange(300_000, dtype=float)  # > 1 MB: scattered to the workers
    bounds = chunk_bounds(len(data), 4096)
    with Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
        results = [sum(map_chunks(_sum_rows, bounds, client=c, data=data)) for _ in range(4)]
    assert results == [float(data.sum())] * 4


def test_take_rows_of_frames_mappings_and_arrays() -> None:
    frame = pd.DataFrame({"a": np.arange(10), "b": np.arange(10.0) * 2})
    assert take_rows(frame, 2, 5)["b"].tolist() == [4.0, 6.0, 8.0]
    rows = take_rows({"x": np.arange(10), "s": 3.0}, 8, 12)
    assert rows["x"].tolist() == [8, 9] and rows["s"] == 3.0
    assert take_rows(np.arange(5), 1, 3).tolist() == [1, 2]


def _slice_sum(start: int, stop: int, *, data: dict, offset: float) -> tuple[int, float]:
    assert len(data["x"]) == stop - start and data["x"][0] == start
    return start, float(data["x"].sum()) + offset


def test_for_each_chunk_sends_each_task_its_rows_and_collects_every_chunk() -> None:
    from distributed import Client

    data = {"x": np.arange(20_000, dtype=float)}
    bounds = chunk_bounds(20_000, 4096)
    expected = [(a, float(data["x"][a:b].sum()) + 1.0) for a, b in bounds]
    local = map_chunks(_slice_sum, bounds, sliced={"data": data}, offset=1.0)
    assert local == expected
    seen: dict[int, tuple[int, float]] = {}
    with Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
        for_each_chunk(_slice_sum, bounds, seen.__setitem__, client=c, sliced={"data": data},
                       offset=1.0)
        assert auto_chunk_size(100_000, c) == 49 * rng.PATIENT_BLOCK  # a task per thread
        assert auto_chunk_size(100_000, c, tasks_per_thread=2) == 25 * rng.PATIENT_BLOCK
        assert auto_chunk_size(10**7, c) == MAX_AUTO_CHUNK
        assert auto_chunk_size(10, c) == rng.PATIENT_BLOCK
    assert [seen[i] for i in range(len(bounds))] == expected
    assert auto_chunk_size(10**6) == MAX_AUTO_CHUNK


def _fails_after_first_chunk(start: int, stop: int, *, data: dict[str, np.ndarray]) -> float:
    if start > 0:
        raise ValueError(f"patients {start}:{stop}: bad input")
    return float(data["x"].sum())


def test_a_failing_chunk_raises_its_error_in_the_caller() -> None:
    """A task's exception reaches the caller after Dask's retries (no hang, same type and text);
    nothing of the failed chunks is collected (in process, the chunk before them is)."""
    from distributed import Client

    data = {"x": np.arange(10_000, dtype=float)}
    bounds = chunk_bounds(10_000, 4096)
    for client_kw in (None, {"processes": False, "n_workers": 2, "threads_per_worker": 1,
                             "dashboard_address": None}):
        seen: dict[int, float] = {}
        with contextlib.ExitStack() as stack:
            client = stack.enter_context(Client(**client_kw)) if client_kw else None
            with pytest.raises(ValueError, match=r"patients \d+:\d+: bad input"):
                for_each_chunk(_fails_after_first_chunk, bounds, seen.__setitem__, client=client,
                               sliced={"data": data})
        assert set(seen) == {0} if client_kw is None else set(seen) <= {0}


def _env(names: tuple[str, ...]) -> dict[str, str | None]:
    return {k: os.environ.get(k) for k in names}


def test_local_workers_get_the_malloc_settings() -> None:
    names = tuple(WORKER_MALLOC_ENV)
    wanted = {k: os.environ.get(k, v) for k, v in WORKER_MALLOC_ENV.items()}  # OS env wins
    with dask_client(DaskConfig(n_workers=1, processes=True)) as client:
        got = client.run(_env, names)
    assert list(got.values()) == [wanted]


def test_keep_freed_memory_is_safe_to_call_again() -> None:
    first = keep_freed_memory()
    assert isinstance(first, bool)
    assert keep_freed_memory() is first  # applied once per process
    a = np.ones(2**20)  # allocating and freeing a few MB still works as before
    assert float((a + a).sum()) == 2.0 * 2**20


def test_stage_chooses_threads_or_processes_unless_configured() -> None:
    with dask_client(DaskConfig(n_workers=2)) as client:  # the arms stage's choice
        assert set(client.run(os.getpid).values()) == {os.getpid()}
        assert sum(client.nthreads().values()) == 2
        # no per-worker memory limit for threads sharing this process ('auto')
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
        assert limits == [0, 0]
    with dask_client(DaskConfig(n_workers=1, processes=False), processes=True) as client:
        assert set(client.run(os.getpid).values()) == {os.getpid()}  # the config wins
    with dask_client(DaskConfig(n_workers=1), processes=True) as client:
        assert os.getpid() not in set(client.run(os.getpid).values())
    assert DaskConfig.from_dict({}).processes is None
    assert DaskConfig.from_dict({"processes": True}).processes is True
