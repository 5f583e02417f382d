"""Trial-level validation: does the observed trial result fall in the simulated trial's interval?

The observed comparator comes either from patient-level data (arm means of a change score with
SE, their difference, KM survival at landmarks, a Cox hazard ratio) or from a publication (values
with CIs and a citation, from config). Each quantity is compared with the distribution of the same
quantity over simulated trial replicates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from twintrial.exceptions import AnalysisError
from twintrial.validation.survival import kaplan_meier, km_at


@dataclass(frozen=True)
class ObservedQuantity:
    """An observed trial quantity with its uncertainty and source.

    ``name`` follows the naming of the simulated summaries: ``effect``, ``hr``,
    ``<arm>:mean_change``, ``<arm>:survival@<t>``.
    """

    name: str
    value: float
    lower: float | None = None
    upper: float | None = None
    se: float | None = None
    source: str = "patient-level data"


def compare_interval(predicted_draws: npt.ArrayLike, observed: float, *, level: float = 0.95,
                     observed_ci: tuple[float, float] | None = None) -> dict[str, Any]:
    """Compare an observed value with the central predicted interval of simulated draws.

    Returns
    -------
    dict
        ``pred_median``, ``pred_lower``, ``pred_upper``, ``level``, ``observed``,
        ``inside`` (observed in the predicted interval), ``tail_probability`` (two-sided
        ``2 min(P(X <= obs), P(X >= obs))`` over the draws, capped at 1), ``intervals_overlap``
        (observed CI overlaps the predicted interval; None without an observed CI), ``n_draws``.
    """
    x = np.asarray(predicted_draws, dtype=np.float64).reshape(-1)
    x = x[~np.isnan(x)]
    if x.size < 2:
        raise AnalysisError(f"predicted_draws: need >= 2 simulated replicates; got {x.size}.")
    if not 0 < level < 1:
        raise AnalysisError(f"level: must be in (0, 1); got {level}.")
    lo, med, hi = np.quantile(x, [(1 - level) / 2, 0.5, (1 + level) / 2])
    tail = min(1.0, 2 * min(np.mean(x <= observed), np.mean(x >= observed)))
    overlap = None
    if observed_ci is not None:
        overlap = bool(observed_ci[0] <= hi and lo <= observed_ci[1])
    return {"pred_median": float(med), "pred_lower": float(lo), "pred_upper": float(hi),
            "level": float(level), "observed": float(observed), "inside": bool(lo <= observed <= hi),
            "tail_probability": float(tail), "intervals_overlap": overlap, "n_draws": int(x.size)}


def cox_hazard_ratio(time: npt.ArrayLike, event: npt.ArrayLike, treated: npt.ArrayLike, *,
                     conf_level: float = 0.95, max_iter: int = 50) -> dict[str, float]:
    """Hazard ratio of a binary covariate from a Cox model (Breslow ties, Newton-Raphson).

    Returns
    -------
    dict
        ``hr``, ``lower``, ``upper`` (Wald CI), ``log_hr``, ``se``.
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    x = np.asarray(treated, dtype=np.float64)
    if not (t.shape == e.shape == x.shape) or not np.isin(x, (0.0, 1.0)).all():
        raise AnalysisError("treated: need a 0/1 indicator per subject, same length as time/event.")
    ut, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e, minlength=ut.size)
    d1 = float(np.sum(e * x))
    n0_at = np.bincount(inv, weights=1 - x, minlength=ut.size)[::-1].cumsum()[::-1]
    n1_at = np.bincount(inv, weights=x, minlength=ut.size)[::-1].cumsum()[::-1]
    if d1 == 0 or d1 == d.sum():
        raise AnalysisError("event: the hazard ratio is not estimable (no events in one arm).")
    beta, info = 0.0, 1.0
    for _ in range(max_iter):
        w = n1_at * np.exp(beta)
        p = np.divide(w, n0_at + w, out=np.zeros_like(w), where=(n0_at + w) > 0)
        score = d1 - np.sum(d * p)
        info = float(np.sum(d * p * (1 - p)))
        step = score / info
        beta += step
        if abs(step) < 1e-10:
            break
    se = 1 / np.sqrt(info)
    z = stats.norm.ppf(0.5 + conf_level / 2)
    return {"hr": float(np.exp(beta)), "lower": float(np.exp(beta - z * se)),
            "upper": float(np.exp(beta + z * se)), "log_hr": float(beta), "se": float(se)}


