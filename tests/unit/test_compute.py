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
