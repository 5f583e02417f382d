"""Chunk functions for the Dask overhead floor of ``benchmarks/arms.py``.

They live in an importable module so that Dask's thread workers call them by reference (a function
of the benchmark script itself would be pickled by value, with every result it holds).
"""

from __future__ import annotations

from typing import Any

from twintrial.arms.simulate import _chunk_task as _arms_chunk_task  # before any patching

RESULTS: dict[tuple[int, int], Any] = {}
"""Chunk results by ``(start, stop)``, recorded by :func:`recording_chunk`."""


def recording_chunk(start: int, stop: int, **kwargs: Any) -> Any:
    """The arms stage's chunk task; its result is kept in :data:`RESULTS`."""
    RESULTS[(start, stop)] = result = _arms_chunk_task(start, stop, **kwargs)
    return result


def precomputed_chunk(start: int, stop: int, **_: Any) -> Any:
    """The recorded result of chunk ``(start, stop)``: a task that computes nothing."""
    return RESULTS[(start, stop)]
