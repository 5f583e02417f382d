"""Report sections of the twins, analysis, sensitivity and validation stages, on real stage JSONs.

``tests/data/report/*.json`` are trimmed copies of the default PBC trial's outputs (see the README
there). Every number shown must equal ``summary.json``; numbers the summary copies must occur in
the stage JSON; a stage JSON without the expected blocks still renders and says what is missing.
"""

from __future__ import annotations

import copy
import json

import _support.report_fixture as fx  # noqa: E402
import pytest

from twintrial.io import dumps_json
from twintrial.report import build_summary, lookup, render_report
from twintrial.report.latex import latex_to_html


def config() -> dict:
    cfg = fx.config_raw()
    cfg["twins"] = {"gate": {"rhat_max": 1.01, "ess_bulk_min": 400, "ess_tail_min": 400,
                             "max_divergences": 0}}
    cfg["analysis"] = {"estimands": [{"name": n} for n in
                                     ("bili_tp", "bili_hyp", "resp_comp", "event_tp")]}
    cfg["endpoints"] = [{"name": "dlogbili_2y", "label": "Change in log bilirubin at 2 years"},
                        {"name": "death_or_tx_5y", "label": "Death or transplant by 5 years"}]
    return cfg


def _section(html: str, section_id: str) -> str:
    body = html[html.index(f'<section id="{section_id}"'):]
    return body[:body.index("</section>")]


@pytest.fixture(scope="module")
def rendered():
    cfg = config()
    summary = build_summary(cfg, {"cohort": fx.cohort_stage_json(cfg), **fx.stage_jsons()},
                            host={"hostname": "test-host"})
    return summary, render_report(summary, {})


def test_every_number_in_every_section_equals_summary_json(rendered) -> None:
    summary, html = rendered
    on_disk = json.loads(dumps_json(summary))
    parsed = fx.parse_html(html)
    wrong = [(k, t, lookup(on_disk, k, default=fx.MISSING)) for k, t in parsed.spans
             if not fx.shown_equals(t, lookup(on_disk, k, default=fx.MISSING))]
    assert wrong == []
    assert parsed.loose_digits == []
    keys = {k for k, _ in parsed.spans}
    assert {"twins.parameter_table.0.median", "twins.parameter_table.0.prior.sigma",
            "twins.checks.rhat", "twins.gate.rhat_max", "twins.diagnostics.worst.0.rhat",
            "analysis.estimands.bili_tp.power.3.power",
            "analysis.estimands.bili_tp.procova.sample_size.saved_percent",
            "analysis.estimands.event_tp.effect.hazard_ratio",
            "analysis.estimands.bili_tp.type1_error.by_n.0.ok",
            "analysis.estimands.bili_tp.subgroups.1.p_interaction",
            "sensitivity.indices.power.effect.ST", "sensitivity.drivers.power",
            "sensitivity.convergence.power.converged",
            "validation.predictive.locf.crps", "validation.survival.t4.km_lower",
            "validation.trial_replication.hr.inside", "validation.vpc.outside_fraction",
            "validation.credibility.factors.0.target",
            "validation.verification.checks.reference.value",
            "validation.verification.checks.hazard_quadrature.passed"} <= keys
    assert len(parsed.spans) > 800


def test_dedicated_layouts_replace_the_generic_table(rendered) -> None:
    html = rendered[1]
    for section in ("twins", "results", "sensitivity", "validation", "credibility", "design"):
        body = _section(html, section)
        assert "layout is not written yet" not in body, section
        assert "Not run in this configuration." not in body, section
        assert 'class="missing"' not in body, section
    twins = _section(html, "twins")
    assert "Rizopoulos (2012)" in twins and "<sub>0i</sub>" in twins  # equations as HTML
    assert "HalfNormal(σ = " in twins
    results = _section(html, "results")
    assert results.index('id="estimand-bili_tp"') < results.index('id="estimand-event_tp"')
    assert "Change in log bilirubin at 2 years" in results


def test_executive_key_results_carry_effects_power_and_procova(rendered) -> None:
    summary, html = rendered
    results = summary["executive"]["key_results"]
    first = results[0]  # the configured primary estimand comes first
    assert first["key"] == "analysis.estimands.bili_tp.effect.estimate"
    assert first["interval"] == ["analysis.estimands.bili_tp.effect.ci_low",
                                 "analysis.estimands.bili_tp.effect.ci_high"]
    keys = [r["key"] for r in results]
    assert "analysis.estimands.bili_tp.power.3.power" in keys  # the largest n of 4
    assert "analysis.estimands.bili_hyp.procova.sample_size.saved_percent" in keys
    assert "analysis.estimands.event_tp.effect.hazard_ratio" in keys
    for r in results:  # every key (and interval, detail) resolves in summary.json
        for k in [r["key"], *r.get("interval", []), *[d["key"] for d in r.get("details", [])]]:
            assert lookup(summary, k, default=None) is not None, k
    spans = dict(fx.parse_html(_section(html, "executive")).spans)
    assert spans["analysis.estimands.bili_tp.power.3.n_per_arm"] == "400"
    assert spans["analysis.estimands.bili_tp.effect.ci_prob"] == "95%"


