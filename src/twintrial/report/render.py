"""Render the self-contained HTML report from ``summary.json`` and figure files.

Figures are embedded (PNG as base64 ``data:`` URIs, SVG inline), CSS and a small self-check script
are inline, and a Content-Security-Policy forbids any network fetch, so the file reads the same
offline. Every number goes through :func:`~twintrial.report.keys.format_value` inside a
``data-key`` span pointing at its place in the summary.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup, escape

from twintrial.report.errors import ReportError
from twintrial.report.keys import figure_key, format_value, lookup
from twintrial.report.latex import latex_to_html
from twintrial.report.summary import SECTIONS, STAGES

#: Which section shows a figure whose name starts with this prefix.
FIGURE_SECTION = {"cohort": "cohort", "twins": "twins", "arms": "results", "analysis": "results",
                  "trial": "results", "sensitivity": "sensitivity", "validation": "validation"}

#: Which sections repeat a stage's warnings (they are all shown at the top as well).
WARNING_SECTION = {"cohort": "cohort", "twins": "twins", "arms": "results", "analysis": "results",
                   "sensitivity": "sensitivity", "validation": "validation", "report": "provenance"}

#: Figures shown first in their section, in this order (the others follow by name).
FIGURE_ORDER = ("cohort/marginals", "cohort/correlations")

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: Captions for the figures stages write without one (``figures`` missing from their JSON);
#: ``{rest}`` is the part of the name after the prefix.
DEFAULT_CAPTIONS = (
    ("cohort/marginals", "Marginal distribution of each covariate: virtual cohort (blue) over its "
                         "reference (grey: the real patients the fidelity is measured against, or "
                         "the target distribution of a published summary), as shares of "
                         "patients per bin, long right tails on a log axis; KS distance or "
                         "largest level-share difference in each title."),
    ("cohort/correlations", "Spearman rank correlations of the reference (below the diagonal) "
                            "and the virtual cohort (above), and their difference."),
    ("analysis/forest_", "Subgroup forest plot of estimand {rest}: effect and interval overall and "
                         "in each subgroup (n treated/n control)."),
    ("analysis/power_curve", "Simulated power (with Monte Carlo error bars) against patients per "
                             "arm, by estimand, with and without PROCOVA; crosses mark the type "
                             "I error under a null arm."),
    ("analysis/procova", "PROCOVA: the twins' prognostic score against the observed control "
                         "outcome (correlation rho), and the sample size per arm for the target "
                         "power with and without adjustment."),
    ("analysis/effect_distribution", "Distribution of the individual (counterfactual) treatment "
                                     "effects over the virtual patients, by estimand."),
    ("twins/individual_fits", "Individual fits: observed data with each twin's posterior median "
                              "and band."),
    ("twins/population", "Posterior of the population parameters: median with 90% and 95% "
                         "intervals."),
    ("sensitivity/sobol", "Sobol' first-order (S1) and total (ST) indices per output, with "
                          "bootstrap confidence intervals."),
)


def _embed(path: str | os.PathLike[str], key: str, alt: str) -> Markup:
    p = Path(path)
    if not p.is_file():
        raise ReportError(f"figures['{key}']: file not found; got {str(p)!r}. Check that the "
                          "stage wrote it or drop it from the figure list")
    data = p.read_bytes()
    if p.suffix.lower() == ".svg":
        text = data.decode("utf-8")
        text = re.sub(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>", "", text).strip()
        if not text.startswith("<svg"):
            raise ReportError(f"figures['{key}']: not an SVG document; got {str(p)!r}")
        return Markup(f'<div class="svg" role="img" aria-label="{escape(alt)}">{text}</div>')
    if not data.startswith(_PNG_MAGIC):
        raise ReportError(f"figures['{key}']: only PNG or SVG figures can be embedded; got "
                          f"{str(p)!r}. Save the figure as .png")
    b64 = base64.b64encode(data).decode("ascii")
    return Markup(f'<img src="data:image/png;base64,{b64}" alt="{escape(alt)}">')


def _default_caption(key: str) -> str:
    for prefix, text in DEFAULT_CAPTIONS:
        if key.startswith(prefix):
            return text.format(rest=key[len(prefix):])
    return key.split("/", 1)[1].replace("_", " ").capitalize()


def _figures_by_section(summary: Mapping[str, Any], figures: Mapping[str, Any]
                        ) -> dict[str, list[dict[str, Any]]]:
    captions = summary.get("figures") or {}
    order = {name: i for i, name in enumerate(
        lookup(summary, "metrics.analysis.estimand_order", default=None) or [])}
    forest = "analysis/forest_"

    def position(key: str) -> tuple[int, str, int]:
        # FIGURE_ORDER first, forest plots in the order the estimands are shown, others by name
        norm = figure_key(key)
        if norm in FIGURE_ORDER:
            return FIGURE_ORDER.index(norm), "", -1
        if norm.startswith(forest) and norm[len(forest):] in order:
            return len(FIGURE_ORDER), forest, order[norm[len(forest):]]
        return len(FIGURE_ORDER), norm, -1

    out: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(figures, key=position):
        norm = figure_key(key)
        caption = captions.get(norm) or _default_caption(norm)
        section = FIGURE_SECTION.get(norm.split("/", 1)[0], "results")
        out.setdefault(section, []).append(
            {"key": norm, "caption": caption, "html": _embed(figures[key], key, caption)})
    number = 0
    for section_id, _, _ in SECTIONS:
        for fig in out.get(section_id, []):
            number += 1
            fig["number"] = number
    return out


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("twintrial.report", "templates"),
        autoescape=True, undefined=jinja2.ChainableUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )


def _number_span(summary: Mapping[str, Any]) -> Any:
    def num(key: str, fmt: str = "auto") -> Markup:
        value = lookup(summary, key, default=None)
        text = format_value(value, fmt)
        cls = "num"
        if value is None:
            cls += " na"
        elif isinstance(value, bool):
            cls += " badge " + ("pass" if value else "fail")
        return Markup(f'<span class="{cls}" data-key="{escape(key)}">{escape(text)}</span>')
    return num


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def render_report(summary: Mapping[str, Any], figures: Mapping[str, str | os.PathLike[str]]
                  | None = None) -> str:
    """Render the HTML report.

    Parameters
    ----------
    summary
        The output of :func:`~twintrial.report.build_summary` (or ``summary.json`` read back).
    figures
        Figure name -> PNG or SVG file. Names are ``<stage>/<name>`` or file names
        ``<stage>_<name>.png``; the stage prefix chooses the section.

    Returns
    -------
    str
        One self-contained HTML document.

    Raises
    ------
    ReportError
        If a figure file is missing or not PNG/SVG.
    """
    env = _environment()
    figs = _figures_by_section(summary, figures or {})
    warnings_by_section: dict[str, list[Mapping[str, str]]] = {}
    for w in summary.get("warnings") or []:
        warnings_by_section.setdefault(WARNING_SECTION.get(w.get("stage"), "executive"),
                                       []).append(w)
    env.globals.update(
        num=_number_span(summary),
        val=lambda key: lookup(summary, key, default=None),
        has=lambda key: lookup(summary, key, default=None) is not None,
        to_yaml=_yaml,
        math=latex_to_html,
        figures=figs,
        figure_number=lambda key: next((f["number"] for fs in figs.values() for f in fs
                                        if f["key"] == key), None),
        section_warnings=warnings_by_section,
        sections=SECTIONS,
        stages=STAGES,
        summary=summary,
    )
    return env.get_template("report.html.j2").render()
