"""Sobol' and Morris indices with confidence intervals, and the N versus N/2 convergence check."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twintrial.exceptions import AnalysisError, SensitivityWarning
from twintrial.rng import job_seed
from twintrial.sensitivity.problem import SensitivitySamples, check_samples

SOBOL_INDICES = ("S1", "ST")
MORRIS_INDICES = ("mu", "mu_star", "sigma")


@dataclass(frozen=True)
class SensitivityResult:
    """Indices for every output, with confidence intervals and the convergence check.

    Attributes
    ----------
    method
        ``"sobol"`` or ``"morris"``.
    inputs, outputs
        Names, in problem / evaluation column order.
    indices
        ``indices[output][key]``: Sobol' ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (length D) and
        ``S2``, ``S2_conf`` (D x D, upper triangle; NaN elsewhere) when computed; Morris ``mu``,
        ``mu_star``, ``sigma``, ``mu_star_conf``. ``*_conf`` is the half-width of the
        ``conf_level`` bootstrap interval (SALib's convention). Morris effects are in output
        units per step of the unit-hypercube grid (SALib divides by delta = p / (2 (p - 1))),
        i.e. per fraction of the input's range (or quantile range for bounded distributions).
    convergence
        Per output: ``max_abs_change``, ``index``, ``input``, ``converged``, plus ``n_full``,
        ``n_half`` and ``tolerance``.
    output_stats
        Per output: mean, sd, min and max of the evaluations.
    metadata
        The sampling metadata the analysis read back.
    warnings
        Messages also raised as :class:`~twintrial.exceptions.SensitivityWarning`.
    """

    method: str
    inputs: list[str]
    outputs: list[str]
    indices: dict[str, dict[str, npt.NDArray[np.float64]]]
    convergence: dict[str, dict[str, Any]]
    output_stats: dict[str, dict[str, float]]
    metadata: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """Whether every output passed the N versus N/2 check."""
        return all(c["converged"] for c in self.convergence.values())

    def to_frame(self) -> pd.DataFrame:
        """Return the indices as a long table (the ``sensitivity.parquet`` contract).

        Columns: ``output``, ``input``, ``input2`` (second input of an S2 pair, else <NA>),
        ``index`` (S1, ST, S2, or mu, mu_star, sigma), ``value`` and ``conf`` (half-width of
        the bootstrap interval; NaN when there is none).
        """
        rows: list[tuple[Any, ...]] = []
        keys = SOBOL_INDICES if self.method == "sobol" else MORRIS_INDICES
        for out in self.outputs:
            idx = self.indices[out]
            for key in keys:
                conf = idx.get(f"{key}_conf")
                for j, name in enumerate(self.inputs):
                    rows.append((out, name, None, key, idx[key][j],
                                 np.nan if conf is None else conf[j]))
            if "S2" in idx:
                d = len(self.inputs)
                for j in range(d):
                    for k in range(j + 1, d):
                        rows.append((out, self.inputs[j], self.inputs[k], "S2", idx["S2"][j, k],
                                     idx["S2_conf"][j, k]))
        frame = pd.DataFrame(rows, columns=["output", "input", "input2", "index", "value", "conf"])
        for col in ("output", "input", "input2", "index"):
            frame[col] = frame[col].astype("string")
        frame["value"] = frame["value"].astype(np.float64)
        frame["conf"] = frame["conf"].astype(np.float64)
        return frame

    def summary(self) -> dict[str, Any]:
        """Return the ``sensitivity.json`` payload (the pipeline adds ``provenance``).

        Keys: ``summary`` (headline numbers), ``warnings``, ``drivers`` (in words, per output),
        ``indices``, ``convergence``, ``output_stats`` and ``sampling`` (the metadata).
        """
        from twintrial.sensitivity.describe import describe_drivers, top_drivers

        meta = self.metadata
        indices: dict[str, Any] = {}
        for out in self.outputs:
            idx = self.indices[out]
            per_input = {name: {k: _num(idx[k][j]) for k in idx if idx[k].ndim == 1}
                         for j, name in enumerate(self.inputs)}
            entry: dict[str, Any] = {"inputs": per_input}
            if "S2" in idx:
                entry["S2"] = {f"{self.inputs[j]}:{self.inputs[k]}":
                               {"value": _num(idx["S2"][j, k]), "conf": _num(idx["S2_conf"][j, k])}
                               for j in range(len(self.inputs))
                               for k in range(j + 1, len(self.inputs))}
            indices[out] = entry
        headline = {
            "method": self.method,
            "n_inputs": len(self.inputs),
            "n_outputs": len(self.outputs),
            "n_evaluations": int(meta["n_rows"]),
            "N": int(meta["N"]),
            "conf_level": float(meta["conf_level"]),
            "converged": self.converged,
            "top_drivers": top_drivers(self),
        }
        return {
            "summary": headline,
            "warnings": list(self.warnings),
            "drivers": describe_drivers(self),
            "indices": indices,
            "convergence": copy.deepcopy(self.convergence),
            "output_stats": copy.deepcopy(self.output_stats),
            "sampling": {k: v for k, v in meta.items()},
        }


def _num(v: Any) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _bootstrap_seed(seed: int, output: str) -> int:
    # SALib's sobol.analyze treats a falsy seed as "unseeded": never pass 0.
    return job_seed(int(seed), "sensitivity-bootstrap", output) or 1


def _sobol(problem: dict[str, Any], y: npt.NDArray[np.float64], meta: dict[str, Any],
           seed: int, *, num_resamples: int | None = None) -> dict[str, npt.NDArray[np.float64]]:
    from SALib.analyze import sobol

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant outputs are handled by the caller
        si = sobol.analyze(copy.deepcopy(problem), y,
                           calc_second_order=bool(meta["calc_second_order"]),
                           num_resamples=int(num_resamples or meta["num_resamples"]),
                           conf_level=float(meta["conf_level"]), seed=seed)
    keys = ["S1", "S1_conf", "ST", "ST_conf"]
    if meta["calc_second_order"]:
        keys += ["S2", "S2_conf"]
    return {k: np.asarray(si[k], dtype=np.float64) for k in keys}


def _morris(problem: dict[str, Any], X: npt.NDArray[np.float64], y: npt.NDArray[np.float64],
            meta: dict[str, Any], seed: int) -> dict[str, npt.NDArray[np.float64]]:
    from SALib.analyze import morris

    si = morris.analyze(copy.deepcopy(problem), X, y, num_resamples=int(meta["num_resamples"]),
                        conf_level=float(meta["conf_level"]), num_levels=int(meta["num_levels"]),
                        seed=seed)
    return {k: np.ma.filled(np.ma.asarray(si[k], dtype=np.float64), np.nan)
            for k in ("mu", "mu_star", "sigma", "mu_star_conf")}


def _nan_indices(method: str, d: int, second: bool) -> dict[str, npt.NDArray[np.float64]]:
    keys = (["S1", "S1_conf", "ST", "ST_conf"] if method == "sobol"
            else ["mu", "mu_star", "sigma", "mu_star_conf"])
    out = {k: np.full(d, np.nan) for k in keys}
    if method == "sobol" and second:
        out.update(S2=np.full((d, d), np.nan), S2_conf=np.full((d, d), np.nan))
    return out


def _change(full: dict[str, npt.NDArray[np.float64]], half: dict[str, npt.NDArray[np.float64]],
            method: str, inputs: list[str]) -> tuple[float, str, str]:
    """Largest absolute change between the half and the full run (Morris: relative to max mu*)."""
    if method == "sobol":
        candidates = [(abs(full[k][j] - half[k][j]), k, inputs[j])
                      for k in SOBOL_INDICES for j in range(len(inputs))]
    else:
        scale = float(np.nanmax(full["mu_star"])) or 1.0
        candidates = [(abs(full["mu_star"][j] - half["mu_star"][j]) / scale, "mu_star", inputs[j])
                      for j in range(len(inputs))]
    value, key, name = max(candidates, key=lambda c: (np.nan_to_num(c[0], nan=np.inf)))
    return float(value), key, name


def analyze_sensitivity(samples: SensitivitySamples, Y: npt.NDArray[np.float64], *,
                        seed: int) -> SensitivityResult:
    """Compute the indices of every output from the evaluated design.

    Every option (method, N, second order, confidence level, resamples, Morris levels,
    convergence tolerance) is read from ``samples.metadata``; none can be given twice.

    Parameters
    ----------
    samples
        The design from :func:`~twintrial.sensitivity.sample_sensitivity`.
    Y
        ``(n_samples, n_outputs)`` evaluations in the row order of ``samples.X``.
    seed
        Seed of the bootstrap resampling (each output gets a stream derived from it).

    Returns
    -------
    SensitivityResult

    Raises
    ------
    AnalysisError
        If the design and its metadata or ``Y`` do not match, or ``Y`` has non-finite values.

    Warns
    -----
    SensitivityWarning
        If an index changes by more than the tolerance between N/2 and N base samples
        (or half and all Morris trajectories), or an output is constant.
    """
    check_samples(samples)
    meta, X = samples.metadata, samples.X
    names, outputs = samples.names, samples.output_names
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1 and len(outputs) == 1:
        Y = Y[:, None]
    if Y.shape != (len(X), len(outputs)):
        raise AnalysisError(f"Y: expected shape ({len(X)}, {len(outputs)}) = (samples, outputs "
                            f"{outputs}); got {Y.shape}. Evaluate with evaluate_sensitivity().")
    problem = {k: v for k, v in meta["problem"].items() if k != "outputs"}
    method, n, d = meta["method"], int(meta["N"]), len(names)
    half_rows = (n // 2) * (len(X) // n)
    tol = float(meta["convergence_tolerance"])
    indices: dict[str, dict[str, npt.NDArray[np.float64]]] = {}
    convergence: dict[str, dict[str, Any]] = {}
    stats: dict[str, dict[str, float]] = {}
    messages: list[str] = []
    for o, out in enumerate(outputs):
        y = Y[:, o]
        bad = int(np.count_nonzero(~np.isfinite(y)))
        if bad:
            raise AnalysisError(f"Y[:, {o}] (output '{out}'): {bad} of {len(y)} evaluations are "
                                "NaN or infinite. Fix the model or narrow the input ranges.")
        stats[out] = {"mean": float(y.mean()), "sd": float(y.std(ddof=1)),
                      "min": float(y.min()), "max": float(y.max())}
        bseed = _bootstrap_seed(seed, out)
        if np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())):
            indices[out] = _nan_indices(method, d, bool(meta.get("calc_second_order")))
            convergence[out] = {"max_abs_change": None, "index": None, "input": None,
                                "converged": True}
            messages.append(f"sensitivity.outputs.{out}: constant ({y[0]:.6g}) over all "
                            f"{len(y)} samples; its indices are undefined (reported as null).")
            continue
        if method == "sobol":
            full = _sobol(problem, y, meta, bseed)
            half = _sobol(problem, y[:half_rows], meta, bseed, num_resamples=10)
        else:
            full = _morris(problem, X, y, meta, bseed)
            half = _morris(problem, X[:half_rows], y[:half_rows], meta, bseed)
        indices[out] = full
        change, key, name = _change(full, half, method, names)
        ok = bool(change <= tol)
        convergence[out] = {"max_abs_change": change, "index": key, "input": name, "converged": ok}
        if not ok:
            what = "relative mu*" if method == "morris" else key
            messages.append(
                f"sensitivity.outputs.{out}: not converged: {what} of {name} changed by "
                f"{change:.3f} between N/2={n // 2} and N={n} (tolerance {tol}). Increase "
                f"{'sobol.n_base_samples' if method == 'sobol' else 'morris.trajectories'}.")
    for c in convergence.values():
        c.update(n_full=n, n_half=n // 2, tolerance=tol)
    for msg in messages:
        warnings.warn(msg, SensitivityWarning, stacklevel=2)
    return SensitivityResult(method=method, inputs=names, outputs=outputs, indices=indices,
                             convergence=convergence, output_stats=stats,
                             metadata=copy.deepcopy(meta), warnings=messages)
