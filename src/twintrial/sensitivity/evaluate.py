"""Batched evaluation of a sensitivity design, synchronously or on Dask.

The evaluation is a vectorised callable taking whole batches::

    evaluate(X: ndarray (n_samples, n_inputs), names: list[str]) -> ndarray (n_samples, n_outputs)

(with ``index_keyed=True`` it is also given ``rows=``, the global sample indices of the batch, so
a stochastic simulator can key its random streams by sample index). Each batch's result depends
only on its rows, so the result is identical for any batch size and any number of workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from twintrial.exceptions import AnalysisError
from twintrial.sensitivity.problem import SensitivitySamples, check_samples

Evaluate = Callable[..., Any]


def _evaluate_batch(evaluate: Evaluate, X: npt.NDArray[np.float64], names: list[str],
                    start: int, n_outputs: int, index_keyed: bool) -> npt.NDArray[np.float64]:
    if index_keyed:
        rows = np.arange(start, start + len(X), dtype=np.int64)
        out = evaluate(X, names, rows=rows)
    else:
        out = evaluate(X, names)
    Y = np.asarray(out, dtype=np.float64)
    if Y.ndim == 1 and n_outputs == 1:
        Y = Y[:, None]
    if Y.shape != (len(X), n_outputs):
        raise AnalysisError(f"evaluate: must return shape (n_samples, n_outputs) = "
                            f"({len(X)}, {n_outputs}) for a batch of {len(X)} samples; got "
                            f"{Y.shape}. Return one column per configured output.")
    return Y


def evaluate_sensitivity(samples: SensitivitySamples, evaluate: Evaluate, *,
                         client: Any | None = None, batch_size: int = 2048,
                         index_keyed: bool = False) -> npt.NDArray[np.float64]:
    """Evaluate every sample of the design in batches.

    Parameters
    ----------
    samples
        The design from :func:`~twintrial.sensitivity.sample_sensitivity`.
    evaluate
        Vectorised model: ``evaluate(X, names) -> Y`` with ``Y`` of shape
        ``(len(X), n_outputs)`` (a 1-D array is accepted for one output). It must be a
        deterministic function of its rows (use common random numbers, or ``index_keyed``).
    client
        A ``dask.distributed.Client`` (or any executor with ``submit``): batches become tasks.
        ``None`` evaluates the batches in this process, in order.
    batch_size
        Samples per batch (task). Does not change the result.
    index_keyed
        Pass ``rows=`` (int64 global sample indices of the batch) to ``evaluate``, so random
        streams can be keyed by sample index, never by batch.

    Returns
    -------
    numpy.ndarray
        ``(n_samples, n_outputs)`` float64, in the row order of ``samples.X``.

    Raises
    ------
    AnalysisError
        If the samples do not match their metadata or ``evaluate`` returns the wrong shape.
    """
    check_samples(samples)
    if batch_size < 1:
        raise AnalysisError(f"batch_size: must be >= 1; got {batch_size}.")
    X, names, n_out = samples.X, samples.names, len(samples.output_names)
    starts = range(0, len(X), batch_size)
    if client is None:
        parts = [_evaluate_batch(evaluate, X[s:s + batch_size], names, s, n_out, index_keyed)
                 for s in starts]
    else:
        scatter = getattr(client, "scatter", None)
        # ship the model (which may hold a cohort or posterior draws) to the workers once
        model = scatter(evaluate, broadcast=True, hash=False) if callable(scatter) else evaluate
        futures = [client.submit(_evaluate_batch, model, X[s:s + batch_size].copy(), names, s,
                                 n_out, index_keyed) for s in starts]
        gather = getattr(client, "gather", None)
        parts = gather(futures) if callable(gather) else [f.result() for f in futures]
    Y = np.concatenate(parts, axis=0) if parts else np.empty((0, n_out))
    return np.ascontiguousarray(Y, dtype=np.float64)