def observed_from_patient_level(data: pd.DataFrame, *, arm_col: str = "arm",
                                control: str, treatment: str, value_col: str | None = None,
                                time_col: str | None = None, event_col: str | None = None,
                                landmarks: Sequence[float] = (), conf_level: float = 0.95
                                ) -> list[ObservedQuantity]:
    """Observed trial quantities from one row per patient.

    With ``value_col`` (a change score): ``<arm>:mean_change`` (mean, SE, t CI) per arm and
    ``effect`` = treatment - control mean (Welch SE, normal CI). With ``time_col``/``event_col``:
    ``<arm>:survival@<t>`` (KM, log-log CI) per arm and landmark, and ``hr`` (Cox, treatment vs
    control; also ``effect`` if no ``value_col``).
    """
    if arm_col not in data.columns:
        raise AnalysisError(f"data: missing arm column '{arm_col}'; got {list(data.columns)}.")
    arms = data[arm_col].astype(str)
    for a in (control, treatment):
        if not (arms == a).any():
            raise AnalysisError(f"trial_replication: arm '{a}' not found in column '{arm_col}'; "
                                f"got {sorted(arms.unique())}.")
    z = stats.norm.ppf(0.5 + conf_level / 2)
    out: list[ObservedQuantity] = []
    if value_col is not None:
        means, ses = {}, {}
        for a in (control, treatment):
            v = data.loc[arms == a, value_col].to_numpy(dtype=np.float64)
            v = v[~np.isnan(v)]
            m, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))
            tq = stats.t.ppf(0.5 + conf_level / 2, v.size - 1)
            out.append(ObservedQuantity(f"{a}:mean_change", m, m - tq * se, m + tq * se, se))
            means[a], ses[a] = m, se
        diff = means[treatment] - means[control]
        sed = float(np.hypot(ses[treatment], ses[control]))
        out.append(ObservedQuantity("effect", diff, diff - z * sed, diff + z * sed, sed))
    if time_col is not None and event_col is not None:
        sub = arms.isin([control, treatment]).to_numpy()
        t = data[time_col].to_numpy(dtype=np.float64)[sub]
        e = data[event_col].to_numpy(dtype=np.float64)[sub]
        for a in (control, treatment):
            sel = (arms[sub] == a).to_numpy()
            at = km_at(kaplan_meier(t[sel], e[sel], conf_level=conf_level), landmarks)
            for _, r in at.iterrows():
                out.append(ObservedQuantity(f"{a}:survival@{r['time']:g}", float(r["survival"]),
                                            float(r["lower"]), float(r["upper"])))
        hr = cox_hazard_ratio(t, e, (arms[sub] == treatment).to_numpy(dtype=np.float64),
                              conf_level=conf_level)
        out.append(ObservedQuantity("hr", hr["hr"], hr["lower"], hr["upper"], hr["se"]))
        if value_col is None:
            out.append(ObservedQuantity("effect", hr["hr"], hr["lower"], hr["upper"], hr["se"]))
    return out


def observed_from_published(published: Mapping[str, Any]) -> list[ObservedQuantity]:
    """Observed quantities from the ``validation.trial_replication.published`` config mapping.

    Keys: ``effect`` and ``ci`` (the primary effect), ``hr`` and ``hr_ci``, ``arms``: a list of
    ``{arm, mean_change, se}`` and/or ``{arm, survival: [{time, value, ci}]}``, and ``citation``.
    """
    cite = str(published.get("citation", "published result"))
    out: list[ObservedQuantity] = []

    def ci(key: str) -> tuple[float | None, float | None]:
        c = published.get(key)
        return (float(c[0]), float(c[1])) if c else (None, None)

    if published.get("effect") is not None:
        out.append(ObservedQuantity("effect", float(published["effect"]), *ci("ci"), source=cite))
    if published.get("hr") is not None:
        out.append(ObservedQuantity("hr", float(published["hr"]), *ci("hr_ci"), source=cite))
    for arm in published.get("arms", []):
        name = str(arm["arm"])
        if arm.get("mean_change") is not None:
            m, se = float(arm["mean_change"]), arm.get("se")
            lo, hi = (m - 1.959963984540054 * se, m + 1.959963984540054 * se) if se else (None, None)
            out.append(ObservedQuantity(f"{name}:mean_change", m, lo, hi,
                                        None if se is None else float(se), source=cite))
        for s in arm.get("survival", []):
            c = s.get("ci") or (None, None)
            out.append(ObservedQuantity(f"{name}:survival@{float(s['time']):g}", float(s["value"]),
                                        c[0], c[1], source=cite))
    return out


def trial_replication(predicted: Mapping[str, npt.ArrayLike],
                      observed: Sequence[ObservedQuantity], *, level: float = 0.95) -> pd.DataFrame:
    """Compare every observed quantity with the simulated replicates of the same quantity.

    Parameters
    ----------
    predicted
        Quantity name -> draws over simulated trial replicates (e.g. the effect estimate of each
        replicate).
    observed
        Observed quantities (:func:`observed_from_patient_level` / :func:`observed_from_published`).

    Returns
    -------
    pandas.DataFrame
        One row per observed quantity: ``quantity``, ``source``, ``observed``, ``obs_lower``,
        ``obs_upper``, the :func:`compare_interval` columns, and ``statement`` (a sentence for the
        report). Quantities not simulated get ``inside = None`` and say so.
    """
    rows = []
    for q in observed:
        row: dict[str, Any] = {"quantity": q.name, "source": q.source, "observed": q.value,
                               "obs_lower": q.lower, "obs_upper": q.upper}
        if q.name not in predicted:
            row.update({"inside": None, "statement": f"{q.name}: observed {q.value:.4g} "
                        f"({q.source}); not simulated, no comparison made."})
            rows.append(row)
            continue
        ci = (q.lower, q.upper) if q.lower is not None and q.upper is not None else None
        cmp_ = compare_interval(predicted[q.name], q.value, level=level, observed_ci=ci)
        row.update(cmp_)
        verdict = "inside" if cmp_["inside"] else "OUTSIDE"
        row["statement"] = (f"{q.name}: observed {q.value:.4g} ({q.source}) lies {verdict} the "
                            f"predicted {100 * level:g}% interval [{cmp_['pred_lower']:.4g}, "
                            f"{cmp_['pred_upper']:.4g}] (median {cmp_['pred_median']:.4g}, "
                            f"{cmp_['n_draws']} simulated trials).")
        rows.append(row)
    return pd.DataFrame(rows)
