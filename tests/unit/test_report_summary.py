"""build_summary, benchmark parsing, dotted keys and number formatting (report stage)."""

from __future__ import annotations

import copy
import json
import math

import _support.report_fixture as fx  # noqa: E402
import numpy as np
import pytest

from twintrial.io import dumps_json
from twintrial.provenance import config_hash
from twintrial.report import (
    STAGES,
    ReportError,
    build_summary,
    format_value,
    lookup,
    parse_benchmark_tsv,
    read_benchmark,
)
from twintrial.report.keys import figure_key

config_raw, cohort_stage_json, BENCHMARK_TSV = fx.config_raw, fx.cohort_stage_json, fx.BENCHMARK_TSV

HOST = {"hostname": "test-host", "cpus": 2}


def _summary(**stages):
    cfg = config_raw()
    outs = {"cohort": cohort_stage_json(cfg), **stages}
    return build_summary(cfg, outs, benchmarks={"cohort": parse_benchmark_tsv(BENCHMARK_TSV)},
                         host=HOST)


def test_summary_is_strict_json_and_stable_under_a_file_round_trip() -> None:
    summary = _summary()
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    assert json.loads(dumps_json(summary)) == summary
    assert list(summary) == sorted(summary)  # same order as summary.json on disk


def _numbers(node) -> set:
    if isinstance(node, dict):
        return set().union(*(_numbers(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_numbers(v) for v in node)) if node else set()
    if isinstance(node, int | float) and not isinstance(node, bool):
        return {node}
    return set()


def test_cohort_view_re_keys_the_stage_numbers() -> None:
    cohort = _summary()["cohort"]
    age, female, edema = (cohort["covariates"][n] for n in ("age", "female", "edema"))
    assert age["unit"] == "year" and age["kind"] == "continuous"
    assert age["real"] == {"mean": 50.02, "sd": 10.58, "missing": 0}
    assert age["virtual"] == {"mean": 50.31, "sd": 10.21, "min": 25.90, "max": 79.02}
    assert age["fidelity"]["ks"] == 0.0412 and age["fidelity"]["pass"] is True
    assert female["real"] == {"proportion": 0.8846, "missing": 0}
    assert female["virtual"] == {"proportion": 0.891}
    assert edema["real"]["proportions"] == {"despite diuretics": 0.0641, "none": 0.8429,
                                            "untreated or resolved": 0.0929}
    assert edema["real"]["missing"] == 2 and edema["fidelity"]["max_abs_diff"] == 0.0081
    assert cohort["fidelity"] == {"ks_threshold": 0.06, "smd_threshold": 0.05,
                                  "proportion_threshold": 0.02, "corr_max_abs_error": 0.0433,
                                  "corr_threshold": 0.05, "corr_worst_pair": "bili and albumin",
                                  "pass": False}
    assert cohort["privacy"]["dcr_median"] == 0.412
    assert cohort["privacy"]["dcr_reference_median"] == 0.455
    assert (cohort["n_virtual"], cohort["n_drawn"], cohort["reference"]) == (1000, 2326, "real")


def test_cohort_view_copies_numbers_and_never_computes_new_ones() -> None:
    cfg = config_raw()
    source = _numbers(cohort_stage_json(cfg)) | _numbers(cfg)
    assert _numbers(build_summary(cfg, {"cohort": cohort_stage_json(cfg)})["cohort"]) <= source


def test_cohort_metrics_derived_for_the_executive_summary() -> None:
    m = _summary()["metrics"]["cohort"]
    assert (m["fidelity_pass"], m["fidelity_assessed"], m["covariates"]) == (4, 5, 5)
    assert m["max_ks"] == pytest.approx(0.1270)
    assert m["max_abs_smd"] == pytest.approx(0.0517)
    assert m["covariate_order"] == ["age", "bili", "albumin", "female", "edema"]
    assert m["levels"]["edema"] == ["despite diuretics", "none", "untreated or resolved"]


def test_covariate_order_follows_the_cohort_not_json_key_order() -> None:
    cfg = config_raw()
    out = cohort_stage_json(cfg)
    out["latent_correlation"]["names"] = ["female", "age", "edema", "bili", "albumin"]
    summary = build_summary(cfg, {"cohort": out}, host=HOST)
    assert summary["metrics"]["cohort"]["covariate_order"] == out["latent_correlation"]["names"]


def test_summary_statistics_source_is_compared_with_its_targets() -> None:
    cfg = config_raw()
    out = cohort_stage_json(cfg)
    out["summary"]["source"] = "summary"
    out["privacy"] = None
    out["fidelity"]["covariates"]["age"] = {
        "type": "continuous", "mean_target": 50.0, "sd_target": 10.6, "mean_synthetic": 50.2,
        "sd_synthetic": 10.5, "smd": 0.019, "sd_ratio": 0.99,
        "quantiles_synthetic": {"0.25": 43.1, "0.5": 50.3, "0.75": 57.2}, "ks": 0.012,
        "pass": True}
    cohort = build_summary(cfg, {"cohort": out})["cohort"]
    age = cohort["covariates"]["age"]
    assert cohort["reference"] == "target" and "privacy" not in cohort
    assert age["real"] == {"mean": 50.0, "sd": 10.6}
    assert age["virtual"] == {"mean": 50.2, "sd": 10.5, "q1": 43.1, "median": 50.3, "q3": 57.2}
    assert age["fidelity"]["sd_ratio"] == 0.99


def test_report_shaped_cohort_summary_passes_through() -> None:
    shaped = {"summary": {"n_virtual": 10, "covariates": {"x": {"kind": "continuous",
              "real": {"mean": 1.0}, "virtual": {"mean": 1.1}, "fidelity": {}}}},
              "warnings": [], "provenance": {}}
    cohort = build_summary(config_raw(), {"cohort": shaped})["cohort"]
    assert cohort == shaped["summary"]


def test_missing_stages_are_not_run_and_listed_as_limitations() -> None:
    summary = _summary()
    assert summary["stages"]["cohort"]["status"] == "run"
    for stage in ("twins", "arms", "analysis", "sensitivity", "validation"):
        assert summary["stages"][stage]["status"] == "not_run"
        assert summary[stage] is None
        assert any(lim["source"] == stage and "not run" in lim["text"]
                   for lim in summary["limitations"])
    assert {"source": "cohort", "text": cohort_stage_json()["limitations"][0]} in \
        summary["limitations"]
    assert summary["executive"]["credibility"]["assessed"] is False


def test_analysis_output_implies_arms_ran() -> None:
    analysis = {"summary": {"effect": 1.5}, "warnings": [], "provenance": {}}
    summary = _summary(analysis=analysis)
    assert summary["stages"]["arms"]["status"] == "run"
    assert not any(lim["source"] == "arms" for lim in summary["limitations"])


def test_nothing_run_still_builds_a_summary() -> None:
    summary = build_summary(config_raw(), {}, host=HOST)
    assert all(summary["stages"][s]["status"] == "not_run" for s in STAGES)
    assert summary["executive"]["key_results"] == []
    assert summary["warnings"] == []
    assert summary["provenance"]["wall_time"] == {}
    assert summary["provenance"]["total_wall_time_s"] is None


def test_stage_warnings_are_collected_in_stage_order() -> None:
    twins = {"summary": {"rhat_max": 1.08}, "provenance": {},
             "warnings": ["diagnostics gate failed (R-hat 1.08 > 1.01) and was allowed"]}
    summary = _summary(twins=twins)
    stages = [w["stage"] for w in summary["warnings"]]
    assert stages == ["cohort", "cohort", "twins"]
    assert summary["warnings"][2]["message"].startswith("diagnostics gate failed")


def test_stage_run_with_another_config_is_warned_about() -> None:
    cfg = config_raw()
    other = copy.deepcopy(cfg)
    other["trial"]["seed"] += 1
    summary = build_summary(cfg, {"cohort": cohort_stage_json(other)}, host=HOST)
    report_warnings = [w["message"] for w in summary["warnings"] if w["stage"] == "report"]
    assert len(report_warnings) == 1
    assert config_hash(other) in report_warnings[0] and config_hash(cfg) in report_warnings[0]


def test_package_version_differences_are_recorded_and_warned() -> None:
    out = cohort_stage_json()
    out["provenance"]["versions"] = {**out["provenance"]["versions"], "numpy": "0.0.1"}
    summary = build_summary(config_raw(), {"cohort": out}, host=HOST)
    diffs = summary["provenance"]["version_differences"]
    assert [(d["stage"], d["package"], d["stage_version"]) for d in diffs] == \
        [("cohort", "numpy", "0.0.1")]
    assert any("numpy" in w["message"] for w in summary["warnings"] if w["stage"] == "report")


def test_provenance_collects_seeds_inputs_and_wall_times() -> None:
    prov = _summary()["provenance"]
    assert prov["root_seed"] == config_raw()["trial"]["seed"]
    assert prov["stages"]["cohort"]["seed"] == 3141592653
    assert prov["inputs"] == [{"stage": "cohort", "path": "cohorts/pbc/pbc.csv",
                               "sha256": "ab" * 32}]
    assert prov["config"] == config_raw()
    assert prov["config_hash"] == config_hash(config_raw())
    wall = prov["wall_time"]["cohort"]
    assert wall["s"] == pytest.approx(12.3456) and wall["hms"] == "0:00:12"
    assert wall["max_rss_mb"] == pytest.approx(812.5)
    assert prov["total_wall_time_s"] == pytest.approx(12.3456)
    assert prov["host"] == HOST
    assert "numpy" in prov["versions"] and "python" in prov["versions"]


def test_contract_violations_are_reported_together() -> None:
    bad = {"cohort": {"warnings": "not a list", "provenance": {}},
           "twinz": {"summary": {}}, "twins": [1, 2]}
    with pytest.raises(ReportError) as err:
        build_summary(config_raw(), bad)
    text = "\n".join(err.value.problems)
    assert "stage_outputs['cohort'].summary" in text
    assert "stage_outputs['cohort'].warnings" in text
    assert "stage_outputs['twinz']: unknown stage" in text
    assert "stage_outputs['twins']: must be the parsed stage JSON" in text
    assert len(err.value.problems) == 4


def test_stage_declared_key_results_with_intervals() -> None:
    analysis = {"summary": {"effect": {"estimate": -0.41, "lo": -0.62, "hi": -0.2}},
                "key_results": [{"label": "Treatment effect on log-bilirubin",
                                 "key": "effect.estimate", "interval": ["effect.lo", "effect.hi"],
                                 "fmt": ".2f"}],
                "warnings": [], "provenance": {}}
    summary = _summary(analysis=analysis)
    results = summary["executive"]["key_results"]
    assert results[0] == {"label": "Treatment effect on log-bilirubin",
                           "key": "analysis.effect.estimate", "fmt": ".2f",
                           "interval": ["analysis.effect.lo", "analysis.effect.hi"],
                           "interval_label": "interval"}
    assert results[1]["key"] == "cohort.n_virtual"  # the trial's answer first, cohort last
    analysis["key_results"][0]["interval"] = ["effect.lo", "effect.upper"]
    with pytest.raises(ReportError, match=r"analysis\.effect\.upper"):
        _summary(analysis=analysis)


def test_non_finite_and_numpy_values_become_strict_json() -> None:
    out = cohort_stage_json()
    out["summary"]["n"] = np.int64(1000)
    out["privacy"]["dcr_synthetic_to_train"]["median"] = float("nan")
    out["summary"]["acceptance_rate"] = np.float32(0.5)
    summary = build_summary(config_raw(), {"cohort": out}, host=HOST)
    assert type(summary["cohort"]["n_virtual"]) is int
    assert "dcr_median" not in summary["cohort"]["privacy"]
    assert summary["cohort"]["acceptance_rate"] == 0.5
    assert all(r["key"] != "cohort.privacy.dcr_median"
               for r in summary["executive"]["key_results"])


# --------------------------------------------------------------------------- benchmarks
def test_benchmark_mean_over_repeats_and_not_sampled_columns() -> None:
    text = ("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
            "2.0\t0:00:02\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n"
            "4.0\t0:00:04\t100.00\t1.00\t1.00\t1.00\t0.00\t0.00\t50.00\t3.00\n")
    rec = parse_benchmark_tsv(text)
    assert rec == {"repeats": 2, "s": 3.0, "max_rss_mb": 100.0, "cpu_time_s": 3.0,
                   "mean_load": 50.0}


def test_benchmark_errors_name_the_file_and_column(tmp_path) -> None:
    with pytest.raises(ReportError, match="no 's' column"):
        parse_benchmark_tsv("a\tb\n1\t2\n", source="x.tsv")
    with pytest.raises(ReportError, match=r"x\.tsv: line 2, column 's'"):
        parse_benchmark_tsv("s\th:m:s\nabc\t0:00:01\n", source="x.tsv")
    with pytest.raises(ReportError, match="not found"):
        read_benchmark(tmp_path / "missing.tsv")
    path = tmp_path / "cohort.tsv"
    path.write_text(BENCHMARK_TSV, encoding="utf-8")
    assert read_benchmark(path)["s"] == pytest.approx(12.3456)
    summary = build_summary(config_raw(), {}, benchmarks={"cohort": path}, host=HOST)
    assert summary["provenance"]["wall_time"]["cohort"]["cpu_time_s"] == pytest.approx(10.89)


# --------------------------------------------------------------------------- keys and numbers
def test_lookup_walks_mappings_lists_and_dotted_names() -> None:
    data = {"cohort": {"covariates": {"ldl.c": {"mean": 3.1}, "ldl": {"mean": 9.0}}},
            "items": [{"x": 1}, {"x": 2}]}
    assert lookup(data, "cohort.covariates.ldl.c.mean") == 3.1
    assert lookup(data, "cohort.covariates.ldl.mean") == 9.0
    assert lookup(data, "items.1.x") == 2
    assert lookup(data, "items.5.x", default=None) is None
    with pytest.raises(KeyError):
        lookup(data, "cohort.nothing")


@pytest.mark.parametrize(("value", "fmt", "text"), [
    (None, "auto", "n/a"), (float("nan"), ".3f", "n/a"), (True, "auto", "pass"),
    (False, "yesno", "no"), (1000, "auto", "1,000"), (1000.0, "int", "1,000"),
    (0.012345, "auto", "0.0123"), (123.456, "auto", "123"), (12345.6, "auto", "12,346"),
    (3.14159, "auto", "3.14"), (0.0, "auto", "0"), (-0.0004, "auto", "-0.000400"),
    (2.5e-7, "auto", "2.50e-07"), (0.42992, "pct", "43.0%"), (0.127, ".3f", "0.127"),
    ("abc", "auto", "abc"), (20261121, "d", "20261121"),
])
def test_format_value(value, fmt, text) -> None:
    assert format_value(value, fmt) == text


def test_auto_format_keeps_three_significant_digits() -> None:
    rng = np.random.default_rng(1)
    for v in rng.lognormal(0, 4, 300) * rng.choice([-1, 1], 300):
        shown = float(format_value(float(v)).replace(",", ""))
        assert math.isclose(shown, v, rel_tol=0.006)


def test_figure_keys() -> None:
    assert figure_key("cohort_marginals.png") == "cohort/marginals"
    assert figure_key("cohort/marginals") == "cohort/marginals"
    assert figure_key("sensitivity_sobol_total.svg") == "sensitivity/sobol_total"
    assert figure_key("overview.png") == "other/overview"


def test_stage_hashes_over_the_sections_it_depends_on() -> None:
    cfg = config_raw()
    out = cohort_stage_json(cfg)
    sections = ["trial", "cohort", "compute"]
    out["provenance"]["sections"] = sections
    out["provenance"]["config_hash"] = config_hash({k: cfg[k] for k in sections})
    cfg_other_section = copy.deepcopy(cfg)
    cfg_other_section["validation"] = {"changed": True}  # not a cohort dependency: no warning
    summary = build_summary(cfg_other_section, {"cohort": out}, host=HOST)
    assert not [w for w in summary["warnings"] if w["stage"] == "report"]
    cfg_other_section["cohort"]["n"] = 5  # a cohort dependency changed: warned
    summary = build_summary(cfg_other_section, {"cohort": out}, host=HOST)
    assert len([w for w in summary["warnings"] if w["stage"] == "report"]) == 1


def test_credibility_comes_from_the_validation_stage() -> None:
    validation = {"summary": {"credibility": {"conclusion": "Adequate for the context of use.",
                                              "adequate": True}},
                  "warnings": [], "provenance": {}}
    cred = _summary(validation=validation)["executive"]["credibility"]
    assert cred == {"assessed": True, "adequate": True,
                    "conclusion": "Adequate for the context of use."}
    validation["summary"] = {"coverage_90": 0.87}
    cred = _summary(validation=validation)["executive"]["credibility"]
    assert cred["assessed"] is False and "recorded no credibility conclusion" in cred["conclusion"]
