"""The report test fixture (tests/_support/report_fixture.py) keeps the shape of real outputs."""

from __future__ import annotations

from _support.report_fixture import (  # noqa: F401
    cohort_stage_json,
    config_raw,
    shown_equals,
)

from twintrial.provenance import config_hash


def test_fixture_has_the_keys_of_a_real_cohort_json() -> None:
    out = cohort_stage_json()
    assert {"summary", "warnings", "provenance", "fidelity", "privacy", "acceptance",
            "latent_correlation", "marginals", "missing"} <= set(out)
    for name, cov in out["fidelity"]["covariates"].items():
        assert cov["type"] in ("continuous", "binary", "categorical"), name


def test_fixture_provenance_hash_matches_its_config() -> None:
    cfg = config_raw()
    assert cohort_stage_json(cfg)["provenance"]["config_hash"] == config_hash(cfg)


def test_the_number_check_can_fail() -> None:
    assert shown_equals("0.127", 0.1270) and shown_equals("43.0%", 0.42992)
    assert shown_equals("1,000", 1000) and shown_equals("2.50e-07", 2.5e-7)
    assert not shown_equals("0.128", 0.1270)
    assert not shown_equals("43.1%", 0.42992)
    assert not shown_equals("n/a", 0.0) and not shown_equals("pass", False)
