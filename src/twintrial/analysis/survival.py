"""Time-to-event analysis: Kaplan–Meier, log-rank and Cox PH, vectorised over replicate trials.

Design decisions
----------------
- Inputs per arm: ``time`` (> 0) and ``event`` (1 event, 0 censored), shape ``(..., n)``;
  NaN time or event = patient missing from that replicate. Censored at ``t`` counts as at risk at
  ``t`` (events before censorings at tied times), as in R ``survival``.
- Replicates are analysed together: each row is sorted once (events nudged one ulp before
  censorings at the same time), tied event times are grouped with cumulative sums, so a batch of R
  trials costs a few ``(R, n)`` array passes and no Python loop; batches without tied event times
  (continuous simulated times, even with administrative censoring) skip the grouping.
- :func:`logrank_test`: Mantel–Haenszel log-rank with the hypergeometric variance for ties
  (``survival::survdiff``). Z = (O1 - E1)/sqrt(V) for the treated arm (Z > 0: more events on
  treatment); the effect estimate is the Peto one-step log hazard ratio (O1 - E1)/V with SE
  1/sqrt(V) (approximate; use :func:`cox_test` for the MLE).
- :func:`cox_test`: Cox proportional hazards with the single binary covariate ``treated``, fitted by
  Newton–Raphson on all replicates at once. Ties by Efron (default; R ``coxph`` default) or Breslow.
  Wald SE from the observed information, Wald CI and test on the log-HR scale (exponentiate for the
  HR). Replicates where the MLE does not exist (no events in one arm) get NaN.
- :func:`kaplan_meier`: product-limit estimate, Greenwood variance, CI on the log(-log S) scale by
  default (``conf_type="log"`` gives R ``survfit``'s default, ``"plain"`` the linear one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from twintrial.analysis._common import (
    FloatArray,
    TestResult,
    as_float,
    check_alpha,
    check_alternative,
    check_same_batch,
    finish,
)
from twintrial.exceptions import AnalysisError

__all__ = ["cox_test", "kaplan_meier", "km_median", "logrank_test"]


def _arm(time: npt.ArrayLike, event: npt.ArrayLike, name: str) -> tuple[FloatArray, FloatArray]:
    t = as_float(time, f"time_{name}")
    e = as_float(event, f"event_{name}")
    if t.shape != e.shape:
        raise AnalysisError(f"event_{name}: shape must equal time_{name}'s {t.shape}; got "
                            f"{e.shape}. Give one event flag per time.")
    if np.any(t[np.isfinite(t)] < 0):
        raise AnalysisError(f"time_{name}: times must be >= 0; got {np.nanmin(t)!r}. "
                            "Use time since randomisation.")
    ok_e = np.isfinite(e)
    if np.any(ok_e & (e != 0) & (e != 1)):
        raise AnalysisError(f"event_{name}: must be 0 (censored) or 1 (event); got "
                            f"{e[ok_e & (e != 0) & (e != 1)].ravel()[0]!r}. Recode the status.")
    return t, e


@dataclass(frozen=True)
class _RiskSets:
    """Per sorted element: its tie group's risk set and event counts (shape (B, N))."""

    event: FloatArray      # 1 if this element is an event
    treated: FloatArray    # 1 if this element is in the treated arm
    last: npt.NDArray[np.bool_]  # element closes its tie group (group totals are read here)
    n_risk: FloatArray
    n1_risk: FloatArray
    d: FloatArray          # events in the element's tie group
    d1: FloatArray         # treated events in the element's tie group
    rank: FloatArray       # 0-based rank of an event among its group's events (Efron)
    batch: tuple[int, ...]


