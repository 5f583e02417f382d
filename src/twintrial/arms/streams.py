"""Random streams of the arms stage, keyed by (seed, "arms", stream, patient, column).

Every number is a counter-based Philox draw (:mod:`twintrial.philox`) of the patient index
``vid`` and the column, so a patient's numbers do not depend on the chunk, the worker or the
other rows it is simulated with, and a column does not depend on how many columns are drawn.

Streams are *not* keyed by arm wherever the randomness belongs to the patient rather than to the
treatment (residual noise, dropout, dose-taking, the event-time exponential): every arm sees the
same numbers, which makes the arms paired counterfactuals (common random numbers) and minimises
the Monte Carlo variance of between-arm contrasts. Only trial-level effect sizes, which are a
property of the arm, are keyed by arm (see :mod:`twintrial.arms.effects`).
"""

from __future__ import annotations

import functools

import numpy as np

from twintrial import philox

STAGE = "arms"


@functools.lru_cache(maxsize=256)
def stream_key(seed: int, stream: str) -> tuple[np.uint64, np.uint64]:
    """Philox key of the arms stream ``stream`` under ``seed``."""
    return philox.stream_key(int(seed), STAGE, stream)


def normals(seed: int, stream: str, vid: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)`` standard normals (Fortran-ordered: the layout in which the time-major
    predictions of :func:`twintrial.models.simulate.predict_numpy` combine with them fastest);
    entry ``(i, j)`` depends only on ``(seed, stream, vid[i], j)``."""
    return philox.normals(stream_key(seed, stream), vid, width)


def uniforms(seed: int, stream: str, vid: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)`` uniforms on [0, 1) (Fortran-ordered); entry ``(i, j)`` depends only on
    ``(seed, stream, vid[i], j)``."""
    return philox.uniforms(stream_key(seed, stream), vid, width)


def exponentials(seed: int, stream: str, vid: np.ndarray) -> np.ndarray:
    """``(n,)`` standard exponentials; entry ``i`` depends only on ``(seed, stream, vid[i])``."""
    return philox.exponentials(stream_key(seed, stream), vid)
