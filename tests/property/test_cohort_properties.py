"""Invariants of build_cohort: criteria hold, N and bounds respected, chunk-invariant bytes."""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twintrial import io, rng
from twintrial.cohort import CohortConfig, CohortSummary, build_cohort

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=1)
def subjects() -> pd.DataFrame:
    g = np.random.default_rng(42)
    n = 250
    age = g.normal(50, 11, n)
    weight = 70 + 0.3 * (age - 50) + g.normal(0, 12, n)
    return pd.DataFrame({
        "id": [str(i) for i in range(n)], "arm": pd.array([None] * n, dtype="str"),
        "age": age, "weight": weight,
        "crcl": np.exp(4.5 - 0.01 * (age - 50) + g.normal(0, 0.3, n)),
        "smoker": (g.random(n) < 0.3).astype(float),
        "stage": g.choice([1.0, 2.0, 3.0, 4.0], n, p=[0.1, 0.3, 0.4, 0.2]),
        "sex": pd.array(g.choice(["f", "m"], n), dtype="str"),
    })


def config(n: int, criteria: list[str], bounds: dict[str, list[float]] | None = None
           ) -> CohortConfig:
    bounds = bounds or {}
    covs = [{"name": c, "bounds": bounds.get(c, [None, None])} for c in ("age", "weight", "crcl")]
    covs += [{"name": "smoker", "type": "binary"}, {"name": "stage", "type": "categorical"},
             {"name": "sex", "type": "categorical"}]
    return CohortConfig.from_dict({"n": n, "covariates": covs, "criteria": criteria,
                                   "fidelity": {"warn": False}, "privacy": {"enabled": False}})


criteria_st = st.lists(st.sampled_from([
    "age >= 40", "age < 65 and weight > 55", "stage in [2, 3]", "sex == 'f' or smoker == 1",
    "log(crcl) > 4.2", "not stage == 4", "18 <= age < 70", "weight / (crcl / 100) < 120",
]), max_size=3, unique=True)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 2500), criteria=criteria_st)
def test_criteria_hold_and_n_respected(seed: int, n: int, criteria: list[str]) -> None:
    res = build_cohort(subjects(), config(n, criteria), seed=seed)
    t = res.table
    assert len(t) == n
    assert t["vid"].tolist() == list(range(n))
    for text in criteria:
        from twintrial.expressions import parse_expression
        assert parse_expression(text).mask(t).all(), text
    assert not t.isna().any().any()


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), lo=st.floats(5, 35), width=st.floats(30, 80),
       wlo=st.floats(1, 40))
def test_bounds_respected(seed: int, lo: float, width: float, wlo: float) -> None:
    # bounds must contain the observed data: widen from the observed range
    s = subjects()
    bounds = {"age": [min(lo, s.age.min()), max(lo + width, s.age.max())],
              "weight": [min(wlo, s.weight.min()), s.weight.max() + wlo],
              "crcl": [0.0, s.crcl.max() * 1.01]}
    t = build_cohort(s, config(3000, [], bounds), seed=seed).table
    for c, (a, b) in bounds.items():
        assert t[c].min() >= a and t[c].max() <= b, c


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 5000),
       chunks=st.lists(st.integers(1, 8 * rng.PATIENT_BLOCK), min_size=2, max_size=3),
       criteria=criteria_st)
def test_same_seed_identical_bytes_for_any_chunking(seed: int, n: int, chunks: list[int],
                                                    criteria: list[str]) -> None:
    blobs, reports = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, chunk in enumerate(chunks):
            res = build_cohort(subjects(), config(n, criteria), seed=seed, chunk_size=chunk)
            path = Path(tmp) / f"{k}.parquet"
            io.write_table(res.table, path)
            blobs.append(path.read_bytes())
            reports.append(io.dumps_json(res.report))
    assert all(b == blobs[0] for b in blobs)
    assert all(r == reports[0] for r in reports)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3000), low=st.floats(0.0, 2.5),
       high=st.floats(12.0, 60.0), rho=st.floats(-0.7, 0.7))
def test_summary_source_bounds_and_n(seed: int, n: int, low: float, high: float,
                                     rho: float) -> None:
    summary = CohortSummary.from_dict({
        "covariates": [{"name": "x", "median": 4.0, "q1": 3.0, "q3": 8.0, "bounds": [low, high]},
                       {"name": "y", "mean": 10.0, "sd": 4.0, "bounds": [0, None],
                        "family": "truncnorm"},
                       {"name": "g", "type": "categorical", "proportions": {"a": 0.2, "b": 0.8}}],
        "correlation": {"matrix": [[1, rho, 0], [rho, 1, 0], [0, 0, 1]]}})
    cfg = CohortConfig.from_dict({"source": "summary", "n": n, "criteria": ["y < 15"],
                                  "fidelity": {"warn": False}})
    t = build_cohort(summary, cfg, seed=seed).table
    assert len(t) == n
    assert t["x"].between(low, high).all() and (t["y"] >= 0).all() and (t["y"] < 15).all()
    assert set(t["g"].unique()) <= {"a", "b"}
