"""Random streams of the arms stage, keyed by (seed, "arms", stream, patient block).

Streams are *not* keyed by arm wherever the randomness belongs to the patient rather than to the
treatment (residual noise, dropout, dose-taking, the event-time exponential): every arm sees the
same numbers, which makes the arms paired counterfactuals (common random numbers) and minimises
the Monte Carlo variance of between-arm contrasts. Only trial-level effect sizes, which are a
property of the arm, are keyed by arm (see :mod:`twintrial.arms.effects`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from twintrial.rng import PATIENT_BLOCK, block_generator, block_generators

STAGE = "arms"


def _block_generator(seed: int, stream: str, block: int) -> np.random.Generator:
    """Generator of block ``block`` of the arms stream ``stream`` (key hashes cached in ``rng``)."""
    return block_generator(seed, STAGE, stream, block=block)


def block_draws(seed: int, stream: str, vid: np.ndarray,
                draw: Callable[[np.random.Generator], np.ndarray]) -> np.ndarray:
    """Per-patient random numbers from block ``vid // PATIENT_BLOCK`` of ``(seed, "arms", stream)``.

    ``draw(gen)`` must return an array whose *first* axis has ``PATIENT_BLOCK`` rows (one per
    patient of the block), and must not keep ``gen`` (one generator is re-seeded per block,
    :func:`twintrial.rng.block_generators`); patient ``vid`` gets row ``vid % PATIENT_BLOCK``.
    The result for a patient therefore does not depend on the chunk it is simulated in.
    """
    vid = np.asarray(vid, dtype=np.int64)
    if vid.size == 0:
        probe = np.asarray(draw(_block_generator(seed, stream, 0)))
        return np.empty((0, *probe.shape[1:]), dtype=probe.dtype)
    if vid.size > 1 and not np.all(vid[1:] - vid[:-1] == 1):
        return _scattered_draws(seed, stream, vid, draw)
    # consecutive vids (the usual chunk): each block is one contiguous run of rows
    first, last = int(vid[0]), int(vid[-1])
    if first < 0:
        return _scattered_draws(seed, stream, vid, draw)
    out: np.ndarray | None = None
    blocks = range(first // PATIENT_BLOCK, last // PATIENT_BLOCK + 1)
    for block, gen in zip(blocks, block_generators(seed, STAGE, stream, blocks=blocks),
                          strict=True):
        lo = max(first, block * PATIENT_BLOCK)
        hi = min(last + 1, (block + 1) * PATIENT_BLOCK)
        values = np.asarray(draw(gen))
        if out is None:
            out = _like(values, vid.size)
        out[lo - first:hi - first] = values[lo - block * PATIENT_BLOCK:hi - block * PATIENT_BLOCK]
    assert out is not None
    return out


def _like(values: np.ndarray, n: int) -> np.ndarray:
    """Empty ``(n, *values.shape[1:])`` array in the memory order of ``values``.

    ``normals``/``uniforms`` draw each block as ``(width, PATIENT_BLOCK)`` and view it transposed:
    the result is then Fortran-ordered (patient axis contiguous per column), the layout in which
    the time-major predictions of :func:`twintrial.models.simulate.predict_numpy` combine with it
    fastest; block rows are copied without a transpose.
    """
    return np.empty_like(values, shape=(n, *values.shape[1:]))


def _scattered_draws(seed: int, stream: str, vid: np.ndarray,
                     draw: Callable[[np.random.Generator], np.ndarray]) -> np.ndarray:
    block = vid // PATIENT_BLOCK
    order = np.argsort(block, kind="stable")
    sb = block[order]
    starts = np.flatnonzero(np.r_[True, sb[1:] != sb[:-1]])
    ends = np.r_[starts[1:], sb.size]
    out: np.ndarray | None = None
    gens = block_generators(seed, STAGE, stream, blocks=sb[starts].tolist())
    for s0, s1, gen in zip(starts, ends, gens, strict=True):
        rows = order[s0:s1]
        values = np.asarray(draw(gen))
        if out is None:
            out = _like(values, vid.size)
        out[rows] = values[vid[rows] % PATIENT_BLOCK]
    assert out is not None
    return out


def normals(seed: int, stream: str, vid: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)`` standard normals (Fortran-ordered); column ``j`` does not depend on
    ``width`` (for ``j < width``)."""
    return block_draws(seed, stream, vid,
                       lambda g: g.standard_normal((max(width, 1), PATIENT_BLOCK)).T)[:, :width]


def uniforms(seed: int, stream: str, vid: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)`` uniforms on [0, 1) (Fortran-ordered); column ``j`` does not depend on
    ``width``."""
    return block_draws(seed, stream, vid,
                       lambda g: g.random((max(width, 1), PATIENT_BLOCK)).T)[:, :width]


def exponentials(seed: int, stream: str, vid: np.ndarray) -> np.ndarray:
    """``(n,)`` standard exponentials."""
    return block_draws(seed, stream, vid, lambda g: g.standard_exponential(PATIENT_BLOCK))
