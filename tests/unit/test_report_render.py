"""render_report: numbers shown equal summary.json, sections, placeholders, embedding, escaping."""

from __future__ import annotations

import base64
import json
import re

import matplotlib

matplotlib.use("Agg")
import _support.report_fixture as fx  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from twintrial.io import dumps_json  # noqa: E402
from twintrial.report import (  # noqa: E402
    SECTIONS,
    ReportError,
    build_summary,
    lookup,
    parse_benchmark_tsv,
    render_report,
)

config_raw, cohort_stage_json, BENCHMARK_TSV = fx.config_raw, fx.cohort_stage_json, fx.BENCHMARK_TSV
_parse, shown_equals, _MISSING = fx.parse_html, fx.shown_equals, fx.MISSING

def _figures(tmp_path):
    fig, ax = plt.subplots(figsize=(4, 2.5), dpi=60)
    ax.plot([0, 1, 2], [0, 1, 4])
    png = tmp_path / "cohort_marginals.png"
    fig.savefig(png)
    svg = tmp_path / "cohort_correlation.svg"
    fig.savefig(svg)
    plt.close(fig)
    return {"cohort_marginals.png": png, "cohort/correlation": svg}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    cfg = config_raw()
    summary = build_summary(cfg, {"cohort": cohort_stage_json(cfg)},
                            benchmarks={"cohort": parse_benchmark_tsv(BENCHMARK_TSV)},
                            host={"hostname": "test-host", "cpus": 2})
    figs = _figures(tmp)
    return summary, figs, render_report(summary, figs)


def test_every_displayed_number_equals_summary_json(rendered) -> None:
    summary, _, html = rendered
    on_disk = json.loads(dumps_json(summary))  # what summary.json holds
    spans = _parse(html).spans
    assert len(spans) > 100
    wrong = [(k, t, lookup(on_disk, k, default=_MISSING)) for k, t in spans
             if not shown_equals(t, lookup(on_disk, k, default=_MISSING))]
    assert wrong == []
    keys = {k for k, _ in spans}
    for covariate in ("age", "bili", "albumin", "female", "edema"):
        assert any(k.startswith(f"cohort.covariates.{covariate}.virtual.") for k in keys)
    assert {"cohort.privacy.dcr_median", "cohort.covariates.albumin.fidelity.ks",
            "provenance.wall_time.cohort.s", "cohort.covariates.edema.real.proportions.none",
            "provenance.stages.cohort.seed", "cohort.n_real", "cohort.n_reference",
            "cohort.n_passing", "cohort.draw_block"} <= keys


def test_cohort_facts_say_how_many_real_patients_and_candidates(rendered) -> None:
    text = re.sub(r"<[^>]+>", "", rendered[2])
    assert "Real patients312; 134 meet the criteria (the reference of the fidelity measures)" in text
    assert ("Candidates drawn2,326: 1,000 meet the criteria, the first 1,000 in draw order are "
            "kept (drawn in whole blocks of 1,024)") in text


def test_value_cells_hold_no_number_outside_a_keyed_span(rendered) -> None:
    assert _parse(rendered[2]).loose_digits == []


def test_rendering_from_summary_json_gives_the_same_html(rendered) -> None:
    summary, figs, html = rendered
    assert render_report(json.loads(dumps_json(summary)), figs) == html


def test_all_sections_in_order_and_warnings_before_them(rendered) -> None:
    html = rendered[2]
    assert _parse(html).section_ids == [s[0] for s in SECTIONS]
    top = html.index('id="warnings"')
    assert top < html.index('id="executive"')
    assert "2 warnings to read before the results" in html
    albumin = "albumin: KS distance 0.127 exceeds the threshold 0.06"
    assert html.count(albumin) == 2  # at the top and again in the cohort section
    assert html.index(albumin) < html.index('id="executive"')


def test_stages_not_run_say_so_in_their_sections(rendered) -> None:
    html = rendered[2]
    for section in ("twins", "results", "sensitivity", "validation", "credibility", "design"):
        body = html[html.index(f'id="{section}"'):]
        body = body[:body.index("</section>")]
        assert "Not run in this configuration." in body, section
    cohort = html[html.index('id="cohort"'):]
    assert "Not run in this configuration." not in cohort[:cohort.index("</section>")]


def test_report_is_self_contained(rendered) -> None:
    _, figs, html = rendered
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html)
    assert "default-src 'none'" in html
    b64 = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(b64) == figs["cohort_marginals.png"].read_bytes()
    assert html.count("<svg") == 1 and "<?xml" not in html
    assert "Real (grey) and virtual (blue) marginal densities." in html
    assert "Figure 1." in html and "Figure 2." in html


def test_print_css_breaks_pages_between_sections(rendered) -> None:
    css = rendered[2]
    assert "@media print" in css and "break-before: page" in css


