"""Build a virtual cohort: marginals + Gaussian copula + criteria by rejection sampling.

Determinism: candidate ``i`` comes from block ``i // PATIENT_BLOCK`` of the stream
``rng.block_generator(seed, "cohort", block=b)``; accepted candidates are kept in candidate order
until ``n`` are reached. The output therefore does not depend on ``chunk_size`` (how many blocks are
drawn and transformed together).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twintrial import rng as rngmod
from twintrial.cohort.config import CohortConfig, CovariateSpec
from twintrial.cohort.copula import (
    calibrate_latent,
    hermite_coefficients,
    implied_spearman,
    is_positive_definite,
    nearest_correlation,
    spearman_matrix,
)
from twintrial.cohort.fidelity import (
    fidelity_vs_data,
    fidelity_vs_summary,
    numeric_codes,
    privacy_metrics,
)
from twintrial.cohort.marginals import (
    DiscreteMarginal,
    EmpiricalMarginal,
    Marginal,
    fit_parametric,
)
from twintrial.cohort.summary import CohortSummary
from twintrial.exceptions import CohortError, FidelityWarning
from twintrial.expressions import Expression, parse_expression

DEFAULT_CHUNK = 64 * rngmod.PATIENT_BLOCK
MIN_CANDIDATES_FOR_RATE = 4 * rngmod.PATIENT_BLOCK
MAX_EMPTY = 1 << 20  # candidates drawn without a single acceptance before giving up
MIN_REFERENCE = 20  # real patients meeting the criteria needed to use them as fidelity reference
NON_COVARIATES = ("id", "arm")
MAX_INFERRED_LEVELS = 6


@dataclass(frozen=True)
class CohortResult:
    """A virtual cohort and its report.

    Attributes
    ----------
    table
        ``vid`` (int64, 0..n-1) then one column per covariate, dtypes as in the source.
    report
        JSON-serialisable: ``summary`` (headline numbers), ``warnings`` (for the report top),
        ``marginals``, ``latent_correlation``, ``fidelity`` (per covariate, rank correlation,
        pass/fail, ``reference``: with criteria, patient-level fidelity is measured against the
        real patients meeting them), ``privacy`` (data source only), ``acceptance``,
        ``missing`` (per covariate, real data), ``missing_policy``, ``seed``.
    marginals
        The fitted marginal of each covariate (table order).
    reference
        The real patients the fidelity is measured against (``None`` for a summary source).
    """

    table: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)
    marginals: tuple[Marginal, ...] = ()
    reference: pd.DataFrame | None = None


@dataclass(frozen=True)
class _Plan:
    marginals: list[Marginal]
    dtypes: dict[str, Any]
    target_spearman: npt.NDArray[np.float64]
    warnings: list[str]


def infer_covariates(subjects: pd.DataFrame) -> tuple[CovariateSpec, ...]:
    """Covariate specs inferred from the columns of ``subjects`` (all but id/arm).

    Text/category -> categorical; numeric with values in {0, 1} -> binary; numeric with at most
    6 distinct values -> categorical (ordinal); other numeric -> continuous (empirical).
    """
    specs = []
    for col in subjects.columns:
        if col in NON_COVARIATES:
            continue
        s = subjects[col].dropna()
        if not pd.api.types.is_numeric_dtype(s):
            specs.append(CovariateSpec(col, "categorical"))
        elif set(np.unique(s.to_numpy(float))) <= {0.0, 1.0}:
            specs.append(CovariateSpec(col, "binary"))
        elif s.nunique() <= MAX_INFERRED_LEVELS:
            specs.append(CovariateSpec(col, "categorical"))
        else:
            specs.append(CovariateSpec(col, "continuous"))
    return tuple(specs)


def _plan_from_data(subjects: pd.DataFrame, specs: tuple[CovariateSpec, ...]) -> _Plan:
    import difflib

    problems = []
    for i, spec in enumerate(specs):
        if spec.name not in subjects.columns:
            close = difflib.get_close_matches(spec.name, list(subjects.columns), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "check the data adapter's columns"
            problems.append(f"cohort.covariates[{i}].name: column {spec.name!r} not in the "
                            f"subjects table; {hint}")
    if problems:
        raise CohortError(problems)
    marginals: list[Marginal] = []
    dtypes: dict[str, Any] = {}
    for spec in specs:
        col = subjects[spec.name]
        if spec.type == "continuous":
            if not pd.api.types.is_numeric_dtype(col):
                raise CohortError(f"subjects: column {spec.name!r} is continuous but holds text "
                                  f"(e.g. {col.dropna().iloc[0]!r}). Use type: categorical")
            if spec.family in ("empirical", "auto"):
                marginals.append(EmpiricalMarginal.fit(spec.name, col.to_numpy(float),
                                                       low=spec.low, high=spec.high))
            else:
                marginals.append(fit_parametric(spec.name, col.to_numpy(float), spec.family,
                                                low=spec.low, high=spec.high))
            dtypes[spec.name] = np.dtype("float64")
        else:
            marginals.append(DiscreteMarginal.fit(spec.name, col, spec.type, levels=spec.levels))
            dtypes[spec.name] = col.dtype  # levels are observed values: the dtype round-trips
    target = spearman_matrix([numeric_codes(subjects[m.name], m) for m in marginals])
    return _Plan(marginals, dtypes, target, [])


def _plan_from_summary(summary: CohortSummary, specs: tuple[CovariateSpec, ...]) -> _Plan:
    names = [s.name for s in specs] or summary.covariate_names
    marginals: list[Marginal] = []
    dtypes: dict[str, Any] = {}
    for name in names:
        sc = summary.covariate(name)
        spec = next((s for s in specs if s.name == name), None)
        m = sc.marginal(family=spec.family if spec else None, low=spec.low if spec else None,
                        high=spec.high if spec else None)
        marginals.append(m)
        numeric = not isinstance(m, DiscreteMarginal) or m.numeric
        dtypes[name] = np.dtype("float64") if numeric else pd.StringDtype(na_value=np.nan)
    idx = [summary.covariate_names.index(n) for n in names]
    matrix = summary.correlation[np.ix_(idx, idx)]
    if summary.correlation_kind == "latent":
        coefs = np.vstack([hermite_coefficients(m) for m in marginals])
        target = implied_spearman(matrix, coefs)
    else:
        target = matrix
    return _Plan(marginals, dtypes, target, [])


def _latent_cholesky(plan: _Plan, summary: CohortSummary | None
                     ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str]]:
    names = [m.name for m in plan.marginals]
    notes: list[str] = []
    if summary is not None and summary.correlation_kind == "latent":
        idx = [summary.covariate_names.index(n) for n in names]
        latent = summary.correlation[np.ix_(idx, idx)]
    else:
        coefs = np.vstack([hermite_coefficients(m) for m in plan.marginals])
        latent, unreachable = calibrate_latent(plan.target_spearman, coefs)
        for i, j, r in unreachable:
            notes.append(f"cohort: rank correlation {r:.3f} between {names[i]!r} and "
                         f"{names[j]!r} cannot be reached with these marginals; the closest "
                         "reachable value is used")
    if not is_positive_definite(latent):
        repaired = nearest_correlation(latent)
        change = float(np.max(np.abs(repaired - latent)))
        notes.append(f"cohort: the latent correlation matrix was not positive definite; replaced "
                     f"by the nearest correlation matrix (Higham 2002), max change {change:.4f}")
        latent = repaired
    return latent, np.linalg.cholesky(latent), notes


def _materialise(z: npt.NDArray[np.float64], plan: _Plan) -> dict[str, Any]:
    return {m.name: m.from_latent(np.ascontiguousarray(z[:, j]))
            for j, m in enumerate(plan.marginals)}


def _sample(plan: _Plan, chol: npt.NDArray[np.float64], criteria: list[Expression], n: int,
            cfg: CohortConfig, seed: int, chunk_size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    block = rngmod.PATIENT_BLOCK
    chunk_blocks = max(1, -(-int(chunk_size) // block))
    parts: dict[str, list[Any]] = {m.name: [] for m in plan.marginals}
    n_acc = n_cand = n_pass = 0
    rejected = np.zeros(len(criteria), dtype=np.int64)
    b = 0
    d = chol.shape[0]
    while n_acc < n:
        rate = n_acc / n_cand if n_cand else 1.0
        want = (n - n_acc) / max(rate, cfg.min_acceptance_rate) * (1.05 if criteria else 1.0)
        nb = int(min(chunk_blocks, max(1, -(-int(want) // block))))
        z = np.empty((nb * block, d))
        for k in range(nb):
            g = rngmod.block_generator(seed, "cohort", block=b + k)
            z[k * block:(k + 1) * block] = g.standard_normal((block, d))
        z = z @ chol.T
        cols = _materialise(z, plan)
        keep = np.ones(nb * block, dtype=bool)
        oks = []
        for expr in criteria:
            oks.append(expr.mask(cols))
            keep &= oks[-1]
        take = np.flatnonzero(keep)[: n - n_acc]
        for name, values in cols.items():
            parts[name].append(values[take])
        n_acc += take.size
        # count only up to the block holding the n-th kept patient: chunk-invariant numbers
        used = nb * block if n_acc < n else (int(take[-1]) // block + 1) * block
        for c, ok in enumerate(oks):
            rejected[c] += int(np.count_nonzero(~ok[:used]))
        n_pass += int(np.count_nonzero(keep[:used]))
        n_cand += used
        b += nb
        if criteria and (n_cand >= MIN_CANDIDATES_FOR_RATE or n_acc >= n):
            rate_now = n_pass / n_cand
            if rate_now < cfg.min_acceptance_rate or (n_pass == 0 and n_cand >= MAX_EMPTY):
                worst = int(np.argmax(rejected))
                raise CohortError(
                    f"cohort.criteria: acceptance rate {rate_now:.4f} ({n_pass} of "
                    f"{n_cand} candidates) is below cohort.min_acceptance_rate "
                    f"{cfg.min_acceptance_rate}; cohort.criteria[{worst}] {criteria[worst].text!r} "
                    f"rejects most ({rejected[worst] / n_cand:.1%} of candidates). Relax the "
                    "criteria or lower the floor")
    columns = {k: np.concatenate(v)[:n] for k, v in parts.items()}
    acceptance = {
        "n_candidates": int(n_cand), "n_passing": int(n_pass), "n_kept": int(n_acc),
        "rate": float(n_pass / n_cand) if n_cand else 1.0,
        "rejected_by": {c.text: int(r) for c, r in zip(criteria, rejected, strict=True)},
        "n_blocks": int(n_cand // block), "block_size": block,
        "note": "counted over whole blocks up to the block holding the last kept patient",
    }
    return columns, acceptance


def _table(columns: dict[str, Any], plan: _Plan, n: int) -> pd.DataFrame:
    data: dict[str, Any] = {"vid": np.arange(n, dtype=np.int64)}
    for m in plan.marginals:
        dtype = plan.dtypes[m.name]
        values = columns[m.name]
        if isinstance(dtype, pd.CategoricalDtype):
            data[m.name] = pd.Categorical(values, dtype=dtype)
        elif isinstance(dtype, np.dtype) and dtype.kind in "fiub":
            data[m.name] = np.asarray(values).astype(dtype)
        else:  # pandas str/object/extension dtypes: a Series keeps them exactly
            data[m.name] = pd.Series(pd.array(values, dtype=dtype), dtype=dtype)
    return pd.DataFrame(data)


def build_cohort(source: pd.DataFrame | CohortSummary, cfg: CohortConfig, *, seed: int,
                 chunk_size: int = DEFAULT_CHUNK) -> CohortResult:
    """Generate ``cfg.n`` virtual patients from patient-level data or a summary definition.

    Parameters
    ----------
    source
        The canonical ``subjects`` table (``cfg.source == "data"``) or a parsed
        :class:`~twintrial.cohort.summary.CohortSummary` (``cfg.source == "summary"``).
    cfg
        The cohort configuration.
    seed
        Stage seed (e.g. ``rng.job_seed(trial_seed, "cohort")``).
    chunk_size
        Candidates drawn and transformed together (rounded up to whole blocks); performance only:
        the output is identical for every value.

    Returns
    -------
    CohortResult
        The table (``vid`` + covariates) and the JSON-serialisable report.

    Raises
    ------
    CohortError
        Unknown columns, unusable data, or an acceptance rate below ``cfg.min_acceptance_rate``.
    """
    if cfg.n < 1:
        raise CohortError(f"cohort.n: must be >= 1; got {cfg.n}")
    summary: CohortSummary | None = None
    real: pd.DataFrame | None = None
    if isinstance(source, CohortSummary):
        summary = source
        plan = _plan_from_summary(summary, cfg.covariates)
    elif isinstance(source, pd.DataFrame):
        specs = cfg.covariates or infer_covariates(source)
        plan = _plan_from_data(source, specs)
        real = source
    else:
        raise CohortError(f"cohort: source must be a subjects DataFrame or a CohortSummary; got "
                          f"{type(source).__name__}")
    names = [m.name for m in plan.marginals]
    criteria = [parse_expression(text, names=names, where=f"cohort.criteria[{i}]")
                for i, text in enumerate(cfg.criteria)]
    latent, chol, notes = _latent_cholesky(plan, summary)
    columns, acceptance = _sample(plan, chol, criteria, cfg.n, cfg, seed, chunk_size)
    table = _table(columns, plan, cfg.n)

    reference_note = None
    reference: pd.DataFrame | None = None
    if real is not None:
        reference = real
        if criteria:
            keep = np.ones(len(real), dtype=bool)
            for expr in criteria:
                keep &= expr.mask(real)
            if keep.sum() >= MIN_REFERENCE:
                reference = real[keep]
                reference_note = (f"real patients meeting the criteria ({int(keep.sum())} of "
                                  f"{len(real)})")
            else:
                reference_note = (f"all real patients: only {int(keep.sum())} meet the criteria "
                                  f"(< {MIN_REFERENCE})")
        fidelity = fidelity_vs_data(table, reference, plan.marginals, cfg.fidelity)
        fidelity["reference"] = reference_note or f"all real patients ({len(real)})"
        privacy: dict[str, Any] | None = (
            privacy_metrics(table, real, plan.marginals, cfg.privacy,
                            seed=rngmod.job_seed(seed, "cohort", "privacy"))
            if cfg.privacy.enabled else None)
        missing = {m.name: int(real[m.name].isna().sum()) for m in plan.marginals}
    else:
        assert summary is not None
        fidelity = fidelity_vs_summary(table, summary, plan.marginals, plan.target_spearman,
                                       cfg.fidelity)
        privacy, missing = None, {}
    warn = list(notes)
    if criteria and (summary is not None or not (reference_note or "").startswith("real")):
        warn.append(f"cohort: inclusion/exclusion criteria applied (acceptance rate "
                    f"{acceptance['rate']:.3f}); fidelity is measured against the unrestricted "
                    "source and is expected to differ for criterion covariates")
    elif not fidelity["pass"]:
        failing = [k for k, v in fidelity["covariates"].items() if not v["pass"]]
        if not fidelity["rank_correlation"]["pass"]:
            failing.append("rank correlation")
        se = 1.0 / np.sqrt(cfg.n)
        warn.append(f"cohort: fidelity thresholds not met for {', '.join(failing)} (Monte Carlo "
                    f"SE at n = {cfg.n}: about {se:.3f} for a Spearman correlation or an SMD; "
                    "differences within 3 SE are sampling noise: increase cohort.n to check)")
    if privacy and privacy.get("exact_copies"):
        warn.append(f"cohort: {privacy['exact_copies']} virtual patients are exact copies of "
                    "real records")
    if cfg.fidelity.warn:
        for w in warn:
            warnings.warn(w, FidelityWarning, stacklevel=2)
    report = {
        "summary": {
            "n": int(cfg.n), "source": "summary" if summary is not None else "data",
            "summary_id": summary.id if summary is not None else None,
            "n_real": len(real) if real is not None else None,
            "n_reference": len(reference) if reference is not None else None,
            "n_covariates": len(names), "acceptance_rate": acceptance["rate"],
            "n_candidates": acceptance["n_candidates"],
            "fidelity_pass": fidelity["pass"],
            "rank_corr_error": fidelity["rank_correlation"]["max_abs_error"],
            "exact_copies": privacy["exact_copies"] if privacy else None,
        },
        "warnings": warn,
        "marginals": {m.name: {"type": m.kind, **m.describe()} for m in plan.marginals},
        "latent_correlation": {"names": names, "matrix": np.round(latent, 6).tolist()},
        "fidelity": {**fidelity, "monte_carlo_se": {
            "spearman": float(1 / np.sqrt(cfg.n)), "smd": float(1 / np.sqrt(cfg.n)),
            "note": "approximate sampling SE of the virtual cohort's statistics (r near 0)"}},
        "privacy": privacy,
        "acceptance": acceptance,
        "missing": missing,
        "missing_policy": ("marginals fitted on observed values; rank correlations on "
                           "pairwise-complete observations; virtual patients are complete"),
        "seed": int(seed),
    }
    return CohortResult(table=table, report=report, marginals=tuple(plan.marginals),
                        reference=reference)
