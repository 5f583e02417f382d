"""Treatment effects by subgroup, the treatment-by-subgroup interaction test and a forest plot.

Design decisions
----------------
- Each stratum is analysed on its own with the chosen test (any name in
  :data:`twintrial.analysis.simulation.TESTS`), giving the effect, SE and CI on that test's scale
  (difference, risk difference, log odds ratio or log hazard ratio).
- Interaction (heterogeneity) test per subgrouping variable: Cochran's Q on the stratum estimates,
  ``Q = sum w_k (theta_k - theta_w)**2`` with ``w_k = 1/se_k**2``, chi-square on K - 1 df. For
  normal outcomes this is the Wald test of the interaction in the model with arm x stratum terms
  and stratum-specific variances; it works the same for every effect scale.
- Strata too small to analyse (e.g. < 2 patients in an arm) get NaN and are left out of Q.
- :func:`forest_plot` returns a :class:`matplotlib.figure.Figure` built without pyplot (no global
  state); ratio scales are drawn exponentiated on a log axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from twintrial.analysis._common import check_alpha
from twintrial.analysis.simulation import TESTS, run_test
from twintrial.exceptions import AnalysisError

__all__ = ["forest_plot", "interaction_test", "subgroup_effects"]

_SURVIVAL_TESTS = ("logrank", "cox")


def _arm_data(frame: pd.DataFrame, *, test: str, arm: str, treated: str, control: str,
              outcome: str, time: str, event: str, covariate: str | None) -> dict[str, np.ndarray]:
    data: dict[str, np.ndarray] = {}
    for label, suffix in ((treated, "treated"), (control, "control")):
        part = frame.loc[frame[arm] == label]
        if test in _SURVIVAL_TESTS:
            data[f"time_{suffix}"] = part[time].to_numpy(np.float64, na_value=np.nan)
            data[f"event_{suffix}"] = part[event].to_numpy(np.float64, na_value=np.nan)
        else:
            data[f"y_{suffix}"] = part[outcome].to_numpy(np.float64, na_value=np.nan)
        if covariate is not None:
            data[f"x_{suffix}"] = part[covariate].to_numpy(np.float64, na_value=np.nan)
    return data


def subgroup_effects(frame: pd.DataFrame, *, by: Sequence[str], test: str = "t",
                     arm: str = "arm", treated: str = "treated", control: str = "control",
                     outcome: str = "value", time: str = "time", event: str = "event",
                     covariate: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Effect of treated vs control overall and within each level of each ``by`` column.

    Parameters
    ----------
    frame
        One row per patient: arm label, outcome column(s) and the subgrouping columns.
    by
        Columns defining subgroups (categorical, or binned beforehand).
    test
        Name in :data:`~twintrial.analysis.simulation.TESTS` (``"t"``, ``"ancova"``,
        ``"two_proportion"``, ``"logrank"``, ``"cox"``, ...).
    arm, treated, control
        Arm column and its two labels.
    outcome, time, event, covariate
        Outcome column (continuous/binary tests), survival columns, ANCOVA covariate.
    alpha
        Level of the CIs.

    Returns
    -------
    pandas.DataFrame
        Rows ``variable, level, n_treated, n_control, estimate, se, ci_low, ci_high, p_value,
        scale, p_interaction`` (first row: ``overall``).
    """
    alpha = check_alpha(alpha)
    if test not in TESTS:
        raise AnalysisError(f"test: unknown test {test!r}; choose one of {sorted(TESTS)}.")
    needed = [arm, *by, *((time, event) if test in _SURVIVAL_TESTS else (outcome,))]
    needed += [covariate] if covariate is not None else []
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise AnalysisError(f"frame: missing column(s) {missing}; got {list(frame.columns)}. "
                            "Rename the columns or pass their names.")
    kw = dict(test=test, arm=arm, treated=treated, control=control, outcome=outcome, time=time,
              event=event, covariate=covariate)

    def row(part: pd.DataFrame, variable: str, level: object) -> dict[str, object]:
        out: dict[str, object] = {"variable": variable, "level": str(level),
                                  "n_treated": int((part[arm] == treated).sum()),
                                  "n_control": int((part[arm] == control).sum())}
        try:
            res = run_test(test, _arm_data(part, **kw), alpha=alpha)
            vals = {k: float(getattr(res, k)) for k in
                    ("estimate", "se", "ci_low", "ci_high", "p_value")}
            scale = res.scale
        except (AnalysisError, np.linalg.LinAlgError):
            vals = dict.fromkeys(("estimate", "se", "ci_low", "ci_high", "p_value"), np.nan)
            scale = ""
        return {**out, **vals, "scale": scale}

    rows = [row(frame, "overall", "all")]
    for variable in by:
        for level, part in frame.groupby(variable, sort=True, dropna=True, observed=True):
            rows.append(row(part, variable, level))
    table = pd.DataFrame(rows)
    scale = next((s for s in table["scale"] if s), "")
    table["scale"] = scale
    inter = interaction_test(table)
    table["p_interaction"] = table["variable"].map(dict(zip(inter["variable"], inter["p_value"],
                                                            strict=True))).astype(np.float64)
    return table


