"""TEST FIXTURE for the report tests: a fake-but-shaped configuration and cohort stage JSON.

Also the HTML checks shared by the report tests (``parse_html``, ``shown_equals``). Test files
import it as ``_support.report_fixture`` (``tests/conftest.py`` puts ``tests/`` on ``sys.path``).

The numbers imitate the Mayo Clinic PBC trial baseline (312 randomised patients) only to look
realistic; they are not results of the cohort stage. Other report tests import the builders below;
tests/unit/test_report_fixture.py checks that the fixture keeps the shape documented in docs/summary_json.md.
"""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from twintrial.provenance import config_hash, package_versions

FIXTURE_CONFIG: dict[str, Any] = {
    "trial": {"name": "pbc-fixture", "seed": 20261121,
              "description": "Fixture: virtual replication of the Mayo PBC D-penicillamine trial.",
              "question": "Would a 24-month trial of drug X reduce serum bilirubin versus placebo?"},
    "cohort": {"source": "data", "n": 1000, "criteria": ["bili < 25"],
               "covariates": [{"name": "age", "unit": "year", "bounds": [18, 90]},
                              {"name": "bili", "unit": "mg/dL", "bounds": [0, None]},
                              {"name": "albumin", "unit": "g/dL"},
                              {"name": "female", "type": "binary"},
                              {"name": "edema", "type": "categorical"}],
               "fidelity": {"ks": 0.06, "smd": 0.05, "proportion": 0.02, "rank_corr": 0.05}},
    "twins": {}, "arms": {}, "endpoints": {}, "analysis": {}, "sensitivity": {},
    "validation": {}, "report": {},
    "compute": {"dask": {"n_workers": 2, "chunk_size": 8192}, "cache_dir": ".cache/twintrial"},
}


def config_raw() -> dict[str, Any]:
    """A resolved-looking configuration (plain dict) for the fixture trial."""
    return copy.deepcopy(FIXTURE_CONFIG)


def _cont(ks: float, smd: float, mean_r: float, mean_s: float, sd_r: float, sd_s: float,
          lo: float, hi: float, ok: bool) -> dict[str, Any]:
    return {"type": "continuous", "n_missing_real": 0, "ks": ks, "smd": smd,
            "wasserstein_sd": abs(smd) * 1.3, "mean_real": mean_r, "mean_synthetic": mean_s,
            "sd_real": sd_r, "sd_synthetic": sd_s, "min_synthetic": lo, "max_synthetic": hi,
            "pass": ok}