def _risk_sets(t1: FloatArray, e1: FloatArray, t0: FloatArray, e0: FloatArray) -> _RiskSets:
    batch = t1.shape[:-1]
    time = np.concatenate([t1, t0], axis=-1).reshape(-1, t1.shape[-1] + t0.shape[-1])
    event = np.concatenate([e1, e0], axis=-1).reshape(time.shape)
    rows, size = time.shape
    arm = np.broadcast_to(np.r_[np.ones(t1.shape[-1]), np.zeros(t0.shape[-1])], time.shape)
    valid = np.isfinite(time) & np.isfinite(event)
    # events sort just before censorings at the same time (censored at t are at risk at t); ties
    # then only matter between events, so administrative censoring keeps the fast path
    time_v = np.where(valid, np.where(event == 1, np.nextafter(time, -np.inf), time), np.inf)
    offsets = (np.arange(rows) * size)[:, None]
    flat = (np.argsort(time_v, axis=-1) + offsets).ravel()  # np.take on flat indices is fast

    def gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
        return values.ravel().take((index + offsets).ravel()).reshape(rows, size)

    ts = time_v.ravel().take(flat).reshape(rows, size)
    ev = np.where(valid, event, 0.0).ravel().take(flat).reshape(rows, size)
    tr = np.where(valid, arm, 0.0).ravel().take(flat).reshape(rows, size)
    n_all = valid.sum(axis=-1, keepdims=True).astype(np.float64)
    n1_all = tr.sum(axis=-1, keepdims=True)
    same_as_next = ts[:, 1:] == ts[:, :-1]
    ones = np.ones((rows, 1), bool)
    last = np.concatenate([~same_as_next, ones], axis=-1)
    cum_tr = np.cumsum(tr, -1)
    # after the nudge a tie group holds only events or only censorings; censored-only groups need
    # no grouping (they carry no events), so without tied *event* times each element is a group
    if not np.any(same_as_next & (ev[:, 1:] > 0)):
        return _RiskSets(event=ev, treated=tr, last=last & np.isfinite(ts),
                         n_risk=n_all - np.arange(size), n1_risk=n1_all - (cum_tr - tr),
                         d=ev, d1=ev * tr, rank=np.zeros_like(ev), batch=batch)
    idx = np.broadcast_to(np.arange(size), ts.shape)
    first = np.concatenate([ones, ~same_as_next], axis=-1)
    start = np.maximum.accumulate(np.where(first, idx, 0), axis=-1)
    end = np.minimum.accumulate(np.where(last, idx, size)[:, ::-1], axis=-1)[:, ::-1]
    cum_e, cum_e1 = np.cumsum(ev, -1), np.cumsum(ev * tr, -1)
    before_e = gather(cum_e - ev, start)
    before_e1 = gather(cum_e1 - ev * tr, start)
    return _RiskSets(event=ev, treated=tr, last=last & np.isfinite(ts),
                     n_risk=n_all - start, n1_risk=n1_all - gather(cum_tr - tr, start),
                     d=gather(cum_e, end) - before_e, d1=gather(cum_e1, end) - before_e1,
                     rank=cum_e - before_e - 1.0, batch=batch)


