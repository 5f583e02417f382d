"""build_cohort: criteria, acceptance floor, dtypes, report, errors, chunk invariance."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twintrial import io
from twintrial.cohort import CohortConfig, CohortSummary, build_cohort, infer_covariates
from twintrial.exceptions import CohortError, ConfigError, FidelityWarning

ROOT = Path(__file__).resolve().parents[2]


def _subjects(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(55, 10, n)
    bili = np.exp(0.5 + 0.03 * (age - 55) + rng.normal(0, 0.8, n))
    stage = np.clip(np.round(2.5 + (np.log(bili) - 0.5) + rng.normal(0, 0.8, n)), 1, 4)
    df = pd.DataFrame({
        "id": [f"p{i}" for i in range(n)],
        "arm": pd.array(["a", "b"] * (n // 2), dtype="str"),
        "age": age, "bili": bili,
        "ascites": (rng.random(n) < 0.1).astype(float),
        "stage": stage,
        "sex": pd.array(np.where(rng.random(n) < 0.85, "f", "m"), dtype="str"),
        "site": pd.Categorical(rng.choice(["x", "y", "z"], n)),
    })
    df.loc[:9, "bili"] = np.nan  # some missing values
    return df


def _cfg(**kw: object) -> CohortConfig:
    base: dict = {"n": 2000, "covariates": [
        {"name": "age", "bounds": [18, 90]}, {"name": "bili", "bounds": [0.01, 60]},
        {"name": "ascites", "type": "binary"}, {"name": "stage", "type": "categorical"},
        {"name": "sex", "type": "categorical"}, {"name": "site", "type": "categorical"}],
        "fidelity": {"warn": False}}
    base.update(kw)
    return CohortConfig.from_dict(base)


def test_table_layout_and_dtypes() -> None:
    subj = _subjects()
    res = build_cohort(subj, _cfg(), seed=11)
    t = res.table
    assert list(t.columns) == ["vid", "age", "bili", "ascites", "stage", "sex", "site"]
    assert t["vid"].dtype == np.int64 and t["vid"].tolist() == list(range(2000))
    for c in ("age", "bili", "ascites", "stage"):
        assert t[c].dtype == np.float64
    assert t["sex"].dtype == subj["sex"].dtype
    assert isinstance(t["site"].dtype, pd.CategoricalDtype)
    assert set(t["stage"].unique()) <= {1.0, 2.0, 3.0, 4.0}
    assert set(t["ascites"].unique()) <= {0.0, 1.0}
    assert t["age"].between(18, 90).all() and t["bili"].between(0.01, 60).all()
    assert not t.isna().any().any()


def test_report_is_json_serialisable_and_complete() -> None:
    res = build_cohort(_subjects(), _cfg(), seed=11)
    r = res.report
    text = io.dumps_json(r)
    assert "NaN" not in text
    assert set(r) >= {"summary", "warnings", "fidelity", "privacy", "acceptance", "missing",
                      "marginals", "latent_correlation"}
    assert r["missing"]["bili"] == 10
    assert r["acceptance"]["rate"] == 1.0 and r["acceptance"]["n_candidates"] == 2048
    assert r["privacy"]["exact_copies"] == 0
    assert r["fidelity"]["covariates"]["sex"]["levels"] == ["f", "m"]


def test_criteria_hold_and_rate_reported() -> None:
    cfg = _cfg(criteria=["age >= 50", "stage in [3, 4] or bili > 2", "sex == 'f'"])
    res = build_cohort(_subjects(), cfg, seed=5)
    t = res.table
    assert len(t) == 2000
    assert (t["age"] >= 50).all() and (t["sex"] == "f").all()
    assert (t["stage"].isin([3.0, 4.0]) | (t["bili"] > 2)).all()
    acc = res.report["acceptance"]
    assert 0.1 < acc["rate"] < 0.6
    assert set(acc["rejected_by"]) == set(cfg.criteria)
    assert res.report["fidelity"]["reference"].startswith("real patients meeting the criteria")
    real = _subjects()
    meeting = ((real["age"] >= 50) & (real["stage"].isin([3, 4]) | (real["bili"] > 2))
               & (real["sex"] == "f"))
    summ = res.report["summary"]
    assert summ["n_real"] == len(real)
    assert summ["n_reference"] == int(meeting.sum()) == len(res.reference)


def test_low_acceptance_names_worst_criterion() -> None:
    cfg = _cfg(criteria=["age > 20", "age > 95 or bili > 50"], min_acceptance_rate=0.05)
    with pytest.raises(CohortError, match=r"acceptance rate 0\.0\d+ .* below "
                                          r"cohort\.min_acceptance_rate 0\.05; "
                                          r"cohort\.criteria\[1\] 'age > 95 or bili > 50' rejects most"):
        build_cohort(_subjects(), cfg, seed=1)


def test_unknown_column_and_bad_criterion() -> None:
    cfg = CohortConfig.from_dict({"n": 10, "covariates": [{"name": "agee"}]})
    with pytest.raises(CohortError, match=r"cohort\.covariates\[0\]\.name: column 'agee' not in "
                                          r"the subjects table; did you mean 'age'\?"):
        build_cohort(_subjects(), cfg, seed=1)
    with pytest.raises(ConfigError, match=r"cohort\.criteria\[0\]: unknown name 'weight'"):
        build_cohort(_subjects(), _cfg(criteria=["weight > 3"]), seed=1)
    with pytest.raises(CohortError, match="holds text"):
        build_cohort(_subjects(), CohortConfig.from_dict({"covariates": [{"name": "sex"}]}),
                     seed=1)


def test_chunk_size_does_not_change_output(tmp_path: Path) -> None:
    cfg = _cfg(n=3000, criteria=["age < 60"])
    paths, reports = [], []
    for chunk in (1024, 3000, 1 << 16):
        res = build_cohort(_subjects(), cfg, seed=99, chunk_size=chunk)
        path = tmp_path / f"c{chunk}.parquet"
        io.write_table(res.table, path)
        paths.append(path.read_bytes())
        reports.append(io.dumps_json(res.report))
    assert paths[0] == paths[1] == paths[2]
    assert reports[0] == reports[1] == reports[2]  # the report too (acceptance counts, fidelity)
    other = build_cohort(_subjects(), cfg, seed=100).table
    assert not other["age"].equals(build_cohort(_subjects(), cfg, seed=99).table["age"])


def test_parametric_family_and_inferred_covariates() -> None:
    subj = _subjects()
    specs = infer_covariates(subj)
    kinds = {s.name: s.type for s in specs}
    assert kinds == {"age": "continuous", "bili": "continuous", "ascites": "binary",
                     "stage": "categorical", "sex": "categorical", "site": "categorical"}
    cfg = _cfg(covariates=[{"name": "age", "family": "normal"},
                           {"name": "bili", "family": "lognormal", "bounds": [0.01, 100]}])
    res = build_cohort(subj, cfg, seed=2)
    assert res.report["marginals"]["bili"]["family"] == "lognormal"
    default = build_cohort(subj, CohortConfig.from_dict({"n": 50, "fidelity": {"warn": False}}),
                           seed=2)
    assert list(default.table.columns) == ["vid", *kinds]


def test_fidelity_warning_emitted_when_enabled() -> None:
    cfg = CohortConfig.from_dict({"n": 300, "covariates": [{"name": "age"}, {"name": "bili"}],
                                  "fidelity": {"ks": 1e-6}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = build_cohort(_subjects(), cfg, seed=3)
    assert not res.report["fidelity"]["pass"]
    assert any(issubclass(w.category, FidelityWarning) and "not met for age" in str(w.message)
               and "Monte Carlo SE at n = 300" in str(w.message)
               for w in caught)


def test_summary_latent_kind_and_subset() -> None:
    raw = {"id": "toy", "covariates": [
        {"name": "a", "mean": 10.0, "sd": 2.0, "bounds": [0, 30]},
        {"name": "b", "type": "binary", "proportion": 0.3},
        {"name": "c", "median": 5.0, "q1": 3.0, "q3": 9.0, "bounds": [0.1, 100]}],
        "correlation": {"kind": "latent", "matrix": [[1, 0.5, 0.4], [0.5, 1, 0.0],
                                                     [0.4, 0.0, 1]]}}
    summary = CohortSummary.from_dict(raw)
    cfg = CohortConfig.from_dict({"source": "summary", "n": 50_000,
                                  "covariates": [{"name": "c"}, {"name": "a"}]})
    res = build_cohort(summary, cfg, seed=4)
    assert list(res.table.columns) == ["vid", "c", "a"]
    fid = res.report["fidelity"]
    assert fid["pass"], fid
    lat = np.array(res.report["latent_correlation"]["matrix"])
    assert lat[0, 1] == pytest.approx(0.4)
    assert res.report["privacy"] is None
    assert res.report["summary"]["n_real"] is None and res.report["summary"]["n_reference"] is None


def test_bad_source_type() -> None:
    with pytest.raises(CohortError, match="must be a subjects DataFrame or a CohortSummary"):
        build_cohort({"a": 1}, _cfg(), seed=1)  # type: ignore[arg-type]


def test_privacy_counts_planted_exact_copies() -> None:
    from twintrial.cohort.build import _plan_from_data
    from twintrial.cohort.config import PrivacyConfig
    from twintrial.cohort.fidelity import privacy_metrics

    subj = _subjects()
    cfg = _cfg(n=1000)
    table = build_cohort(subj, cfg, seed=8).table
    plan = _plan_from_data(subj, cfg.covariates)
    base = privacy_metrics(table, subj, plan.marginals, PrivacyConfig(), seed=1)
    assert base["exact_copies"] == 0
    real = subj.dropna().reset_index(drop=True)
    for k in range(4):  # plant 4 copies of real records
        for c in ("age", "bili", "ascites", "stage", "sex", "site"):
            table.loc[k, c] = real.loc[k, c]
    planted = privacy_metrics(table, subj, plan.marginals, PrivacyConfig(), seed=1)
    assert planted["exact_copies"] == 4
    # a memorising generator (copies of the training records) is flagged by the DCR share
    copies = pd.concat([real] * 5, ignore_index=True)
    memo = privacy_metrics(copies, subj, plan.marginals, PrivacyConfig(), seed=1)
    assert memo["share_synthetic_closer_than_holdout_p05"] > 0.3
    assert base["share_synthetic_closer_than_holdout_p05"] < 0.15


def test_input_dtypes_round_trip() -> None:
    subj = _subjects().assign(stage_int=lambda d: d["stage"].astype(np.int64),
                              flag=lambda d: d["ascites"] == 1.0,
                              stage_obj=lambda d: d["stage"].map(lambda v: f"S{v:.0f}").astype(object))
    cfg = CohortConfig.from_dict({"n": 500, "fidelity": {"warn": False}, "covariates": [
        {"name": "stage_int", "type": "categorical"}, {"name": "flag", "type": "binary"},
        {"name": "stage_obj", "type": "categorical"}]})
    t = build_cohort(subj, cfg, seed=1).table
    assert t["stage_int"].dtype == np.int64 and set(t["stage_int"]) <= {1, 2, 3, 4}
    assert t["flag"].dtype == np.bool_
    assert t["stage_obj"].dtype == object and set(t["stage_obj"]) <= {"S1", "S2", "S3", "S4"}
