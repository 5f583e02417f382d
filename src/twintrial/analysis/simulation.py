"""Operating characteristics of a trial design by simulating replicate trials.

Design decisions
----------------
- A *sampler* ``sampler(n_per_arm, n_replicates, rng) -> dict of arrays`` returns one batch of
  replicate trials with arrays of shape ``(n_replicates, n_per_arm)`` under standard keys:
  ``y_treated``/``y_control`` (continuous or 0/1 outcome), ``x_treated``/``x_control`` (covariate,
  e.g. the twin prognostic score), ``time_*``/``event_*`` (time to event). A *test* turns that dict
  into a :class:`~twintrial.analysis._common.TestResult` for the whole batch (see :data:`TESTS`).
- Replicates are generated in blocks of :data:`REPLICATE_BLOCK`; block ``b`` of design ``n`` draws
  from ``twintrial.rng.generator(seed, "analysis", endpoint, n, "replicate-block", b)``, so the
  results depend only on the seed and the identifiers, not on how the work is split.
- :func:`randomize_and_observe` turns the arm simulator's potential outcomes (every virtual patient
  simulated under both arms) into replicate trials: 2n distinct patients per replicate, randomised
  n:n, each observed under its assigned arm only.
- Summary per n: rejection rate (power, or type I error under a null sampler) with Monte-Carlo SE
  sqrt(p(1-p)/R); probability of success = significant *and* in the favourable direction; mean
  estimate, bias and coverage (when the true effect is given) with their MC SEs. Replicates whose
  analysis failed (NaN estimate, e.g. separation) count as not rejected and are reported.
- Type I error: run the same design with a null sampler, e.g. ``normal_sampler(delta=0, ...)`` or,
  for twin outcomes, ``population_sampler({"y": y_control}, {"y": y_control}, ...)`` (a null arm:
  both arms observe the control potential outcome).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from twintrial import rng as rng_mod
from twintrial.analysis._common import FloatArray, TestResult, check_alpha, check_alternative
from twintrial.analysis.binary import chi_square_test, logistic_test, two_proportion_test
from twintrial.analysis.continuous import ancova, t_test, welch_test
from twintrial.analysis.survival import cox_test, logrank_test
from twintrial.exceptions import AnalysisError

__all__ = ["REPLICATE_BLOCK", "TESTS", "Sampler", "binary_sampler", "exponential_sampler",
           "normal_sampler", "population_sampler", "randomize_and_observe", "run_test",
           "simulate_operating_characteristics"]

REPLICATE_BLOCK = 1024
"""Replicate trials per random-number block (the unit of split-invariant streams)."""

TrialBatch = Mapping[str, FloatArray]


class Sampler(Protocol):
    """Draws ``n_replicates`` trials with ``n_per_arm`` patients per arm."""

    def __call__(self, n_per_arm: int, n_replicates: int, rng: np.random.Generator
                 ) -> TrialBatch: ...


def _need(data: TrialBatch, keys: Iterable[str], test: str) -> list[FloatArray]:
    missing = [k for k in keys if k not in data]
    if missing:
        raise AnalysisError(f"test {test!r}: the trial data lack {missing}; got keys "
                            f"{sorted(data)}. Make the sampler return them.")
    return [data[k] for k in keys]


_Y, _X = ("y_treated", "y_control"), ("x_treated", "x_control")
_S = ("time_treated", "event_treated", "time_control", "event_control")

TESTS: dict[str, Callable[..., TestResult]] = {
    "t": lambda d, **kw: t_test(*_need(d, _Y, "t"), **kw),
    "welch": lambda d, **kw: welch_test(*_need(d, _Y, "welch"), **kw),
    "ancova": lambda d, **kw: ancova(*_need(d, _Y + _X, "ancova"), **kw),
    "two_proportion": lambda d, **kw: two_proportion_test(*_need(d, _Y, "two_proportion"), **kw),
    "chi_square": lambda d, **kw: chi_square_test(*_need(d, _Y, "chi_square"),
                                                  alpha=kw["alpha"]),
    "logistic": lambda d, **kw: logistic_test(*_need(d, _Y, "logistic"), **kw),
    "logrank": lambda d, **kw: logrank_test(*_need(d, _S, "logrank"), **kw),
    "cox": lambda d, **kw: cox_test(*_need(d, _S, "cox"), **kw),
}
"""Named tests usable in :func:`simulate_operating_characteristics` and in config."""


def run_test(test: str | Callable[..., TestResult], data: TrialBatch, *, alpha: float = 0.05,
             alternative: str = "two-sided") -> TestResult:
    """Apply a named test from :data:`TESTS` (or a callable ``f(data, alpha=, alternative=)``)."""
    if callable(test):
        return test(data, alpha=alpha, alternative=alternative)
    if test not in TESTS:
        raise AnalysisError(f"test: unknown test {test!r}; choose one of {sorted(TESTS)}.")
    return TESTS[test](data, alpha=alpha, alternative=alternative)


def normal_sampler(*, delta: float, sd: float, mean_control: float = 0.0) -> Sampler:
    """Sampler of normal outcomes: control N(mean, sd), treated N(mean + delta, sd)."""
    def sample(n: int, reps: int, rng: np.random.Generator) -> TrialBatch:
        y = rng.normal(mean_control, sd, size=(2, reps, n))
        return {"y_treated": y[0] + delta, "y_control": y[1]}
    return sample


def binary_sampler(*, p_control: float, p_treated: float) -> Sampler:
    """Sampler of responder flags with the given response probabilities."""
    def sample(n: int, reps: int, rng: np.random.Generator) -> TrialBatch:
        u = rng.random(size=(2, reps, n))
        return {"y_treated": (u[0] < p_treated).astype(np.float64),
                "y_control": (u[1] < p_control).astype(np.float64)}
    return sample


def exponential_sampler(*, hazard_control: float, hazard_ratio: float,
                        followup: float = np.inf) -> Sampler:
    """Sampler of exponential survival times, administratively censored at ``followup``."""
    def sample(n: int, reps: int, rng: np.random.Generator) -> TrialBatch:
        e = rng.standard_exponential(size=(2, reps, n))
        t1, t0 = e[0] / (hazard_control * hazard_ratio), e[1] / hazard_control
        return {"time_treated": np.minimum(t1, followup), "event_treated": (t1 <= followup) * 1.0,
                "time_control": np.minimum(t0, followup), "event_control": (t0 <= followup) * 1.0}
    return sample


def randomize_and_observe(treated: Mapping[str, npt.ArrayLike],
                          control: Mapping[str, npt.ArrayLike],
                          baseline: Mapping[str, npt.ArrayLike] | None = None, *,
                          n_per_arm: int, n_replicates: int,
                          rng: np.random.Generator) -> dict[str, FloatArray]:
    """Draw replicate randomised trials from potential outcomes of a virtual population.

    Parameters
    ----------
    treated, control
        Potential outcomes by name (e.g. ``{"y": ...}`` or ``{"time": ..., "event": ...}``), each a
        length-N array indexed by ``vid``: the outcome if that patient were on that arm.
    baseline
        Baseline values by name (e.g. ``{"x": prognostic_score}``), observed in both arms.
    n_per_arm, n_replicates
        Trial size and number of trials.
    rng
        Random generator (use a stream keyed by stable names).

    Returns
    -------
    dict
        ``"<name>_treated"``, ``"<name>_control"`` arrays of shape ``(n_replicates, n_per_arm)``,
        plus ``"vid_treated"``, ``"vid_control"`` (the sampled patients).
    """
    baseline = baseline or {}
    if set(treated) != set(control):
        raise AnalysisError(f"treated/control: outcome names differ; got {sorted(treated)} and "
                            f"{sorted(control)}. Give the same outcomes for both arms.")
    cols = {**{f"t:{k}": np.asarray(v) for k, v in treated.items()},
            **{f"c:{k}": np.asarray(v) for k, v in control.items()},
            **{f"b:{k}": np.asarray(v) for k, v in baseline.items()}}
    sizes = {v.shape for v in cols.values()}
    if len(sizes) != 1 or len(next(iter(sizes))) != 1:
        raise AnalysisError(f"treated/control/baseline: every column must be 1-D of the same "
                            f"length (one value per vid); got shapes {sorted(sizes)}.")
    size = next(iter(sizes))[0]
    if 2 * n_per_arm > size:
        raise AnalysisError(f"n_per_arm: 2 x {n_per_arm} exceeds the {size} virtual patients; "
                            "enlarge the cohort or lower n_per_arm.")
    keys = rng.random((n_replicates, size))
    chosen = np.argpartition(keys, 2 * n_per_arm - 1, axis=1)[:, : 2 * n_per_arm]
    # random order of the chosen patients = random assignment to arms
    chosen = np.take_along_axis(
        chosen, np.argsort(np.take_along_axis(keys, chosen, 1), axis=1), 1)
    vid_t, vid_c = chosen[:, :n_per_arm], chosen[:, n_per_arm:]
    out: dict[str, FloatArray] = {"vid_treated": vid_t, "vid_control": vid_c}
    for k in treated:
        out[f"{k}_treated"] = cols[f"t:{k}"][vid_t].astype(np.float64)
        out[f"{k}_control"] = cols[f"c:{k}"][vid_c].astype(np.float64)
    for k in baseline:
        out[f"{k}_treated"] = cols[f"b:{k}"][vid_t].astype(np.float64)
        out[f"{k}_control"] = cols[f"b:{k}"][vid_c].astype(np.float64)
    return out


def population_sampler(treated: Mapping[str, npt.ArrayLike], control: Mapping[str, npt.ArrayLike],
                       baseline: Mapping[str, npt.ArrayLike] | None = None) -> Sampler:
    """Sampler drawing trials from a virtual population's potential outcomes (see above)."""
    def sample(n: int, reps: int, rng: np.random.Generator) -> TrialBatch:
        return randomize_and_observe(treated, control, baseline, n_per_arm=n,
                                     n_replicates=reps, rng=rng)
    return sample