def interaction_test(effects: pd.DataFrame) -> pd.DataFrame:
    """Cochran's Q heterogeneity test of the stratum effects of each subgrouping variable.

    Parameters
    ----------
    effects
        Output of :func:`subgroup_effects` (uses ``variable``, ``estimate``, ``se``).

    Returns
    -------
    pandas.DataFrame
        ``variable, q, df, p_value`` (NaN when fewer than two strata could be analysed).
    """
    out = []
    for variable, part in effects.loc[effects["variable"] != "overall"].groupby(
            "variable", sort=False):
        ok = np.isfinite(part["estimate"]) & np.isfinite(part["se"]) & (part["se"] > 0)
        est, se = part.loc[ok, "estimate"].to_numpy(), part.loc[ok, "se"].to_numpy()
        k = est.size
        if k < 2:
            out.append({"variable": variable, "q": np.nan, "df": k - 1, "p_value": np.nan})
            continue
        w = 1.0 / se**2
        q = float(np.sum(w * (est - np.sum(w * est) / np.sum(w)) ** 2))
        out.append({"variable": variable, "q": q, "df": k - 1,
                    "p_value": float(stats.chi2.sf(q, k - 1))})
    return pd.DataFrame(out, columns=["variable", "q", "df", "p_value"])


def forest_plot(effects: pd.DataFrame, *, exponentiate: bool | None = None,
                title: str = "", xlabel: str | None = None) -> Figure:
    """Forest plot of :func:`subgroup_effects` output: one line per stratum, overall first.

    Parameters
    ----------
    effects
        Subgroup table (columns ``variable, level, n_treated, n_control, estimate, ci_low,
        ci_high, scale``).
    exponentiate
        Draw ``exp`` of the estimates on a log axis (default: for log-ratio scales).
    title, xlabel
        Labels (xlabel defaults to the effect scale).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if effects.empty:
        raise AnalysisError("effects: the subgroup table is empty; got 0 rows. "
                            "Run subgroup_effects first.")
    scale = str(effects["scale"].iloc[0]) if "scale" in effects else ""
    if exponentiate is None:
        exponentiate = scale.startswith("log")
    tf = np.exp if exponentiate else (lambda v: v)
    est, lo, hi = (tf(effects[c].to_numpy(np.float64)) for c in ("estimate", "ci_low", "ci_high"))
    labels = [("Overall" if v == "overall" else f"{v}: {lv}") + f"  ({nt}/{nc})"
              for v, lv, nt, nc in zip(effects["variable"], effects["level"],
                                       effects["n_treated"], effects["n_control"], strict=True)]
    n = len(labels)
    fig = Figure(figsize=(7.0, 0.9 + 0.35 * n), layout="constrained")
    ax = fig.add_subplot()
    ypos = np.arange(n)[::-1]
    overall = (effects["variable"] == "overall").to_numpy()
    ax.hlines(ypos, lo, hi, color="0.2", lw=1.2)
    ax.scatter(est[~overall], ypos[~overall], marker="s", color="C0", zorder=3)
    ax.scatter(est[overall], ypos[overall], marker="D", color="C3", s=50, zorder=3)
    ax.axvline(1.0 if exponentiate else 0.0, color="0.5", ls="--", lw=1)
    if exponentiate:
        ax.set_xscale("log")
    ax.set_yticks(ypos, labels)
    scale_name = scale.replace("log ", "") if exponentiate else scale
    ax.set_xlabel(xlabel if xlabel is not None else
                  f"{scale_name or 'effect'} (treated vs control, CI)")
    if title:
        ax.set_title(title)
    return fig
