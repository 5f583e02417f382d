"""The report stage: ``summary.json`` (every number) and a self-contained HTML report.

>>> summary = build_summary(config.raw, {"cohort": read_json("results/t/cohort.json")})
>>> html = render_report(summary, {"cohort/marginals": "results/t/figures/cohort_marginals.png"})
"""

from twintrial.report.benchmarks import parse_benchmark_tsv, read_benchmark
from twintrial.report.errors import ReportError
from twintrial.report.keys import format_value, lookup
from twintrial.report.render import render_report
from twintrial.report.summary import SECTIONS, STAGES, build_summary

__all__ = ["SECTIONS", "STAGES", "ReportError", "build_summary", "format_value", "lookup",
           "parse_benchmark_tsv", "read_benchmark", "render_report"]
