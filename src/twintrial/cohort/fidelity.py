"""Fidelity of a virtual cohort to its target, and privacy against the real records.

Fidelity (patient-level source): per continuous covariate the two-sample Kolmogorov-Smirnov
statistic, the standardised mean difference (pooled SD) and the Wasserstein-1 distance in units of
the real SD; per discrete covariate the largest absolute difference of level proportions; the
largest absolute difference between the Spearman matrices (real: pairwise-complete). Against a
summary: SMD of the mean relative to the target SD, SD ratio, the largest ``|F_synth(q_p) - p|``
over the given quantiles, proportion differences and the Spearman error against the target.

Privacy: exact copies of real records; distance to closest record (DCR) on standardised covariates
(continuous and numeric levels by the real mean/SD; text levels by their level index; missing real
values imputed by the column median for distances only), synthetic -> training half vs the real
holdout half -> training half.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial import cKDTree

from twintrial.cohort.config import FidelityConfig, PrivacyConfig
from twintrial.cohort.copula import spearman_matrix
from twintrial.cohort.marginals import DiscreteMarginal, Marginal
from twintrial.cohort.summary import CohortSummary

FloatArray = npt.NDArray[np.float64]
MAX_CORR_ROWS = 100_000
"""KS, Wasserstein and rank correlations of the virtual cohort use its first rows (it is i.i.d.;
with this many rows their Monte Carlo error is far below the thresholds)."""


def ks_wasserstein(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and Wasserstein-1 distance (NaN dropped)."""
    x = np.asarray(a, float)
    y = np.asarray(b, float)
    x = np.sort(x[~np.isnan(x)])
    y = np.sort(y[~np.isnan(y)])
    grid = np.sort(np.concatenate([x, y]))
    diff = np.abs(np.searchsorted(x, grid, side="right") / x.size
                  - np.searchsorted(y, grid, side="right") / y.size)
    return float(diff.max()), float(np.sum(diff[:-1] * np.diff(grid)))