def _rate(hits: np.ndarray) -> tuple[float, float]:
    p = float(np.mean(hits))
    return p, float(np.sqrt(p * (1 - p) / hits.size))


def summarise_replicates(parts: Sequence[TestResult], *, alpha: float, favourable: str,
                         truth: float | None) -> dict[str, float]:
    """Operating characteristics of replicate analyses (blocks of :class:`TestResult`).

    Returns ``n_replicates``, ``n_failed`` (non-finite estimates, counted as not rejected),
    ``rejection_rate`` and ``prob_success`` (rejected in the ``favourable`` direction) with their
    Monte-Carlo SEs, ``mean_estimate``, ``empirical_se``, ``mean_se`` and, given the ``truth``,
    ``true_effect``, ``bias`` (with MC SE) and ``coverage`` (with MC SE) of the intervals.
    """
    est = np.concatenate([np.ravel(r.estimate) for r in parts])
    se = np.concatenate([np.ravel(r.se) for r in parts])
    lo = np.concatenate([np.ravel(r.ci_low) for r in parts])
    hi = np.concatenate([np.ravel(r.ci_high) for r in parts])
    pv = np.concatenate([np.ravel(r.p_value) for r in parts])
    ok = np.isfinite(est)
    reject = np.nan_to_num(pv, nan=1.0) < alpha
    right_way = est > 0 if favourable == "greater" else est < 0
    row: dict[str, float] = {"n_replicates": int(est.size), "n_failed": int((~ok).sum())}
    row["rejection_rate"], row["rejection_mc_se"] = _rate(reject)
    row["prob_success"], row["prob_success_mc_se"] = _rate(reject & right_way)
    row["mean_estimate"] = float(np.mean(est[ok])) if ok.any() else np.nan
    row["empirical_se"] = float(np.std(est[ok], ddof=1)) if ok.sum() > 1 else np.nan
    row["mean_se"] = float(np.mean(se[ok])) if ok.any() else np.nan
    if truth is not None and ok.any():
        row["true_effect"] = float(truth)
        row["bias"] = row["mean_estimate"] - truth
        row["bias_mc_se"] = row["empirical_se"] / np.sqrt(max(ok.sum(), 1))
        row["coverage"], row["coverage_mc_se"] = _rate((lo[ok] <= truth) & (truth <= hi[ok]))
    return row


