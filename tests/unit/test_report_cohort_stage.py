"""The report renders what the real cohort stage writes (guards against drift of cohort.json)."""

from __future__ import annotations

import json
import warnings

import _support.report_fixture as fx  # noqa: E402
import numpy as np
import pandas as pd
import pytest

from twintrial.cohort import CohortConfig, build_cohort
from twintrial.io import dumps_json
from twintrial.report import build_summary, lookup, render_report

config_raw = fx.config_raw
_parse, shown_equals, _MISSING = fx.parse_html, fx.shown_equals, fx.MISSING


@pytest.fixture(scope="module")
def real_cohort_json():
    rng = np.random.default_rng(7)
    n = 240
    subjects = pd.DataFrame({
        "id": [f"p{i:03d}" for i in range(n)],
        "age": rng.normal(50, 10, n).clip(20, 85),
        "bili": np.exp(rng.normal(0.3, 0.9, n)),
        "female": (rng.random(n) < 0.88).astype(float),
        "edema": pd.array(rng.choice(["none", "untreated", "diuretics"], n, p=[.84, .1, .06]),
                          dtype="str"),
    })
    cfg = config_raw()
    cfg["cohort"] = {"source": "data", "n": 1500, "covariates": [
        {"name": "age", "unit": "year", "bounds": [18, 90]},
        {"name": "bili", "unit": "mg/dL", "bounds": [0, None]},
        {"name": "female", "type": "binary"},
        {"name": "edema", "type": "categorical"}]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = build_cohort(subjects, CohortConfig.from_dict(cfg["cohort"]), seed=11)
    report = dict(result.report)  # as twintrial.pipeline.run_cohort writes cohort.json
    stage = {"summary": report.pop("summary"), "warnings": report.pop("warnings", []), **report,
             "provenance": {"stage": "cohort", "seed": 11}}
    return cfg, json.loads(dumps_json(stage))


def test_real_cohort_output_fills_table_1(real_cohort_json) -> None:
    cfg, stage = real_cohort_json
    summary = build_summary(cfg, {"cohort": stage}, host={"hostname": "h"})
    cohort = summary["cohort"]
    assert cohort["covariate_order"] == ["age", "bili", "female", "edema"]
    assert cohort["n_virtual"] == 1500
    age = cohort["covariates"]["age"]
    assert age["real"]["mean"] == stage["fidelity"]["covariates"]["age"]["mean_real"]
    assert age["virtual"]["sd"] == stage["fidelity"]["covariates"]["age"]["sd_synthetic"]
    assert 0 < cohort["covariates"]["female"]["virtual"]["proportion"] < 1
    assert set(cohort["covariates"]["edema"]["virtual"]["proportions"]) == \
        {"diuretics", "none", "untreated"}
    assert cohort["privacy"]["dcr_median"] > 0

    html = render_report(summary, {})
    section = html[html.index('id="cohort"'):]
    section = section[:section.index("</section>")]
    spans = _parse(section).spans
    keys = {k for k, _ in spans}
    for name in ("age", "bili", "female", "edema"):
        assert any(k.startswith(f"cohort.covariates.{name}.real.") for k in keys), name
        assert any(k.startswith(f"cohort.covariates.{name}.virtual.") for k in keys), name
    on_disk = json.loads(dumps_json(summary))
    assert all(shown_equals(t, lookup(on_disk, k, default=_MISSING)) for k, t in spans)
    assert "Not run in this configuration." not in section