def ks_statistic(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (missing values dropped)."""
    return ks_wasserstein(a, b)[0]


def _sd(a: FloatArray) -> float:
    """Sample SD (ddof = 1), 0 for fewer than two values."""
    return float(np.std(a, ddof=1)) if a.size > 1 else 0.0


def numeric_codes(values: Any, marginal: Marginal) -> FloatArray:
    """Values as float (text levels -> level index; missing -> NaN)."""
    if isinstance(marginal, DiscreteMarginal) and not marginal.numeric:
        text = pd.Series(values).astype(object).where(pd.Series(values).notna(), None)
        codes = pd.Categorical(text.map(str, na_action="ignore"),
                               categories=[str(v) for v in marginal.levels]).codes
        out = codes.astype(float)
        out[codes < 0] = np.nan
        return out
    return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)


def _proportions(values: Any, m: DiscreteMarginal) -> FloatArray:
    codes = numeric_codes(values, m)
    codes = codes[~np.isnan(codes)]
    if m.numeric:
        idx = np.searchsorted(np.asarray(m.levels, float), codes)
        idx = np.clip(idx, 0, len(m.levels) - 1)
    else:
        idx = codes.astype(int)
    return np.bincount(idx, minlength=len(m.levels)) / max(codes.size, 1)


def _corr_block(names: list[str], target: FloatArray, synth: FloatArray, limit: float
                ) -> dict[str, Any]:
    diff = np.abs(np.nan_to_num(synth - target))
    np.fill_diagonal(diff, 0.0)
    i, j = np.unravel_index(int(np.argmax(diff)), diff.shape)
    err = float(diff[i, j])
    return {"max_abs_error": err, "worst_pair": [names[i], names[j]] if err > 0 else [],
            "target": np.round(target, 4).tolist(), "synthetic": np.round(synth, 4).tolist(),
            "names": names, "threshold": limit, "pass": bool(err < limit)}


def fidelity_vs_data(synth: pd.DataFrame, real: pd.DataFrame, marginals: Sequence[Marginal],
                     cfg: FidelityConfig) -> dict[str, Any]:
    """Fidelity of ``synth`` to the real patient-level ``real`` table (JSON-serialisable)."""
    per: dict[str, Any] = {}
    for m in marginals:
        r, s = real[m.name], synth[m.name]
        entry: dict[str, Any] = {"type": m.kind, "n_missing_real": int(r.isna().sum())}
        if isinstance(m, DiscreteMarginal):
            pr, ps = _proportions(r, m), _proportions(s, m)
            diff = float(np.max(np.abs(pr - ps)))
            entry.update(levels=m.describe()["levels"], real=pr.round(4).tolist(),
                         synthetic=ps.round(4).tolist(), max_abs_diff=diff,
                         **{"pass": bool(diff < cfg.proportion)})
        else:
            x = np.asarray(r, float)
            x = x[~np.isnan(x)]
            y = np.asarray(s, float)
            y_head = y[:MAX_CORR_ROWS]
            pooled = float(np.sqrt((_sd(x) ** 2 + _sd(y) ** 2) / 2)) or 1.0
            ks, w1 = ks_wasserstein(x, y_head)
            smd = float((y.mean() - x.mean()) / pooled)
            entry.update(ks=ks, smd=smd, wasserstein_sd=w1 / (_sd(x) or 1.0),
                mean_real=float(x.mean()), mean_synthetic=float(y.mean()),
                sd_real=_sd(x), sd_synthetic=_sd(y),
                min_synthetic=float(y.min()), max_synthetic=float(y.max()),
                **{"pass": bool(ks < cfg.ks and abs(smd) < cfg.smd)})
        per[m.name] = entry
    names = [m.name for m in marginals]
    target = spearman_matrix([numeric_codes(real[m.name], m) for m in marginals])
    head = synth.iloc[:MAX_CORR_ROWS]
    got = spearman_matrix([numeric_codes(head[m.name], m) for m in marginals])
    corr = _corr_block(names, target, got, cfg.rank_corr)
    return {"covariates": per, "rank_correlation": corr,
            "pass": bool(all(e["pass"] for e in per.values()) and corr["pass"])}


def fidelity_vs_summary(synth: pd.DataFrame, summary: CohortSummary, marginals: Sequence[Marginal],
                        target_spearman: FloatArray, cfg: FidelityConfig) -> dict[str, Any]:
    """Fidelity of ``synth`` to the targets of a summary definition (JSON-serialisable)."""
    per: dict[str, Any] = {}
    for m in marginals:
        sc = summary.covariate(m.name)
        s = synth[m.name]
        entry: dict[str, Any] = {"type": m.kind}
        if isinstance(m, DiscreteMarginal):
            ps = _proportions(s, m)
            diff = float(np.max(np.abs(ps - m.probs)))
            entry.update(levels=m.describe()["levels"], target=np.round(m.probs, 4).tolist(),
                         synthetic=ps.round(4).tolist(), max_abs_diff=diff,
                         **{"pass": bool(diff < cfg.proportion)})
        else:
            y = np.sort(np.asarray(s, float))
            ok = True
            if sc.mean is not None and sc.sd is not None:
                smd = float((y.mean() - sc.mean) / sc.sd)
                entry.update(mean_target=sc.mean, mean_synthetic=float(y.mean()),
                             sd_target=sc.sd, sd_synthetic=_sd(y), smd=smd,
                             sd_ratio=_sd(y) / sc.sd)
                ok = ok and abs(smd) < cfg.smd
            if sc.quantiles:
                errs = {str(p): float(np.searchsorted(y, v, side="right") / y.size - p)
                        for p, v in sc.quantiles}
                ks = float(max(abs(e) for e in errs.values()))
                entry.update(quantile_cdf_error=errs, ks=ks,
                             quantiles_synthetic={str(p): float(np.quantile(y, p))
                                                  for p, _ in sc.quantiles})
                ok = ok and ks < cfg.ks
            entry["pass"] = bool(ok)
        per[m.name] = entry
    names = [m.name for m in marginals]
    head = synth.iloc[:MAX_CORR_ROWS]
    got = spearman_matrix([numeric_codes(head[m.name], m) for m in marginals])
    corr = _corr_block(names, target_spearman, got, cfg.rank_corr)
    return {"covariates": per, "rank_correlation": corr,
            "pass": bool(all(e["pass"] for e in per.values()) and corr["pass"])}


def _standardised(table: pd.DataFrame, marginals: Sequence[Marginal],
                  ref: Mapping[str, tuple[float, float, float]]) -> FloatArray:
    cols = []
    for m in marginals:
        x = numeric_codes(table[m.name], m)
        mu, sd, med = ref[m.name]
        x = np.where(np.isnan(x), med, x)
        cols.append((x - mu) / sd)
    return np.column_stack(cols)


def privacy_metrics(synth: pd.DataFrame, real: pd.DataFrame, marginals: Sequence[Marginal],
                    cfg: PrivacyConfig, *, seed: int) -> dict[str, Any]:
    """Exact copies and distance-to-closest-record (DCR) of ``synth`` against ``real``."""
    names = [m.name for m in marginals]
    real_cols = real[names]
    complete = real_cols.dropna()
    exact = 0
    if not complete.empty:
        key_r = pd.DataFrame({n: numeric_codes(complete[n], m) for n, m in zip(names, marginals,
                                                                                 strict=True)})
        # pre-filter on the most distinct column: only rows matching it can be exact copies
        lead = max(names, key=lambda n: key_r[n].nunique())
        lead_m = marginals[names.index(lead)]
        candidates = synth[np.isin(numeric_codes(synth[lead], lead_m), key_r[lead].to_numpy())]
        if not candidates.empty:
            key_s = pd.DataFrame({n: numeric_codes(candidates[n], m)
                                  for n, m in zip(names, marginals, strict=True)})
            exact = int(key_s.merge(key_r.drop_duplicates(), how="inner", on=names).shape[0])
    ref = {}
    for m in marginals:
        x = numeric_codes(real[m.name], m)
        sd = float(np.nanstd(x)) or 1.0
        ref[m.name] = (float(np.nanmean(x)), sd, float(np.nanmedian(x)))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(real))
    n_hold = int(round(cfg.holdout_fraction * len(real)))
    hold_idx, train_idx = perm[:n_hold], perm[n_hold:]
    if n_hold < 2 or len(train_idx) < 2:
        return {"exact_copies": exact, "dcr": None,
                "note": "too few real records for a holdout comparison"}
    train = _standardised(real.iloc[train_idx], marginals, ref)
    hold = _standardised(real.iloc[hold_idx], marginals, ref)
    syn = _standardised(synth.iloc[: cfg.max_records], marginals, ref)
    tree = cKDTree(train)
    d_syn, _ = tree.query(syn, k=1)
    d_hold, _ = tree.query(hold, k=1)
    p5_hold = float(np.percentile(d_hold, 5))
    return {
        "exact_copies": exact,
        "n_synthetic_compared": int(syn.shape[0]), "n_train": int(train.shape[0]),
        "n_holdout": int(hold.shape[0]),
        "dcr_synthetic_to_train": {"median": float(np.median(d_syn)),
                                   "p05": float(np.percentile(d_syn, 5))},
        "dcr_holdout_to_train": {"median": float(np.median(d_hold)), "p05": p5_hold},
        "share_synthetic_closer_than_holdout_p05": float(np.mean(d_syn < p5_hold)),
        "note": ("DCR on covariates standardised by the real mean/SD; missing real values "
                 "imputed by the median for distances only; a share near 0.05 means synthetic "
                 "records are no closer to real ones than new real patients are"),
    }
