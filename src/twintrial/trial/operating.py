"""Operating characteristics of one estimand: replicate trials drawn from the virtual population.

For each sample size ``n`` and each block of :data:`~twintrial.analysis.REPLICATE_BLOCK`
replicates, 2n virtual patients of the target population are drawn without replacement and
randomised n:n (:func:`twintrial.analysis.randomize_and_observe`) from the stream
``twintrial.rng.generator(seed, "analysis", estimand, n, "replicate-block", b)``. Each patient is
observed under its assigned arm only (the outcome already carries the residual noise, dropout and
rescue of the arms stage). The same randomisation gives three analyses per replicate:

- ``primary``: the prespecified test (t/Welch/ANCOVA, two-proportion/chi-square/logistic,
  log-rank/Cox; :data:`twintrial.analysis.config.DEFAULT_TESTS`); time-to-event estimands add the
  Cox model (``cox``) whose log HR is the estimator for bias and coverage;
- ``procova`` (continuous endpoints): ANCOVA on the twin prognostic score;
- the null arm (``null_<analysis>``): the treated patients are observed under their *control*
  outcome, so both arms are control (type I error).

Bias and coverage are against the virtual population's true effect on the test's scale (mean or
risk difference of the potential outcomes; the pooled Cox log HR; 0 for the null arm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from twintrial import rng as rng_mod
from twintrial.analysis import (
    REPLICATE_BLOCK,
    TestResult,
    cox_test,
    randomize_and_observe,
    run_test,
    summarise_replicates,
)
from twintrial.analysis.continuous import ancova

__all__ = ["simulate_estimand"]


def _summarise(parts: Sequence[TestResult], *, alpha: float, favourable: str,
               truth: float | None) -> dict[str, float]:
    row = summarise_replicates(parts, alpha=alpha, favourable=favourable, truth=truth)
    row["power"], row["power_mc_se"] = row.pop("rejection_rate"), row.pop("rejection_mc_se")
    return row


def simulate_estimand(treated: Mapping[str, np.ndarray], control: Mapping[str, np.ndarray],
                      baseline: Mapping[str, np.ndarray] | None, *, estimand: str, kind: str,
                      test: str, n_grid: Sequence[int], replicates: int, alpha: float,
                      alternative: str, favourable: str, truths: Mapping[str, float | None],
                      procova: bool, ties: str = "efron", seed: int,
                      block_size: int = REPLICATE_BLOCK) -> pd.DataFrame:
    """Operating characteristics of one estimand (module docstring), one row per analysis and n.

    Parameters
    ----------
    treated, control
        Potential outcomes per patient of the target population: ``{"y": ...}`` (continuous or
        0/1) or ``{"time": ..., "event": ...}`` (time to event).
    baseline
        ``{"x": prognostic score}`` for PROCOVA (continuous endpoints), else ``None``.
    estimand, kind
        Estimand name (keys the random streams) and endpoint type (``continuous``,
        ``responder``, ``time_to_event``).
    test
        Primary test name (:data:`twintrial.analysis.TESTS`).
    n_grid, replicates
        Patients per arm and replicate trials per n.
    alpha, alternative, favourable
        Test level and alternative; direction of benefit for the probability of success.
    truths
        True effect per analysis (``primary``, ``cox``, ``procova``) on its scale, or ``None``.
    procova
        Add the PROCOVA analysis (continuous endpoints with a baseline score).
    ties
        Cox ties method.
    seed
        Root seed of the analysis streams.
    block_size
        Replicates per random-number block.

    Returns
    -------
    pandas.DataFrame
        Columns ``estimand, analysis, test, n_per_arm, n_replicates, n_failed, power,
        power_mc_se, prob_success, prob_success_mc_se, mean_estimate, empirical_se, mean_se``
        and, with a truth, ``true_effect, bias, bias_mc_se, coverage, coverage_mc_se``.
        Null-arm rows have ``analysis = "null_<analysis>"`` (their ``power`` is the type I error).
    """
    names = list(treated)
    both = {**{k: np.asarray(v) for k, v in treated.items()},
            **{f"{k}__ctl": np.asarray(control[k]) for k in names}}
    ctl = {**{k: np.asarray(v) for k, v in control.items()},
           **{f"{k}__ctl": np.asarray(control[k]) for k in names}}
    analyses: dict[str, str] = {"primary": test}
    if kind == "time_to_event" and test != "cox":
        analyses["cox"] = "cox"
    use_procova = procova and kind == "continuous" and baseline is not None
    if use_procova:
        analyses["procova"] = "procova"
    results: dict[tuple[str, int], list[TestResult]] = {}
    for n in n_grid:
        for b in range(-(-replicates // block_size)):
            reps = min(block_size, replicates - b * block_size)
            gen = rng_mod.generator(seed, "analysis", estimand, int(n), "replicate-block", b)
            batch = randomize_and_observe(both, ctl, baseline, n_per_arm=int(n),
                                          n_replicates=reps, rng=gen)
            null = {f"{k}_treated": batch[f"{k}__ctl_treated"] for k in names}
            null.update({f"{k}_control": batch[f"{k}_control"] for k in names})
            for k in ("x_treated", "x_control"):
                if k in batch:
                    null[k] = batch[k]
            for label, data in (("", batch), ("null_", null)):
                for name, tst in analyses.items():
                    res = _run(tst, data, alpha=alpha, alternative=alternative, ties=ties)
                    results.setdefault((label + name, int(n)), []).append(res)
    rows: list[dict[str, Any]] = []
    for (name, n), parts in results.items():
        base = name.removeprefix("null_")
        truth = 0.0 if name.startswith("null_") else truths.get(base)
        rows.append({"estimand": estimand, "analysis": name, "test": analyses[base],
                     "n_per_arm": n, **_summarise(parts, alpha=alpha, favourable=favourable,
                                                   truth=truth)})
    return pd.DataFrame(rows)


def _run(test: str, data: Mapping[str, np.ndarray], *, alpha: float, alternative: str,
         ties: str) -> TestResult:
    if test == "procova":
        return ancova(data["y_treated"], data["y_control"], data["x_treated"], data["x_control"],
                      alpha=alpha, alternative=alternative)
    if test == "cox":
        return cox_test(data["time_treated"], data["event_treated"], data["time_control"],
                        data["event_control"], alpha=alpha, alternative=alternative, ties=ties)
    return run_test(test, data, alpha=alpha, alternative=alternative)
