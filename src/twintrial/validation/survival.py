"""Time-to-event validation: Kaplan-Meier, truncated C-index, IPCW Brier score, calibration.

Conventions (stated in the report):

- Kaplan-Meier confidence intervals use Greenwood's variance on the log-log scale, as R
  ``survival::survfit(conf.type = "log-log")``.
- The censoring distribution ``G`` is the reverse Kaplan-Meier (censoring as the event, as R
  ``survfit(Surv(time, 1 - status) ~ 1)``) and is evaluated at the left limit ``G(T_i-)`` for subjects with
  an event, and at ``G(t)`` for subjects still at risk at ``t`` (Graf et al. 1999; Gerds & Schumacher
  2006).
- The C-index is Uno's truncated C (Uno et al. 2011, weights ``G(T_i-)^-2``) by default, or
  Harrell's C restricted to pairs whose earlier time is < ``tau`` (``method="harrell"``). A pair
  (i, j) is comparable when subject i has an event at ``T_i < tau`` and ``T_j > T_i``, or
  ``T_j == T_i`` and j is censored. Ties in the risk score count 1/2.
- At a landmark ``t`` the risk score is the predicted ``1 - S_i(t)`` and ``tau = t``.

References
----------
Graf E, Schmoor C, Sauerbrei W, Schumacher M (1999). Assessment and comparison of prognostic
classification schemes for survival data. Stat Med 18:2529-2545.
Uno H, Cai T, Pencina MJ, D'Agostino RB, Wei LJ (2011). On the C-statistics for evaluating overall
adequacy of risk prediction procedures with censored survival data. Stat Med 30:1105-1117.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from twintrial.exceptions import AnalysisError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = npt.NDArray[np.float64]


def _check_te(time: npt.ArrayLike, event: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    t = np.asarray(time, dtype=np.float64).reshape(-1)
    e = np.asarray(event, dtype=np.float64).reshape(-1)
    if t.shape != e.shape:
        raise AnalysisError(f"event: must have one entry per time ({t.size}); got {e.size}.")
    if t.size == 0:
        raise AnalysisError("time: no subjects; need at least one (time, event) pair.")
    if np.isnan(t).any() or np.any(t < 0):
        raise AnalysisError("time: event/censoring times must be non-negative numbers; got NaN or < 0.")
    if not np.isin(e, (0.0, 1.0)).all():
        raise AnalysisError(f"event: must be 0 (censored) or 1 (event); got {np.unique(e)[:5].tolist()}.")
    return t, e


# --------------------------------------------------------------------------- Kaplan-Meier
def kaplan_meier(time: npt.ArrayLike, event: npt.ArrayLike, *,
                 conf_level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier estimate with Greenwood log-log confidence intervals.

    Parameters
    ----------
    time, event
        Event or censoring times and indicators (1 event, 0 censored).
    conf_level
        Two-sided confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per distinct time: ``time``, ``n_risk``, ``n_event``, ``n_censor``, ``survival``,
        ``std_err`` (of log S, Greenwood), ``lower``, ``upper``. ``lower = upper = 1`` while
        ``S = 1``; NaN once ``S = 0``.
    """
    t, e = _check_te(time, event)
    ut, inv = np.unique(t, return_inverse=True)
    n_event = np.bincount(inv, weights=e, minlength=ut.size)
    n_tot = np.bincount(inv, minlength=ut.size).astype(np.float64)
    n_risk = t.size - np.concatenate([[0.0], np.cumsum(n_tot)[:-1]])
    surv = np.cumprod(1.0 - n_event / n_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        gw = np.cumsum(np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0))
        se = np.sqrt(gw)
        z = stats.norm.ppf(0.5 + conf_level / 2)
        loglog = np.log(-np.log(surv))
        half = z * se / np.abs(np.log(surv))  # se of log(-log S) by the delta method
        lower = np.exp(-np.exp(loglog + half))
        upper = np.exp(-np.exp(loglog - half))
    one = surv >= 1.0
    lower[one], upper[one] = 1.0, 1.0
    zero = surv <= 0.0
    lower[zero], upper[zero], se[zero] = np.nan, np.nan, np.nan
    return pd.DataFrame({"time": ut, "n_risk": n_risk.astype(np.int64),
                         "n_event": n_event.astype(np.int64),
                         "n_censor": (n_tot - n_event).astype(np.int64), "survival": surv,
                         "std_err": se, "lower": lower, "upper": upper})