def test_provenance_shows_config_as_run_and_hashes(rendered) -> None:
    summary, _, html = rendered
    prov = html[html.index('id="provenance"'):]
    assert "<details>" in prov and "seed: 20261121" in prov
    assert "ab" * 32 in prov and "cohorts/pbc/pbc.csv" in prov
    assert summary["provenance"]["config_hash"] in prov


def test_nothing_run_renders_every_placeholder() -> None:
    html = render_report(build_summary(config_raw(), {}, host={"hostname": "h"}), {})
    assert _parse(html).section_ids == [s[0] for s in SECTIONS]
    assert html.count("Not run in this configuration.") >= 8
    assert "No warnings" in html


def test_a_run_stage_without_a_layout_lists_its_numbers() -> None:
    twins = {"summary": {"diagnostics": {"rhat_max": 1.004, "ess_bulk_min": 812.0,
                                         "divergences": 0, "pass": True}},
             "warnings": [], "provenance": {}}
    summary = build_summary(config_raw(), {"twins": twins}, host={"hostname": "h"})
    html = render_report(summary, {})
    body = html[html.index('id="twins"'):]
    body = body[:body.index("</section>")]
    spans = dict(_parse(body).spans)
    assert spans == {"twins.diagnostics.rhat_max": "1.00", "twins.diagnostics.ess_bulk_min": "812",
                     "twins.diagnostics.divergences": "0", "twins.diagnostics.pass": "pass"}


def test_text_from_stages_is_escaped() -> None:
    out = cohort_stage_json()
    out["warnings"] = ["<script>alert(1)</script> & more"]
    html = render_report(build_summary(config_raw(), {"cohort": out}, host={}), {})
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html


def test_bad_figures_are_user_errors(tmp_path) -> None:
    summary = build_summary(config_raw(), {}, host={})
    with pytest.raises(ReportError, match=r"figures\['cohort/x'\]: file not found"):
        render_report(summary, {"cohort/x": tmp_path / "nope.png"})
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(b"\xff\xd8\xff\xe0 not a png")
    with pytest.raises(ReportError, match="only PNG or SVG"):
        render_report(summary, {"cohort/a": jpg})


def test_key_results_with_intervals_and_the_credibility_table() -> None:
    analysis = {"summary": {"effect": {"estimate": -0.412, "lo": -0.618, "hi": -0.203}},
                "key_results": [{"label": "Effect on log-bilirubin at 24 months",
                                 "key": "effect.estimate", "interval": ["effect.lo", "effect.hi"],
                                 "interval_label": "95% credible interval", "fmt": ".2f"}],
                "warnings": [], "provenance": {}}
    validation = {"summary": {"credibility": {
        "conclusion": "Adequate for the context of use.", "adequate": True,
        "factors": [{"name": "Output comparison", "evidence": "90% PI coverage 0.89",
                     "adequate": True},
                    {"name": "Applicability", "evidence": "covariates within range",
                     "adequate": False}]}},
        "warnings": [], "provenance": {}}
    summary = build_summary(config_raw(), {"analysis": analysis, "validation": validation},
                            host={})
    html = render_report(summary, {})
    pairs = _parse(html).spans  # key results (.2f) and the results section (auto)
    assert {("analysis.effect.estimate", "-0.41"), ("analysis.effect.lo", "-0.62"),
            ("analysis.effect.hi", "-0.20"), ("analysis.effect.estimate", "-0.412")} <= set(pairs)
    spans = dict(pairs)
    assert "95% credible interval" in html
    assert spans["validation.credibility.factors.0.adequate"] == "pass"
    assert spans["validation.credibility.factors.1.adequate"] == "fail"
    cred = html[html.index('id="credibility"'):]
    assert "Not run in this configuration." not in cred[:cred.index("</section>")]
    assert "Adequate for the context of use." in html


def test_figures_are_numbered_marginals_first_and_forest_plots_in_estimand_order(tmp_path) -> None:
    from twintrial.report.render import _figures_by_section

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    figs = {}
    for name in ("analysis_forest_a_hyp", "analysis_forest_b_tp", "analysis_power_curve",
                 "analysis_effect_distribution", "cohort_correlations", "cohort_marginals"):
        (tmp_path / f"{name}.png").write_bytes(png)
        figs[f"{name}.png"] = tmp_path / f"{name}.png"
    summary = {"metrics": {"analysis": {"estimand_order": ["b_tp", "a_hyp"]}}}
    sections = _figures_by_section(summary, figs)
    numbered = {f["key"]: f["number"] for fs in sections.values() for f in fs}
    assert numbered == {"cohort/marginals": 1, "cohort/correlations": 2,
                        "analysis/effect_distribution": 3, "analysis/forest_b_tp": 4,
                        "analysis/forest_a_hyp": 5, "analysis/power_curve": 6}