def logrank_test(time_treated: npt.ArrayLike, event_treated: npt.ArrayLike,
                 time_control: npt.ArrayLike, event_control: npt.ArrayLike, *,
                 alpha: float = 0.05, alternative: str = "two-sided") -> TestResult:
    """Log-rank test of treated vs control, per replicate trial.

    Parameters
    ----------
    time_treated, event_treated, time_control, event_control
        Shape ``(..., n1)`` and ``(..., n0)``.
    alpha, alternative
        ``"less"`` tests for fewer events on treatment (HR < 1).

    Returns
    -------
    TestResult
        Peto log-HR estimate (O - E)/V, SE 1/sqrt(V), normal CI, Z = (O - E)/sqrt(V) (chi2 = Z**2).
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    t1, e1 = _arm(time_treated, event_treated, "treated")
    t0, e0 = _arm(time_control, event_control, "control")
    check_same_batch("time_treated", t1, "time_control", t0)
    rs = _risk_sets(t1, e1, t0, e0)
    use = rs.last & (rs.d > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(use, rs.n1_risk / rs.n_risk, 0.0)
        expected = np.where(use, rs.d * frac, 0.0).sum(-1)
        var_terms = rs.d * frac * (1 - frac) * (rs.n_risk - rs.d) / np.maximum(rs.n_risk - 1, 1)
        var = np.where(use, var_terms, 0.0).sum(-1)
        observed = np.where(use, rs.d1, 0.0).sum(-1)
        est, se = (observed - expected) / var, 1.0 / np.sqrt(var)
    est, se = np.where(var > 0, est, np.nan), np.where(var > 0, se, np.nan)
    return finish(est.reshape(rs.batch), se.reshape(rs.batch), np.inf, alpha=alpha,
                  alternative=alternative, method="log-rank", scale="log hazard ratio")


def _cox_terms(a: FloatArray, b: FloatArray, x_events: FloatArray, beta: FloatArray
               ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Log partial likelihood, score and information at ``beta`` (one value per replicate).

    Each event contributes ``x beta - log(a + b e^beta)`` with ``a``, ``b`` the control and treated
    parts of its (Efron-reduced) risk set; non-events carry ``a = 1, b = 0`` and contribute 0.
    """
    br = b * np.exp(beta)[:, None]
    denom = a + br
    m = br / denom
    loglik = beta * x_events - np.log(denom).sum(-1)
    return loglik, x_events - m.sum(-1), (m * (1.0 - m)).sum(-1)


