"""One call for the ``sensitivity`` rule: sample, evaluate, analyse (no file I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from twintrial.rng import job_seed
from twintrial.sensitivity.analyze import SensitivityResult, analyze_sensitivity
from twintrial.sensitivity.evaluate import Evaluate, evaluate_sensitivity
from twintrial.sensitivity.plots import plot_morris, plot_sobol
from twintrial.sensitivity.problem import SensitivitySamples, sample_sensitivity
from twintrial.sensitivity_config import SensitivityConfig


@dataclass(frozen=True)
class SensitivityRun:
    """Everything one sensitivity analysis produced: the design, the evaluations, the indices."""

    samples: SensitivitySamples
    Y: npt.NDArray[np.float64]
    result: SensitivityResult


def run_sensitivity(cfg: SensitivityConfig, evaluate: Evaluate, *, client: Any | None = None,
                    index_keyed: bool = False, seed: int) -> SensitivityRun:
    """Sample the design of ``cfg``, evaluate it with ``evaluate`` and analyse it.

    Parameters
    ----------
    cfg
        Typed ``sensitivity`` configuration.
    evaluate
        Vectorised ``evaluate(X, names) -> Y`` (see :func:`evaluate_sensitivity`).
    client
        Optional Dask client: batches of ``cfg.batch_size`` samples become tasks.
    index_keyed
        Pass the global sample indices to ``evaluate`` as ``rows=``.
    seed
        The stage seed (``rng.job_seed(trial_seed, "sensitivity")``); the sampling and the
        bootstrap get independent seeds derived from it.

    Returns
    -------
    SensitivityRun
    """
    samples = sample_sensitivity(cfg, seed=job_seed(seed, "sensitivity", "sample"))
    Y = evaluate_sensitivity(samples, evaluate, client=client, batch_size=cfg.batch_size,
                             index_keyed=index_keyed)
    result = analyze_sensitivity(samples, Y, seed=job_seed(seed, "sensitivity", "bootstrap"))
    return SensitivityRun(samples=samples, Y=Y, result=result)


def sensitivity_figures(result: SensitivityResult) -> dict[str, Figure]:
    """The stage's figures by file stem: ``sensitivity_sobol`` or ``sensitivity_morris``."""
    if result.method == "sobol":
        return {"sensitivity_sobol": plot_sobol(result)}
    return {"sensitivity_morris": plot_morris(result)}
