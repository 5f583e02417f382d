"""Wall times and memory per stage from Snakemake ``benchmark:`` files.

Snakemake writes one TSV per job (``results/<trial>/benchmarks/<stage>.tsv``) with a header
``s  h:m:s  max_rss  max_vms  max_uss  max_pss  io_in  io_out  mean_load  cpu_time`` (memory in MB,
``NA`` or ``-`` when not sampled) and one row per repeat. Parsing is pure (text in, dict out);
:func:`read_benchmark` is the thin file-reading edge used by the pipeline layer.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from twintrial.report.errors import ReportError

#: Columns copied into the summary (Snakemake name -> summary key).
_COLUMNS = {"s": "s", "max_rss": "max_rss_mb", "cpu_time": "cpu_time_s", "mean_load": "mean_load"}


def _number(text: str) -> float | None:
    text = text.strip()
    if text in ("", "NA", "-", "nan", "NaN", "None"):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def parse_benchmark_tsv(text: str, *, source: str = "<benchmark>") -> dict[str, Any]:
    """Parse the text of one Snakemake benchmark TSV.

    Parameters
    ----------
    text
        File contents: a header line and one row per benchmark repeat.
    source
        Name used in error messages (usually the file path).

    Returns
    -------
    dict
        ``{"s", "max_rss_mb", "cpu_time_s", "mean_load", "repeats"}``: the mean over repeats of
        each column (``None`` where Snakemake did not sample it), and the number of repeats.

    Raises
    ------
    ReportError
        If the header lacks the ``s`` column or a value is not a number.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ReportError(f"{source}: benchmark file is empty; re-run the stage with "
                          "Snakemake's benchmark: directive or drop the file")
    header = lines[0].split("\t")
    if "s" not in header:
        raise ReportError(f"{source}: not a Snakemake benchmark TSV (no 's' column); got header "
                          f"{header[:4]!r}. Pass the file written by the rule's benchmark:")
    rows = [ln.split("\t") for ln in lines[1:]]
    if not rows:
        raise ReportError(f"{source}: benchmark file has a header but no rows; re-run the stage")
    out: dict[str, Any] = {"repeats": len(rows)}
    for column, key in _COLUMNS.items():
        if column not in header:
            out[key] = None
            continue
        j = header.index(column)
        values = []
        for i, row in enumerate(rows, start=2):
            try:
                v = _number(row[j]) if j < len(row) else None
            except ValueError:
                raise ReportError(f"{source}: line {i}, column '{column}': not a number; got "
                                  f"{row[j]!r}. Regenerate the benchmark file") from None
            if v is not None:
                values.append(v)
        out[key] = sum(values) / len(values) if values else None
    return out


def read_benchmark(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and parse one benchmark TSV (see :func:`parse_benchmark_tsv`)."""
    p = Path(path)
    if not p.is_file():
        raise ReportError(f"{p}: benchmark file not found; check the rule's benchmark: path")
    return parse_benchmark_tsv(p.read_text(encoding="utf-8"), source=str(p))


def format_hms(seconds: float | None) -> str:
    """``3725.4`` -> ``'1:02:05'`` (``'n/a'`` for ``None``)."""
    if seconds is None:
        return "n/a"
    total = int(round(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