def test_summary_copies_stage_numbers_and_never_invents_them() -> None:
    outs = fx.stage_jsons()
    summary = build_summary(config(), outs, host={})
    twins = outs["twins"]
    for row in summary["twins"]["parameter_table"]:
        post = twins["population"][row["name"]]
        assert all(row[k] == post[k] for k in ("median", "lower90", "upper95"))
    params = {p["name"]: p for p in twins["model_description"]["parameters"]}
    rows = {r["name"]: r for r in summary["twins"]["parameter_table"]}
    assert rows["typical_slope"]["prior"] == params["slope"]["prior"]
    assert rows["omega_intercept"]["prior"] == params["intercept"]["iiv"]
    assert rows["corr_intercept_slope"]["prior"] is None
    assert rows["typical_slope"]["prior_scale"] == ""  # identity: prior on the shown scale
    outs["twins"]["model_description"]["parameters"][1]["transform"] = "log"
    logged = build_summary(config(), outs, host={})["twins"]["parameter_table"]
    assert {r["name"]: r["prior_scale"] for r in logged}["typical_slope"] == "log"
    assert summary["twins"]["model_description"]["equations"] == \
        twins["model_description"]["equations"]
    assert summary["sensitivity"]["indices"]["power"]["effect"]["ST"] == \
        outs["sensitivity"]["indices"]["power"]["inputs"]["effect"]["ST"]
    order = summary["sensitivity"]["input_order"]["power"]
    sts = [summary["sensitivity"]["indices"]["power"][n]["ST"] for n in order]
    assert sts == sorted(sts, reverse=True)
    factor = next(f for f in summary["validation"]["credibility"]["factors"]
                  if f["id"] == "calculation_verification")
    assert factor["artifacts"] == [{"artifact": "results/pbc_dpen/twins.json",
                                    "sha256": "39ea915e76b4", "n_items": 2, "n_failed": 0}]
    assert factor["target_label"] == "medium" and factor["achieved_label"] == "high"
    assert summary["validation"]["survival_order"] == ["t4", "t6", "t8"]


def test_a_failing_gate_check_shows_a_fail_badge() -> None:
    outs = fx.stage_jsons()
    outs["twins"]["summary"]["max_rhat"] = 1.05
    outs["twins"]["summary"]["divergences"] = 3
    summary = build_summary(config(), outs, host={})
    assert summary["twins"]["checks"] == {"rhat": False, "ess_bulk": True, "ess_tail": True,
                                          "divergences": False}
    spans = dict(fx.parse_html(_section(render_report(summary, {}), "twins")).spans)
    assert spans["twins.checks.rhat"] == "fail" and spans["twins.checks.divergences"] == "fail"
    assert spans["twins.max_rhat"] == "1.0500"


@pytest.mark.parametrize(("stage", "section", "missing"), [
    ("twins", "twins", "model_description"),
    ("analysis", "results", "summary.estimands"),
    ("sensitivity", "sensitivity", "indices"),
    ("validation", "validation", "trial_replication"),
])
def test_a_stage_json_of_unknown_shape_still_renders(stage, section, missing) -> None:
    out = {"summary": {"odd_number": 1.5, "nested": {"flag": True}}, "warnings": [],
           "provenance": {}}
    summary = build_summary(config(), {stage: out}, host={})
    html = render_report(summary, {})
    body = _section(html, section)
    assert 'class="missing"' in body and missing in body
    spans = dict(fx.parse_html(body).spans)
    assert spans[f"{stage}.odd_number"] == "1.50" and spans[f"{stage}.nested.flag"] == "pass"


def test_partial_blocks_say_what_is_missing() -> None:
    outs = fx.stage_jsons()
    del outs["twins"]["model_description"]
    del outs["validation"]["summary"]["survival"]
    cred = copy.deepcopy(outs["validation"]["summary"]["credibility"])
    summary = build_summary(config(), outs, host={})
    html = render_report(summary, {})
    twins = _section(html, "twins")
    assert "model_description.equations" in twins and "Posterior parameter table" not in twins
    assert "summary.survival" in _section(html, "validation")
    assert len(summary["validation"]["credibility"]["factors"]) == len(cred["factors"])


def test_latex_subset_becomes_escaped_html() -> None:
    assert str(latex_to_html(r"y_{ij} \sim N(\mu, \sigma)")) == "y<sub>ij</sub> ~ N(μ, σ)"
    assert str(latex_to_html(r"\gamma^\top f(w_i)")) == "γᵀ f(w<sub>i</sub>)"
    assert str(latex_to_html(r"e^{\alpha x}")) == "e<sup>α x</sup>"
    assert str(latex_to_html(r"<b>\frac{a}{b}</b>")) == "&lt;b&gt;(a)/(b)&lt;/b&gt;"
    assert str(latex_to_html(r"\unknown_1")) == r"\unknown<sub>1</sub>"