def cox_test(time_treated: npt.ArrayLike, event_treated: npt.ArrayLike,
             time_control: npt.ArrayLike, event_control: npt.ArrayLike, *,
             alpha: float = 0.05, alternative: str = "two-sided", ties: str = "efron",
             max_iter: int = 50, tol: float = 1e-9) -> TestResult:
    """Cox PH model with one binary covariate (treated), Newton–Raphson over all replicates.

    Parameters
    ----------
    time_treated, event_treated, time_control, event_control
        Shape ``(..., n1)`` and ``(..., n0)``.
    alpha, alternative
        Level of the Wald CI/test and alternative (``"less"``: HR < 1).
    ties
        ``"efron"`` (default, as R ``coxph``) or ``"breslow"``.
    max_iter, tol
        Newton iterations and convergence tolerance on the log-HR step.

    Returns
    -------
    TestResult
        Log hazard ratio treated vs control with Wald SE, CI and z (``np.exp`` for HR and CI).
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    if ties not in ("efron", "breslow"):
        raise AnalysisError(f"ties: must be 'efron' or 'breslow'; got {ties!r}. "
                            "Use 'efron' to match R coxph.")
    t1, e1 = _arm(time_treated, event_treated, "treated")
    t0, e0 = _arm(time_control, event_control, "control")
    check_same_batch("time_treated", t1, "time_control", t0)
    rs = _risk_sets(t1, e1, t0, e0)
    # Efron: the k-th of d tied events sees the risk set minus k/d of the tied events' weight
    frac = rs.rank / np.maximum(rs.d, 1.0) if ties == "efron" else 0.0
    is_event = rs.event > 0
    a = np.where(is_event, (rs.n_risk - rs.n1_risk) - frac * (rs.d - rs.d1), 1.0)
    b = np.where(is_event, rs.n1_risk - frac * rs.d1, 0.0)
    x_events = (rs.event * rs.treated).sum(-1)
    beta = np.zeros(rs.event.shape[0])
    done = np.zeros_like(beta, dtype=bool)
    loglik, score, info = _cox_terms(a, b, x_events, beta)
    for _ in range(max_iter):
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.clip(np.where(done, 0.0, score / info), -2.0, 2.0)
        step = np.where(np.isfinite(step), step, 0.0)
        new_ll, new_score, new_info = _cox_terms(a, b, x_events, beta + step)
        # step halving where the (concave) log-likelihood went down
        for _ in range(10):
            worse = new_ll < loglik - 1e-12
            if not np.any(worse):
                break
            step = np.where(worse, step / 2.0, step)
            new_ll, new_score, new_info = _cox_terms(a, b, x_events, beta + step)
        beta, loglik, score, info = beta + step, new_ll, new_score, new_info
        done |= np.abs(step) < tol
        if np.all(done):
            break
    n_events1 = (rs.event * rs.treated).sum(-1)
    n_events0 = rs.event.sum(-1) - n_events1
    bad = ~done | (n_events1 == 0) | (n_events0 == 0) | (np.abs(beta) > 20)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = 1.0 / np.sqrt(info)
    est = np.where(bad, np.nan, beta).reshape(rs.batch)
    se = np.where(bad, np.nan, se).reshape(rs.batch)
    return finish(est, se, np.inf, alpha=alpha, alternative=alternative,
                  method=f"Cox PH ({ties} ties, Wald)", scale="log hazard ratio")


def kaplan_meier(time: npt.ArrayLike, event: npt.ArrayLike, *, ci_level: float = 0.95,
                 conf_type: str = "log-log") -> pd.DataFrame:
    """Kaplan–Meier estimate of one group, one row per distinct observed time.

    Parameters
    ----------
    time, event
        1-D arrays (NaN rows are dropped).
    ci_level
        Pointwise confidence level.
    conf_type
        ``"log-log"`` (default), ``"log"`` (R ``survfit`` default) or ``"plain"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``time, n_risk, n_event, n_censor, survival, std_err`` (Greenwood SE of S),
        ``ci_low, ci_high``.
    """
    t, e = _arm(time, event, "group")
    if t.ndim != 1:
        raise AnalysisError(f"time_group: must be 1-D for kaplan_meier; got shape {t.shape}. "
                            "Estimate one group at a time.")
    if conf_type not in ("log-log", "log", "plain"):
        raise AnalysisError(f"conf_type: must be 'log-log', 'log' or 'plain'; got {conf_type!r}. "
                            "Use 'log-log'.")
    ok = np.isfinite(t) & np.isfinite(e)
    t, e = t[ok], e[ok]
    times, inverse = np.unique(t, return_inverse=True)
    n_event = np.bincount(inverse, weights=e, minlength=times.size)
    n_total = np.bincount(inverse, minlength=times.size).astype(np.float64)
    n_risk = t.size - np.r_[0.0, np.cumsum(n_total)[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - n_event / n_risk)
        gw = np.cumsum(np.where(n_risk > n_event, n_event / (n_risk * (n_risk - n_event)), np.inf)
                       * (n_event > 0))
        z = stats.norm.isf((1.0 - ci_level) / 2.0)
        if conf_type == "plain":
            half = z * surv * np.sqrt(gw)
            lo, hi = np.clip(surv - half, 0, 1), np.clip(surv + half, 0, 1)
        elif conf_type == "log":
            lo = np.clip(surv * np.exp(-z * np.sqrt(gw)), 0, 1)
            hi = np.clip(surv * np.exp(z * np.sqrt(gw)), 0, 1)
        else:
            se_ll = np.sqrt(gw) / np.abs(np.log(surv))
            lo = surv ** np.exp(z * se_ll)
            hi = surv ** np.exp(-z * se_ll)
        std_err = np.where(surv > 0, surv * np.sqrt(gw), np.nan)  # R: NaN once S reaches 0
    return pd.DataFrame({"time": times, "n_risk": n_risk, "n_event": n_event,
                         "n_censor": n_total - n_event, "survival": surv,
                         "std_err": std_err, "ci_low": lo, "ci_high": hi})


def km_median(table: pd.DataFrame) -> float:
    """Return the median survival time: the first time with S(t) <= 0.5 (NaN if never reached)."""
    below = table.loc[table["survival"] <= 0.5, "time"]
    return float(below.iloc[0]) if len(below) else float("nan")
