"""Cohort config: schema defaults, typed config, semantic problems with key paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from twintrial.cohort.config import CohortConfig, semantic_problems
from twintrial.cohort.summary import CohortSummary
from twintrial.config import load_config
from twintrial.exceptions import CohortError, ConfigError

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = ROOT / "cohorts" / "pbc_summary" / "cohort.yaml"


def _config(cohort: dict) -> dict:
    return {"trial": {"name": "t", "seed": 1}, "data": {}, "cohort": cohort}


def test_defaults_filled_and_typed() -> None:
    cfg = load_config(_config({"covariates": [{"name": "age"}, {"name": "sex",
                                                                "type": "categorical"}]}))
    section = cfg.section("cohort")
    assert section["source"] == "data" and section["n"] == 1000
    assert section["fidelity"] == {"ks": 0.06, "smd": 0.05, "proportion": 0.02, "rank_corr": 0.05,
                                   "warn": True}
    typed = CohortConfig.from_dict(section)
    assert typed.covariates[0].family == "empirical" and typed.covariates[0].low is None
    assert typed.covariate("sex").type == "categorical"  # type: ignore[union-attr]
    assert typed.privacy.holdout_fraction == 0.5


def test_schema_rejects_typos_and_bad_values() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config({"sorce": "data", "n": 0,
                             "covariates": [{"name": "age", "type": "numeric"}]}))
    text = str(info.value)
    assert "cohort.sorce: unknown key (did you mean 'source'?)" in text
    assert "cohort.n: must be >= 1" in text
    assert "cohort.covariates[0].type: must be one of" in text


def test_semantic_problems_with_key_paths() -> None:
    raw = _config({
        "source": "data", "summary_file": "x.yaml",
        "covariates": [{"name": "age", "bounds": [90, 18]}, {"name": "bili"}, {"name": "age"},
                       {"name": "sex", "type": "binary", "family": "gamma"},
                       {"name": "stage", "levels": [1, 2]}],
        "criteria": ["age > 18 and bilirubin < 3", "import os"],
    })
    probs = semantic_problems(raw)
    assert "cohort.covariates[0].bounds: low must be < high; got [90, 18]. Swap them or widen the " \
           "range" in probs
    assert any(p.startswith("cohort.covariates[2].name: covariate 'age' is listed twice")
               for p in probs)
    assert any(p.startswith("cohort.covariates[3].family: only continuous") for p in probs)
    assert any(p.startswith("cohort.covariates[4].levels: only categorical") for p in probs)
    assert any(p.startswith("cohort.summary_file: only used when") for p in probs)
    assert any(p.startswith("cohort.criteria[0]: unknown name 'bilirubin'") and "'bili'" in p
               for p in probs)
    assert any(p.startswith("cohort.criteria[1]: invalid syntax") for p in probs)
    with pytest.raises(ConfigError, match=r"cohort\.covariates\[0\]\.bounds"):
        load_config(raw)


def test_summary_file_checks(tmp_path: Path) -> None:
    probs = semantic_problems(_config({"source": "summary"}))
    assert probs[0].startswith("cohort.summary_file: required")
    probs = semantic_problems(_config({"source": "summary", "summary_file": "missing.yaml"}))
    assert probs[0].startswith("cohort.summary_file: file not found")
    bad = tmp_path / "c.yaml"
    bad.write_text(yaml.safe_dump({
        "covariates": [{"name": "a", "mean": 1.0, "sd": 1.0},
                       {"name": "b", "type": "binary", "proportion": 0.3}],
        "correlation": {"matrix": [[1.0, 0.2, 0.1], [0.2, 1.0, 0.0], [0.1, 0.0, 1.0]]}}))
    probs = semantic_problems(_config({"source": "summary", "summary_file": str(bad),
                                       "covariates": [{"name": "a"}, {"name": "zz"}]}))
    assert any("correlation.matrix: size mismatch" in p for p in probs)
    ok = semantic_problems(_config({"source": "summary", "summary_file": str(SUMMARY),
                                    "covariates": [{"name": "age"}, {"name": "zz"}],
                                    "criteria": ["age > 30 and bili < 10"]}))
    assert len(ok) == 2
    assert ok[0].startswith("cohort.covariates[1].name: 'zz' is not in")
    assert ok[1].startswith("cohort.criteria[0]: unknown name 'bili'")


def test_shipped_summary_definition_is_valid() -> None:
    raw = yaml.safe_load(SUMMARY.read_text())
    assert CohortSummary.problems(raw, source=str(SUMMARY)) == []
    s = CohortSummary.from_dict(raw, source=str(SUMMARY))
    assert s.n_source == 312 and "Dickson" in s.citation
    assert len(s.covariates) == s.correlation.shape[0] == 16
    assert semantic_problems(_config({"source": "summary", "summary_file": str(SUMMARY)})) == []


def test_read_summary(tmp_path: Path) -> None:
    from twintrial.cohort import read_summary

    assert read_summary(SUMMARY).id == "pbc_summary"
    with pytest.raises(CohortError, match="cohort definition not found"):
        read_summary(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("covariates: [\n")
    with pytest.raises(CohortError, match="invalid YAML"):
        read_summary(tmp_path / "bad.yaml")


def test_summary_problems_are_all_reported() -> None:
    raw = {"covariates": [{"name": "a", "mean": 1.0},
                          {"name": "b", "type": "binary", "proportion": 1.5},
                          {"name": "c", "type": "categorical", "proportions": {"x": 0.5, "y": 0.2}},
                          {"name": "d", "median": 3.0, "q1": 4.0, "q3": 5.0},
                          {"name": "a", "mean": 1.0, "sd": -1.0, "colour": "red"}],
           "correlation": {"kind": "pearson", "matrix": [[1, 0.5], [0.4, 1]], "names": ["a", "q"]}}
    with pytest.raises(CohortError) as info:
        CohortSummary.from_dict(raw, source="s.yaml")
    text = str(info.value)
    for fragment in ["covariates[0]: continuous covariate 'a' needs mean and sd",
                     "covariates[1].proportion", "covariates[2].proportions: must be >= 0 and sum",
                     "covariates[3]: quantiles must increase", "covariates[4].colour: unknown key",
                     "covariates[4].name: 'a' is listed twice", "covariates[4].sd: must be > 0",
                     "correlation.kind", "correlation.names: unknown covariates ['q']",
                     "correlation.matrix: must be symmetric"]:
        assert fragment in text, fragment