def simulate_operating_characteristics(
        sampler: Sampler, *, n_grid: Iterable[int], n_replicates: int,
        test: str | Callable[..., TestResult], alpha: float = 0.05,
        alternative: str = "two-sided", true_effect: float | None = None,
        favourable: str = "greater", seed: int, endpoint: str = "endpoint",
        block_size: int = REPLICATE_BLOCK) -> pd.DataFrame:
    """Simulate ``n_replicates`` trials for each size in ``n_grid`` and summarise them.

    Parameters
    ----------
    sampler
        Draws batches of trials (:func:`normal_sampler`, :func:`population_sampler`, ...).
    n_grid
        Patients per arm to evaluate.
    n_replicates
        Trials per size.
    test
        Name in :data:`TESTS` or a callable ``f(data, alpha=, alternative=) -> TestResult``.
    alpha, alternative
        Level and alternative of the test.
    true_effect
        True effect on the test's scale (for bias and coverage); ``None`` skips them.
    favourable
        Direction of benefit, ``"greater"`` or ``"less"`` (HR < 1), for the probability of success.
    seed, endpoint
        Root seed and endpoint name keying the random streams.
    block_size
        Replicates per random-number block (changing it changes the streams).

    Returns
    -------
    pandas.DataFrame
        One row per n: ``n_per_arm, n_replicates, n_failed, rejection_rate, rejection_mc_se,
        prob_success, prob_success_mc_se, mean_estimate, empirical_se, mean_se`` and, with
        ``true_effect``, ``bias, bias_mc_se, coverage, coverage_mc_se``.
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    if favourable not in ("greater", "less"):
        raise AnalysisError(f"favourable: must be 'greater' or 'less'; got {favourable!r}. "
                            "Use 'less' when a lower value (or HR < 1) is the benefit.")
    if n_replicates < 2 or block_size < 1:
        raise AnalysisError(f"n_replicates: must be >= 2 (block_size >= 1); got {n_replicates}, "
                            f"{block_size}. Use e.g. 10000.")
    rows = []
    for n in n_grid:
        parts: list[TestResult] = []
        for b in range(-(-n_replicates // block_size)):
            reps = min(block_size, n_replicates - b * block_size)
            gen = rng_mod.generator(seed, "analysis", endpoint, int(n), "replicate-block", b)
            parts.append(run_test(test, sampler(int(n), reps, gen), alpha=alpha,
                                  alternative=alternative))
        row: dict[str, float] = {"n_per_arm": int(n)}
        row.update(summarise_replicates(parts, alpha=alpha, favourable=favourable,
                                        truth=true_effect))
        rows.append(row)
    return pd.DataFrame(rows)