def step_at(times: npt.ArrayLike, values: npt.ArrayLike, at: npt.ArrayLike, *,
            before: float = 1.0, left_limit: bool = False) -> FloatArray:
    """Evaluate a right-continuous step function (e.g. a KM curve) at ``at``.

    ``left_limit=True`` gives the value just before ``at`` (``f(at-)``).
    """
    tt = np.asarray(times, dtype=np.float64)
    vv = np.asarray(values, dtype=np.float64)
    idx = np.searchsorted(tt, np.asarray(at, dtype=np.float64), side="left" if left_limit else "right") - 1
    return np.where(idx >= 0, vv[np.clip(idx, 0, None)], before)


def km_at(km: pd.DataFrame, at: npt.ArrayLike) -> pd.DataFrame:
    """KM survival and CI at given times (``time``, ``survival``, ``lower``, ``upper``, and
    ``n_risk``: subjects with time >= t)."""
    a = np.asarray(at, dtype=np.float64).reshape(-1)
    tt = km["time"].to_numpy()
    out = {"time": a}
    for col in ("survival", "lower", "upper"):
        out[col] = step_at(tt, km[col].to_numpy(dtype=np.float64), a)
    # number at risk at t (time >= t), as R summary(survfit, times = t)
    idx = np.searchsorted(tt, a, side="left")
    nr = np.append(km["n_risk"].to_numpy(dtype=np.int64), 0)
    out["n_risk"] = nr[idx]
    return pd.DataFrame(out)


