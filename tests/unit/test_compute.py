"""Chunking in whole patient blocks; results independent of the scheduler."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from twintrial import rng
from twintrial.compute import chunk_bounds, map_chunks


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
