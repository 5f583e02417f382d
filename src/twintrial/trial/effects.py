"""Population-average effects of the virtual population, with intervals over posterior draws.

Method
------
Every virtual patient ``i`` is paired with one posterior sample ``d(i)`` (the ``draw`` column of
the outcomes table) and simulated under both arms, so its paired contribution ``y_i`` (the
individual effect ``y_i(treated) - y_i(control)`` for mean and risk differences; the influence
value of the population log odds or log hazard ratio otherwise, see below) is

``y_i = theta(d(i)) + u_i``,

where ``theta(d)`` is the population-average effect under posterior sample ``d`` (its spread over
``d`` is the posterior uncertainty we want) and ``u_i`` the patient's own deviation (random effects,
covariates, residual noise; mean zero given ``d``). The per-draw means ``ybar_d`` of the
contributions estimate ``theta(d)`` with noise ``var(u)/n_d``; with thousands of posterior samples
and a few patients per sample, the raw quantiles of ``ybar_d`` would mostly show that noise. The
posterior variance ``tau**2 = var_d theta(d)`` is therefore estimated by the one-way
random-effects ANOVA (method of moments, unbalanced groups):
``tau**2 = max(0, (MSB - MSW) / n0)``, ``n0 = (N - sum n_d**2 / N) / (K - 1)``. The reported
interval is ``mean +/- z * sqrt(tau**2 + mc_se**2)`` at ``ci_prob`` (normal approximation), where
``mc_se`` is the Monte-Carlo SE of the mean over the finite virtual population (cluster-robust by
draw). It needs posterior samples shared by >= 2 patients; otherwise ``tau`` is not identifiable,
the interval has the Monte-Carlo part only and a warning says so.

Scales: mean difference and risk difference use the paired differences. The log odds ratio uses
``y_i = logOR + (y1_i - p1)/(p1 (1 - p1)) - (y0_i - p0)/(p0 (1 - p0))``; the log hazard ratio uses
the Cox (Breslow) fit on all ``2N`` rows (every patient under both arms) and
``y_i = beta + N (r_i1 + r_i0) / I`` with ``r`` the score residuals and ``I`` the information
(the linearisation of the pooled estimate; its mean is ``beta``). The HR is the marginal HR of the
virtual population.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from twintrial.exceptions import AnalysisError

__all__ = ["cox_contributions", "draw_effect", "log_odds_contributions"]


def draw_effect(contrib: npt.ArrayLike, draw: npt.ArrayLike, *, ci_prob: float = 0.95,
                benefit: str = "greater", posterior_sd: float | None = None) -> dict[str, Any]:
    """Posterior summary of a population-average effect from per-patient paired contributions.

    Parameters
    ----------
    contrib
        One value per virtual patient (see the module docstring), NaN = missing.
    draw
        The posterior sample each patient was drawn from.
    ci_prob
        Interval probability.
    benefit
        ``"greater"`` or ``"less"``: direction of benefit for ``prob_benefit``.
    posterior_sd
        Use this posterior SD instead of estimating it (e.g. the whole population's for a
        subgroup, whose own decomposition would be too imprecise).

    Returns
    -------
    dict
        ``estimate, ci_low, ci_high, se, posterior_sd, posterior_sd_upper, mc_se,
        prob_benefit, n_patients, n_draws, n_draws_shared, identifiable``.
        ``posterior_sd_upper`` is an approximate upper 95% bound of the posterior SD (the
        decomposition is imprecise with few patients per posterior sample: Var(MSB) ~
        2 MSB**2/(K-1), Var(MSW) ~ 2 MSW**2/(N-K)).
    """
    y = np.asarray(contrib, dtype=np.float64)
    d = np.asarray(draw)
    if y.shape != d.shape or y.ndim != 1:
        raise AnalysisError(f"draw: need one posterior sample index per patient ({y.shape}); got "
                            f"{d.shape}. Pass the outcomes table's 'draw' column.")
    ok = np.isfinite(y)
    y, d = y[ok], d[ok]
    n = y.size
    if n < 2:
        raise AnalysisError(f"contrib: need >= 2 patients with an outcome; got {n}. Check the "
                            "estimand's population and the outcomes table.")
    _, inv, counts = np.unique(d, return_inverse=True, return_counts=True)
    k = counts.size
    sums = np.bincount(inv, weights=y, minlength=k)
    means = sums / counts
    m = float(y.mean())
    ssw = float(np.sum((y - means[inv]) ** 2))
    identifiable = n > k and k >= 2
    tau2_upper = float("nan")
    if posterior_sd is not None:
        tau2 = tau2_upper = float(posterior_sd) ** 2
    elif identifiable:
        msb = float(np.sum(counts * (means - m) ** 2)) / (k - 1)
        msw = ssw / (n - k)
        n0 = (n - float(np.sum(counts.astype(np.float64) ** 2)) / n) / (k - 1)
        raw = (msb - msw) / n0
        tau2 = max(0.0, raw)
        se_tau2 = np.sqrt(2 * msb**2 / (k - 1) + 2 * msw**2 / (n - k)) / n0
        tau2_upper = max(0.0, raw + 1.96 * se_tau2)
    else:
        tau2 = float("nan")
    resid = sums - counts * m
    mc_var = float(np.sum(resid**2)) / n**2 * (k / (k - 1) if k > 1 else 1.0)
    total = np.sqrt((0.0 if not np.isfinite(tau2) else tau2) + mc_var)
    z = float(stats.norm.isf((1.0 - ci_prob) / 2.0))
    if total > 0:
        p_pos = float(stats.norm.sf(0.0, loc=m, scale=total))
    else:
        p_pos = float(m > 0)
    return {"estimate": m, "ci_low": m - z * total, "ci_high": m + z * total, "se": float(total),
            "posterior_sd": float(np.sqrt(tau2)) if np.isfinite(tau2) else None,
            "posterior_sd_upper": (float(np.sqrt(tau2_upper)) if np.isfinite(tau2_upper)
                                   else None),
            "mc_se": float(np.sqrt(mc_var)),
            "prob_benefit": p_pos if benefit == "greater" else 1.0 - p_pos,
            "n_patients": int(n), "n_draws": int(k), "n_draws_shared": int(np.sum(counts >= 2)),
            "identifiable": bool(identifiable)}


def log_odds_contributions(y1: npt.ArrayLike, y0: npt.ArrayLike) -> tuple[float, np.ndarray]:
    """Population log odds ratio of paired 0/1 outcomes and its per-patient influence values."""
    a, b = np.asarray(y1, np.float64), np.asarray(y0, np.float64)
    p1, p0 = np.nanmean(a), np.nanmean(b)
    if not (0 < p1 < 1 and 0 < p0 < 1):
        raise AnalysisError(f"odds_ratio: response proportions must be strictly between 0 and 1; "
                            f"got {p1:.3g} and {p0:.3g}. Use summary: risk_difference.")
    log_or = float(np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0)))
    return log_or, log_or + (a - p1) / (p1 * (1 - p1)) - (b - p0) / (p0 * (1 - p0))


def _breslow_terms(beta: float, u_w: tuple[np.ndarray, ...]) -> tuple[float, float, np.ndarray]:
    w1, w0, d1, d = u_w
    e = np.exp(beta)
    s1 = np.cumsum((w1 * e)[::-1])[::-1]          # treated weight at risk (time >= u)
    s0 = np.cumsum(w0[::-1])[::-1] + s1
    xbar = s1 / s0
    score = float(np.sum(d1 - d * xbar))
    info = float(np.sum(d * xbar * (1 - xbar)))
    return score, info, xbar


def cox_contributions(time1: npt.ArrayLike, event1: npt.ArrayLike, time0: npt.ArrayLike,
                      event0: npt.ArrayLike, *, max_iter: int = 50
                      ) -> tuple[float, float, np.ndarray]:
    """Pooled Cox (Breslow) log HR of paired survival outcomes and per-patient influence values.

    Parameters
    ----------
    time1, event1, time0, event0
        Each patient's event/censoring time and event flag under treatment and under control.

    Returns
    -------
    tuple
        ``(log_hr, model_se, contributions)`` where ``model_se`` treats the 2N rows as independent
        (ignores the pairing) and ``contributions`` (NaN where a row is missing) average to
        ``log_hr``.
    """
    t1, e1 = np.asarray(time1, np.float64), np.asarray(event1, np.float64)
    t0, e0 = np.asarray(time0, np.float64), np.asarray(event0, np.float64)
    n = t1.size
    ok = np.isfinite(t1) & np.isfinite(e1) & np.isfinite(t0) & np.isfinite(e0)
    t = np.concatenate([t1[ok], t0[ok]])
    ev = np.concatenate([e1[ok], e0[ok]])
    x = np.concatenate([np.ones(ok.sum()), np.zeros(ok.sum())])
    if ev[x == 1].sum() == 0 or ev[x == 0].sum() == 0:
        raise AnalysisError(f"time_to_event: no events in one arm (treated {int(ev[x == 1].sum())},"
                            f" control {int(ev[x == 0].sum())}); the hazard ratio is undefined. "
                            "Lengthen the horizon or enlarge the cohort.")
    u, inv = np.unique(t, return_inverse=True)
    m = u.size
    terms = (np.bincount(inv, weights=x, minlength=m), np.bincount(inv, weights=1 - x, minlength=m),
             np.bincount(inv, weights=ev * x, minlength=m), np.bincount(inv, weights=ev,
                                                                        minlength=m))
    beta = 0.0
    for _ in range(max_iter):
        score, info, _ = _breslow_terms(beta, terms)
        step = float(np.clip(score / info, -2.0, 2.0))
        beta += step
        if abs(step) < 1e-10:
            break
    score, info, xbar = _breslow_terms(beta, terms)
    d = terms[3]
    s0 = (np.cumsum((terms[0] * np.exp(beta))[::-1])[::-1] + np.cumsum(terms[1][::-1])[::-1])
    dlam = d / s0
    cum_a, cum_b = np.cumsum(dlam), np.cumsum(dlam * xbar)
    w = np.exp(beta * x)
    resid = ev * (x - xbar[inv]) - w * (x * cum_a[inv] - cum_b[inv])
    k = int(ok.sum())
    per_patient = resid[:k] + resid[k:]
    out = np.full(n, np.nan)
    out[ok] = beta + k * per_patient / info
    return float(beta), float(1.0 / np.sqrt(info)), out