def cohort_stage_json(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """A cohort.json shaped as ``twintrial.pipeline.run_cohort`` writes it (patient-level source)."""
    cfg = config if config is not None else config_raw()
    names = ["age", "bili", "albumin", "female", "edema"]
    per = {
        "age": _cont(0.0412, 0.0281, 50.02, 50.31, 10.58, 10.21, 25.90, 79.02, True),
        "bili": _cont(0.0388, -0.0320, 3.256, 3.118, 4.530, 4.102, 0.31, 24.9, True),
        "albumin": _cont(0.1270, -0.0517, 3.520, 3.498, 0.4199, 0.4312, 2.02, 4.61, False),
        "female": {"type": "binary", "n_missing_real": 0, "levels": [0.0, 1.0],
                   "real": [0.1154, 0.8846], "synthetic": [0.109, 0.891],
                   "max_abs_diff": 0.0064, "pass": True},
        "edema": {"type": "categorical", "n_missing_real": 2,
                  "levels": ["despite diuretics", "none", "untreated or resolved"],
                  "real": [0.0641, 0.8429, 0.0929], "synthetic": [0.062, 0.851, 0.087],
                  "max_abs_diff": 0.0081, "pass": True},
    }
    return {
        "summary": {"n": 1000, "source": "data", "summary_id": None, "n_covariates": 5,
                    "n_real": 312, "n_reference": 134,
                    "acceptance_rate": 0.42992, "n_candidates": 2326, "fidelity_pass": False,
                    "rank_corr_error": 0.0433, "exact_copies": 0},
        "warnings": ["cohort: inclusion/exclusion criteria applied (acceptance rate 0.430); "
                     "fidelity is measured against the unrestricted source",
                     "albumin: KS distance 0.127 exceeds the threshold 0.06 (FidelityWarning)"],
        "marginals": {n: {"type": per[n]["type"], "family": "empirical"} for n in names},
        "latent_correlation": {"names": names, "matrix": [[1.0 if i == j else 0.1 for j in
                                                            range(5)] for i in range(5)]},
        "fidelity": {"covariates": per, "pass": False,
                     "rank_correlation": {"max_abs_error": 0.0433, "worst_pair": ["bili",
                                                                                  "albumin"],
                                          "names": names, "threshold": 0.05, "pass": True}},
        "privacy": {"exact_copies": 0, "n_synthetic_compared": 1000, "n_train": 156,
                    "n_holdout": 156,
                    "dcr_synthetic_to_train": {"median": 0.412, "p05": 0.118},
                    "dcr_holdout_to_train": {"median": 0.455, "p05": 0.121},
                    "share_synthetic_closer_than_holdout_p05": 0.046,
                    "note": "DCR on covariates standardised by the real mean/SD."},
        "acceptance": {"n_candidates": 2326, "n_passing": 1000, "n_kept": 1000,
                       "rate": 0.42992, "block_size": 1024},
        "missing": {"age": 0, "bili": 0, "albumin": 0, "female": 0, "edema": 2},
        "missing_policy": "marginals fitted on observed values; virtual patients are complete",
        "seed": 3141592653,
        "figures": {"cohort_marginals.png": "Real (grey) and virtual (blue) marginal densities.",
                    "cohort_correlation.svg": "Rank correlations, real vs virtual."},
        "limitations": ["Virtual patients are drawn within the observed covariate ranges only."],
        "provenance": {
            "stage": "cohort", "trial": cfg["trial"]["name"], "config_hash": config_hash(cfg),
            "root_seed": cfg["trial"]["seed"], "seed": 3141592653,
            "inputs": {"cohorts/pbc/pbc.csv": "ab" * 32},
            "versions": package_versions(), "git_commit": None,
        },
    }


# --------------------------------------------------------------------------- HTML checks
MISSING = object()


class _Spans(HTMLParser):
    """Collect data-key spans, and text with digits in value cells (td.r) outside any span."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.spans: list[tuple[str, str]] = []
        self.loose_digits: list[str] = []
        self.section_ids: list[str] = []
        self._stack: list[tuple[str, str | None]] = []  # (tag, data-key) of open span/td
        self._in_value_cell = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and "report-section" in (a.get("class") or ""):
            self.section_ids.append(a.get("id"))
        if tag == "td" and "r" in (a.get("class") or "").split():
            self._in_value_cell += 1
            self._stack.append(("td", None))
        elif tag == "td":
            self._stack.append(("td-plain", None))
        elif tag == "span":
            self._stack.append(("span", a.get("data-key")))
            if a.get("data-key") is not None:
                self.spans.append((a["data-key"], ""))

    def handle_endtag(self, tag):
        if tag in ("td", "span") and self._stack:
            kind, _ = self._stack.pop()
            if kind == "td":
                self._in_value_cell -= 1

    def handle_data(self, data):
        keyed = [k for kind, k in self._stack if kind == "span" and k is not None]
        if keyed:
            key, text = self.spans[-1]
            self.spans[-1] = (key, text + data)
        elif self._in_value_cell and re.search(r"\d", data):
            self.loose_digits.append(data.strip())


def parse_html(html: str) -> _Spans:
    p = _Spans()
    p.feed(html)
    return p


def shown_equals(text: str, value) -> bool:
    """Does ``text`` (as displayed) represent ``value`` to the precision displayed?"""
    if value is None or value is MISSING or text == "n/a":
        return text == "n/a" and (value is None or value is MISSING)
    if isinstance(value, bool):
        return {"pass": True, "fail": False, "yes": True, "no": False}.get(text) is value
    if isinstance(value, str):
        return text == value
    body = text.replace(",", "")
    scale = 1.0
    if body.endswith("%"):
        body, scale = body[:-1], 0.01
    mantissa, _, exponent = body.partition("e")
    decimals = len(mantissa.partition(".")[2])
    ulp = 10.0 ** (-decimals) * (10.0 ** int(exponent) if exponent else 1.0) * scale
    return abs(float(body) * scale - value) <= 0.5 * ulp * (1 + 1e-9) + 1e-12



BENCHMARK_TSV = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    "12.3456\t0:00:12\t812.50\t1520.11\t790.00\t795.20\t0.12\t3.40\t88.20\t10.89\n"
)


REAL_OUTPUTS = Path(__file__).resolve().parents[1] / "data" / "report"


def stage_jsons() -> dict[str, dict[str, Any]]:
    """Trimmed real outputs of the PBC trial (tests/data/report/README.md), fresh copies."""
    return {stage: json.loads((REAL_OUTPUTS / f"{name}.json").read_text()) for stage, name in
            (("twins", "twins"), ("analysis", "trial"), ("sensitivity", "sensitivity"),
             ("validation", "validation"))}