def censoring_survival(time: npt.ArrayLike, event: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Reverse Kaplan-Meier of the censoring distribution ``G`` (times, values).

    Censoring is the event (risk set ``T >= t``, as R ``survfit(Surv(time, 1 - status) ~ 1)``).
    """
    t, e = _check_te(time, event)
    km = kaplan_meier(t, 1.0 - e)
    return km["time"].to_numpy(), km["survival"].to_numpy()


# --------------------------------------------------------------------------- concordance
def concordance_index(time: npt.ArrayLike, event: npt.ArrayLike, risk: npt.ArrayLike, *,
                      tau: float | None = None, method: str = "uno",
                      censoring: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
                      chunk: int = 512) -> float:
    """Truncated concordance index of a risk score (higher risk = earlier event).

    Parameters
    ----------
    time, event, risk
        Observed times, event indicators and predicted risk scores.
    tau
        Truncation time: only pairs whose earlier time is < ``tau`` count (None: no truncation).
    method
        ``"uno"`` (IPCW weights ``G(T_i-)^-2``, Uno et al. 2011) or ``"harrell"``.
    censoring
        Optional ``(time, event)`` of a training set for estimating ``G`` (default: this data).
    chunk
        Rows per block of the vectorised pairwise computation (memory ``chunk * n``).

    Returns
    -------
    float
        Concordance in [0, 1]; NaN when there is no comparable pair.
    """
    t, e = _check_te(time, event)
    r = np.asarray(risk, dtype=np.float64).reshape(-1)
    if r.shape != t.shape or np.isnan(r).any():
        raise AnalysisError(f"risk: need one finite risk score per subject ({t.size}); got {r.size}.")
    if method not in ("uno", "harrell"):
        raise AnalysisError(f"method: must be 'uno' or 'harrell'; got {method!r}.")
    limit = np.inf if tau is None else float(tau)
    idx = np.flatnonzero((e == 1) & (t < limit))
    if method == "uno":
        gt, gv = censoring_survival(*(censoring if censoring is not None else (t, e)))
        g = step_at(gt, gv, t[idx], left_limit=True)
        if np.any(g <= 0):
            raise AnalysisError("tau: the censoring survival reaches 0 before tau; choose a smaller tau.")
        w = 1.0 / g**2
    else:
        w = np.ones(idx.size)
    num = den = 0.0
    for s in range(0, idx.size, chunk):
        ii = idx[s:s + chunk]
        comp = (t[None, :] > t[ii, None]) | ((t[None, :] == t[ii, None]) & (e[None, :] == 0))
        score = (r[ii, None] > r[None, :]) + 0.5 * (r[ii, None] == r[None, :])
        num += float(np.sum(w[s:s + chunk] * np.sum(comp * score, axis=1)))
        den += float(np.sum(w[s:s + chunk] * np.sum(comp, axis=1)))
    return num / den if den > 0 else float("nan")


def c_index_at_landmarks(time: npt.ArrayLike, event: npt.ArrayLike, surv_pred: npt.ArrayLike,
                         landmarks: Sequence[float], *, method: str = "uno") -> FloatArray:
    """Time-dependent C at each landmark ``t``: risk ``1 - S_i(t)``, truncation ``tau = t``.

    ``surv_pred`` has shape ``(n, len(landmarks))``.
    """
    sp = np.asarray(surv_pred, dtype=np.float64)
    lm = np.asarray(landmarks, dtype=np.float64)
    if sp.shape != (np.size(time), lm.size):
        raise AnalysisError(f"surv_pred: must have shape (n_subjects, n_landmarks) = "
                            f"({np.size(time)}, {lm.size}); got {sp.shape}.")
    return np.array([concordance_index(time, event, 1.0 - sp[:, k], tau=lm[k], method=method)
                     for k in range(lm.size)])


# --------------------------------------------------------------------------- Brier score
def brier_score(time: npt.ArrayLike, event: npt.ArrayLike, surv_pred: npt.ArrayLike,
                landmarks: Sequence[float], *,
                censoring: tuple[npt.ArrayLike, npt.ArrayLike] | None = None) -> FloatArray:
    """IPCW Brier score at each landmark (Graf et al. 1999).

    ``BS(t) = 1/n sum_i [S_i(t)^2 1(T_i <= t, d_i = 1) / G(T_i-) + (1 - S_i(t))^2 1(T_i > t) / G(t)]``.

    Parameters
    ----------
    surv_pred
        ``(n, len(landmarks))`` predicted survival probabilities ``S_i(t)``.

    Returns
    -------
    numpy.ndarray
        One Brier score per landmark (0 is perfect; 0.25 is an uninformative 0.5 prediction).
    """
    t, e = _check_te(time, event)
    sp = np.asarray(surv_pred, dtype=np.float64)
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1)
    if sp.shape != (t.size, lm.size):
        raise AnalysisError(f"surv_pred: must have shape ({t.size}, {lm.size}); got {sp.shape}.")
    gt, gv = censoring_survival(*(censoring if censoring is not None else (t, e)))
    g_ti = step_at(gt, gv, t, left_limit=True)
    g_t = step_at(gt, gv, lm)
    died = (t[:, None] <= lm[None, :]) & (e[:, None] == 1)
    alive = t[:, None] > lm[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(died, sp**2 / g_ti[:, None], 0.0) + np.where(alive, (1 - sp) ** 2 / g_t, 0.0)
    if np.any((g_t <= 0) & alive.any(axis=0)):
        raise AnalysisError("landmarks: censoring survival is 0 at a landmark; use earlier landmarks.")
    return term.mean(axis=0)


def brier_reference(time: npt.ArrayLike, event: npt.ArrayLike, landmarks: Sequence[float]) -> FloatArray:
    """Brier score of the null model (the pooled KM of the same data predicts for everyone)."""
    t, e = _check_te(time, event)
    km = kaplan_meier(t, e)
    s = step_at(km["time"], km["survival"], landmarks)
    return brier_score(t, e, np.broadcast_to(s, (t.size, s.size)), landmarks)


# --------------------------------------------------------------------------- calibration
def survival_calibration(time: npt.ArrayLike, event: npt.ArrayLike, surv_pred: npt.ArrayLike,
                         landmarks: Sequence[float], *, n_groups: int = 5,
                         conf_level: float = 0.95) -> pd.DataFrame:
    """Predicted vs observed survival by groups of predicted risk at each landmark.

    Subjects are split into ``n_groups`` quantile groups of predicted ``S_i(t)``; within each the
    mean prediction is compared with the group's KM at ``t`` and its log-log CI.

    Returns
    -------
    pandas.DataFrame
        ``landmark``, ``group`` (1 = lowest predicted survival), ``n``, ``predicted``,
        ``observed``, ``lower``, ``upper``, ``inside`` (prediction within the KM CI).
    """
    t, e = _check_te(time, event)
    sp = np.asarray(surv_pred, dtype=np.float64)
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1)
    if sp.shape != (t.size, lm.size):
        raise AnalysisError(f"surv_pred: must have shape ({t.size}, {lm.size}); got {sp.shape}.")
    rows = []
    for k, land in enumerate(lm):
        ranks = np.argsort(np.argsort(sp[:, k], kind="stable"), kind="stable")
        group = ranks * n_groups // t.size
        for g in range(n_groups):
            sel = group == g
            if not sel.any():
                continue
            at = km_at(kaplan_meier(t[sel], e[sel], conf_level=conf_level), [land]).iloc[0]
            pred = float(sp[sel, k].mean())
            rows.append({"landmark": float(land), "group": g + 1, "n": int(sel.sum()),
                         "predicted": pred, "observed": float(at["survival"]),
                         "lower": float(at["lower"]), "upper": float(at["upper"]),
                         "inside": bool(at["lower"] <= pred <= at["upper"])})
    return pd.DataFrame(rows)


def compare_survival_at_landmarks(time: npt.ArrayLike, event: npt.ArrayLike,
                                  predicted_draws: npt.ArrayLike, landmarks: Sequence[float], *,
                                  level: float = 0.95, conf_level: float = 0.95) -> pd.DataFrame:
    """Observed KM survival (with CI) vs the predicted survival interval at each landmark.

    Parameters
    ----------
    predicted_draws
        ``(n_draws, len(landmarks))`` draws of the predicted (marginal) survival at each landmark,
        e.g. one per simulated trial replicate.
    level
        Level of the central predicted interval.

    Returns
    -------
    pandas.DataFrame
        ``landmark``, ``observed``, ``obs_lower``, ``obs_upper``, ``n_risk``, ``pred_median``,
        ``pred_lower``, ``pred_upper``, ``observed_in_predicted`` and ``intervals_overlap``.
    """
    pd_ = np.asarray(predicted_draws, dtype=np.float64)
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1)
    if pd_.ndim != 2 or pd_.shape[1] != lm.size:
        raise AnalysisError(f"predicted_draws: must have shape (n_draws, {lm.size}); got {pd_.shape}.")
    obs = km_at(kaplan_meier(time, event, conf_level=conf_level), lm)
    q = np.quantile(pd_, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0)
    out = pd.DataFrame({"landmark": lm, "observed": obs["survival"], "obs_lower": obs["lower"],
                        "obs_upper": obs["upper"], "n_risk": obs["n_risk"], "pred_median": q[1],
                        "pred_lower": q[0], "pred_upper": q[2]})
    out["observed_in_predicted"] = (out["observed"] >= out["pred_lower"]) & (out["observed"] <= out["pred_upper"])
    out["intervals_overlap"] = (out["obs_lower"] <= out["pred_upper"]) & (out["pred_lower"] <= out["obs_upper"])
    return out


def plot_survival_check(km: pd.DataFrame, *, predicted: pd.DataFrame | None = None,
                        landmarks: Sequence[float] = (), title: str = "Observed vs predicted survival",
                        xlabel: str = "time") -> Figure:
    """Observed KM curve with its CI band, and the predicted survival band.

    Parameters
    ----------
    km
        Output of :func:`kaplan_meier`.
    predicted
        Optional ``time``, ``lower``, ``median``, ``upper`` of the predicted survival (e.g.
        quantiles over simulated trial replicates on a time grid).
    landmarks
        Landmark times marked with vertical lines.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    t = np.concatenate([[0.0], km["time"].to_numpy(dtype=np.float64)])
    s = np.concatenate([[1.0], km["survival"].to_numpy(dtype=np.float64)])
    lo = np.concatenate([[1.0], km["lower"].to_numpy(dtype=np.float64)])
    hi = np.concatenate([[1.0], km["upper"].to_numpy(dtype=np.float64)])
    ax.step(t, s, where="post", color="black", lw=1.5, label="observed (Kaplan-Meier)")
    ax.fill_between(t, lo, hi, step="post", color="black", alpha=0.15, lw=0,
                    label="observed 95% CI (log-log)")
    if predicted is not None:
        ax.plot(predicted["time"], predicted["median"], color="tab:blue", lw=1.5,
                label="predicted median")
        ax.fill_between(predicted["time"], predicted["lower"], predicted["upper"], color="tab:blue",
                        alpha=0.25, lw=0, label="predicted interval")
    for x in landmarks:
        ax.axvline(x, color="0.5", ls=":", lw=1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("survival probability")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig
