"""From config to a SALib problem, and sampling with the metadata stored next to the samples.

:func:`problem_from_config` is the single translation from our explicit distribution fields
(``low``/``high``, ``mean``/``sd``, ...) to SALib's overloaded ``bounds``/``dists``.
:func:`sample_sensitivity` draws the design and records every option the analysis needs, so
:func:`~twintrial.sensitivity.analyze_sensitivity` reads them back instead of being told twice.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twintrial.exceptions import AnalysisError
from twintrial.sensitivity_config import InputSpec, SensitivityConfig

#: Layout of the sample matrices, per method (checked when samples are read back).
LAYOUT = {
    "sobol": "SALib.sample.sobol: blocks of 2D+2 rows (D+2 without second order) per base sample",
    "morris": "SALib.sample.morris: trajectories of D+1 consecutive rows",
}


def _salib_version() -> str:
    return version("SALib")


def _salib_entry(inp: InputSpec) -> tuple[list[float], str]:
    """SALib ``(bounds, dist)`` of one input (see ``SALib.util._nonuniform_scale_samples``)."""
    d = inp.dist
    if d == "uniform":
        assert inp.low is not None and inp.high is not None
        pad = 0.5 if inp.integer else 0.0
        return [inp.low - pad, inp.high + pad], "unif"
    if d == "loguniform":
        return [float(inp.low), float(inp.high)], "logunif"  # type: ignore[arg-type]
    if d == "normal":
        return [float(inp.mean), float(inp.sd)], "norm"  # type: ignore[arg-type]
    if d == "truncnormal":
        return [float(inp.low), float(inp.high), float(inp.mean),  # type: ignore[arg-type]
                float(inp.sd)], "truncnorm"  # type: ignore[arg-type]
    if d == "lognormal":  # SALib: ln-space mean and standard deviation
        return [float(inp.log_mean), float(inp.log_sd)], "lognorm"  # type: ignore[arg-type]
    if d == "triangular":  # SALib: [start, end, peak as a fraction of the width]
        low, high, mode = float(inp.low), float(inp.high), float(inp.mode)  # type: ignore[arg-type]
        return [low, high, (mode - low) / (high - low)], "triang"
    raise AnalysisError(f"sensitivity.inputs.{inp.name}.dist: unknown distribution; got {d!r}.")


def problem_from_config(cfg: SensitivityConfig) -> dict[str, Any]:
    """Translate the inputs of ``cfg`` into a SALib problem dictionary.

    Parameters
    ----------
    cfg
        The typed ``sensitivity`` configuration.

    Returns
    -------
    dict
        ``{"num_vars", "names", "bounds", "dists", "outputs"}`` as SALib expects: ``unif``
        ``[low, high]`` (widened by 0.5 for integer inputs), ``logunif`` ``[low, high]``,
        ``norm`` ``[mean, sd]``, ``truncnorm`` ``[low, high, mean, sd]``, ``lognorm``
        ``[log_mean, log_sd]`` and ``triang`` ``[low, high, (mode - low) / (high - low)]``.
    """
    entries = [_salib_entry(i) for i in cfg.inputs]
    return {
        "num_vars": len(cfg.inputs),
        "names": cfg.input_names,
        "bounds": [b for b, _ in entries],
        "dists": [d for _, d in entries],
        "outputs": cfg.output_names,
    }


def input_from_salib(name: str, bounds: list[float], dist: str, *, integer: bool = False
                     ) -> dict[str, Any]:
    """Inverse of the translation for one input: our explicit distribution fields.

    Returns a mapping with ``name``, ``dist`` and the distribution's fields (``kind`` and
    ``target`` are not part of a SALib problem and must be added by the caller).
    """
    b = [float(v) for v in bounds]
    if dist == "unif":
        pad = 0.5 if integer else 0.0
        return {"name": name, "dist": "uniform", "low": b[0] + pad, "high": b[1] - pad,
                "integer": integer}
    if dist == "logunif":
        return {"name": name, "dist": "loguniform", "low": b[0], "high": b[1]}
    if dist == "norm":
        return {"name": name, "dist": "normal", "mean": b[0], "sd": b[1]}
    if dist == "truncnorm":
        return {"name": name, "dist": "truncnormal", "low": b[0], "high": b[1], "mean": b[2],
                "sd": b[3]}
    if dist == "lognorm":
        return {"name": name, "dist": "lognormal", "log_mean": b[0], "log_sd": b[1]}
    if dist == "triang":
        return {"name": name, "dist": "triangular", "low": b[0], "high": b[1],
                "mode": b[0] + b[2] * (b[1] - b[0])}
    raise AnalysisError(f"problem.dists[{name}]: unknown SALib distribution; got {dist!r}.")


def _x_digest(X: npt.NDArray[np.float64]) -> str:
    return hashlib.sha256(np.ascontiguousarray(X, dtype=np.float64).tobytes()).hexdigest()


@dataclass(frozen=True)
class SensitivitySamples:
    """A sensitivity design: the input matrix and the metadata needed to analyse it.

    Attributes
    ----------
    X
        ``(n_samples, n_inputs)`` input values in the inputs' own units, in SALib's row layout.
    metadata
        JSON-serialisable: ``method``, ``N``, ``calc_second_order``, ``num_levels``,
        ``conf_level``, ``num_resamples``, ``convergence_tolerance``, ``seed``, ``problem``,
        ``salib_version``, ``integer_inputs``, ``n_rows``, ``x_sha256``, ``layout``.
    """

    X: npt.NDArray[np.float64]
    metadata: dict[str, Any]

    @property
    def names(self) -> list[str]:
        """Input names (columns of ``X``)."""
        return list(self.metadata["problem"]["names"])

    @property
    def output_names(self) -> list[str]:
        """Output names (columns the evaluation must return)."""
        return list(self.metadata["problem"]["outputs"])

    def to_frame(self) -> pd.DataFrame:
        """The samples as a table: ``row`` (int64) and one float64 column per input."""
        frame = pd.DataFrame(self.X, columns=self.names)
        frame.insert(0, "row", np.arange(len(self.X), dtype=np.int64))
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, metadata: Mapping[str, Any]) -> SensitivitySamples:
        """Rebuild from :meth:`to_frame` output and its metadata (checked for a match)."""
        names = list(metadata["problem"]["names"])
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise AnalysisError(f"samples table: missing input column(s) {missing}; the metadata "
                                f"lists {names}. Re-run the sampling.")
        samples = cls(frame[names].to_numpy(dtype=np.float64), copy.deepcopy(dict(metadata)))
        check_samples(samples)
        return samples


def check_samples(samples: SensitivitySamples) -> None:
    """Check that ``samples.X`` is the design its metadata describes.

    Raises
    ------
    AnalysisError
        If the row count, column count, content hash or SALib version does not match.
    """
    meta, X = samples.metadata, samples.X
    for key in ("method", "N", "problem", "n_rows", "x_sha256", "salib_version"):
        if key not in meta:
            raise AnalysisError(f"samples.metadata.{key}: missing; got keys {sorted(meta)}. "
                                "Create samples with sample_sensitivity().")
    d = int(meta["problem"]["num_vars"])
    n, method = int(meta["N"]), meta["method"]
    if method == "sobol":
        expected = n * (2 * d + 2 if meta["calc_second_order"] else d + 2)
    elif method == "morris":
        expected = n * (d + 1)
    else:
        raise AnalysisError(f"samples.metadata.method: unknown; got {method!r}. "
                            "Use 'sobol' or 'morris'.")
    if X.ndim != 2 or X.shape[1] != d:
        raise AnalysisError(f"samples.X: expected {d} columns ({meta['problem']['names']}); got "
                            f"shape {X.shape}. Re-run sample_sensitivity().")
    if X.shape[0] != expected or int(meta["n_rows"]) != expected:
        raise AnalysisError(
            f"samples.X: {method} with N={n}, D={d}, calc_second_order="
            f"{meta.get('calc_second_order')} needs {expected} rows; got {X.shape[0]} rows "
            f"(metadata n_rows {meta['n_rows']}). The samples and their metadata do not match: "
            "re-run sample_sensitivity().")
    if _x_digest(X) != meta["x_sha256"]:
        raise AnalysisError("samples.X: content does not match metadata.x_sha256 (the matrix was "
                            "changed or paired with another design's metadata). "
                            "Re-run sample_sensitivity().")
    if meta["salib_version"] != _salib_version():
        raise AnalysisError(f"samples.metadata.salib_version: sampled with SALib "
                            f"{meta['salib_version']}; installed {_salib_version()}. Sample "
                            "again with the installed SALib (sample layouts may differ).")


def sample_sensitivity(cfg: SensitivityConfig, *, seed: int) -> SensitivitySamples:
    """Draw the sensitivity design of ``cfg`` (Saltelli/Sobol' or Morris trajectories).

    Parameters
    ----------
    cfg
        Typed ``sensitivity`` configuration.
    seed
        Seed of the scrambled Sobol' sequence or of the Morris trajectories (derive it with
        ``twintrial.rng.job_seed(trial_seed, "sensitivity")``).

    Returns
    -------
    SensitivitySamples
        ``X`` and the metadata that :func:`analyze_sensitivity` reads back.

    Notes
    -----
    Sobol': ``SALib.sample.sobol.sample(problem, N, calc_second_order=..., scramble=True,
    seed=seed)``; row ``i * (2D + 2)`` starts the block of base sample ``i``, so the first
    ``N/2`` blocks are themselves a valid design (a scrambled Sobol' prefix of power-of-2 length),
    which the convergence check re-analyses. Morris: ``SALib.sample.morris.sample(problem, r,
    num_levels=p, seed=seed)`` without trajectory optimisation, so the first ``r/2``
    trajectories are also a valid design.

    References
    ----------
    Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output. Design and
    estimator for the total sensitivity index. Comput. Phys. Commun. 181, 259-270.
    """
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    problem = problem_from_config(cfg)
    salib_problem = {k: copy.deepcopy(v) for k, v in problem.items() if k != "outputs"}
    meta: dict[str, Any] = {"method": cfg.method, "seed": int(seed),
                            "convergence_tolerance": cfg.convergence_tolerance}
    if cfg.method == "sobol":
        o = cfg.sobol
        X = sobol_sample.sample(salib_problem, o.n_base_samples,
                                calc_second_order=o.calc_second_order, scramble=True,
                                seed=int(seed))
        meta.update(N=o.n_base_samples, calc_second_order=o.calc_second_order, scramble=True,
                    conf_level=o.conf_level, num_resamples=o.num_resamples, num_levels=None)
    else:
        o2 = cfg.morris
        X = morris_sample.sample(salib_problem, o2.trajectories, num_levels=o2.levels,
                                 optimal_trajectories=None, seed=int(seed))
        meta.update(N=o2.trajectories, calc_second_order=None, num_levels=o2.levels,
                    conf_level=o2.conf_level, num_resamples=o2.num_resamples)
    X = np.ascontiguousarray(X, dtype=np.float64)
    bad = ~np.isfinite(X).all(axis=0)
    if bad.any():
        names = [cfg.inputs[j].name for j in np.flatnonzero(bad)]
        raise AnalysisError(f"sensitivity.inputs: infinite sample values for {names} (an unbounded "
                            f"distribution at a 0 or 1 quantile). Give those inputs bounds.")
    integer_cols = [j for j, inp in enumerate(cfg.inputs) if inp.integer]
    if integer_cols:
        X[:, integer_cols] = np.rint(X[:, integer_cols])
    meta.update(problem=problem, salib_version=_salib_version(), layout=LAYOUT[cfg.method],
                integer_inputs=[cfg.inputs[j].name for j in integer_cols],
                units={i.name: i.unit for i in cfg.inputs},
                kinds={i.name: i.kind for i in cfg.inputs},
                targets={i.name: i.target for i in cfg.inputs},
                n_rows=int(X.shape[0]), x_sha256=_x_digest(X))
    return SensitivitySamples(X, meta)
