"""Dotted keys into ``summary.json`` and the one way numbers are written in the report.

Every number in the HTML is rendered by :func:`format_value` inside
``<span data-key="cohort.covariates.bili.real.mean">1.23</span>``, so a test (or a reviewer) can
check each displayed number against ``summary.json`` with :func:`lookup`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

_MISSING = object()

#: Text shown for an absent or null value.
NA_TEXT = "n/a"


def lookup(data: Any, key: str, *, default: Any = _MISSING) -> Any:
    """Value at dotted ``key`` in ``data`` (mappings by name, lists by integer index).

    Names that themselves contain dots (a covariate ``ldl.c``) are matched greedily: at each level
    the longest run of segments that is a key of the mapping wins.

    Raises
    ------
    KeyError
        If the key is absent and no ``default`` is given.
    """
    parts = key.split(".")
    node = data
    i = 0
    while i < len(parts):
        if isinstance(node, Mapping):
            for j in range(len(parts), i, -1):
                name = ".".join(parts[i:j])
                if name in node:
                    node, i = node[name], j
                    break
            else:
                node = _MISSING
        elif isinstance(node, Sequence) and not isinstance(node, str) and parts[i].isdigit() \
                and int(parts[i]) < len(node):
            node, i = node[int(parts[i])], i + 1
        else:
            node = _MISSING
        if node is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
    return node


#: Figure name prefixes that are stage names (anything else is filed under ``other``).
FIGURE_STAGES = ("cohort", "twins", "arms", "analysis", "trial", "sensitivity", "validation")


def figure_key(name: str) -> str:
    """Canonical figure key: ``'cohort_marginals.png'`` or ``'cohort/marginals'`` ->
    ``'cohort/marginals'``; names without a stage prefix become ``'other/<name>'``."""
    stem = name[:-4] if name.lower().endswith((".png", ".svg")) else name
    prefix, sep, rest = stem.partition("/")
    if not sep:
        prefix, _, rest = stem.partition("_")
    if prefix not in FIGURE_STAGES or not rest:
        prefix, rest = "other", stem.replace("/", "_")
    return f"{prefix}/{rest}"


def _auto(value: float) -> str:
    """Three significant digits, thousands separators, no exponent between 1e-4 and 1e9."""
    if value == 0:
        return "0"
    mag = math.floor(math.log10(abs(value)))
    if mag < -4 or mag >= 9:
        return f"{value:.2e}"
    decimals = min(max(0, 2 - mag), 6)
    text = f"{value:,.{decimals}f}"
    return "0" if text in ("-0", "-0.0") else text


def format_value(value: Any, fmt: str = "auto") -> str:
    """Text for one summary value.

    Parameters
    ----------
    value
        A number, bool, string or ``None``.
    fmt
        ``auto`` (3 significant digits; integers in full), ``int``, ``pct`` (fraction shown as a
        percentage with one decimal), ``passfail`` / ``yesno`` (booleans), or a Python format
        spec such as ``.2f``.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NA_TEXT
    if isinstance(value, bool):
        return ("yes" if value else "no") if fmt == "yesno" else ("pass" if value else "fail")
    if isinstance(value, str):
        return value
    if fmt == "pct":
        return f"{100 * value:.1f}%"
    if fmt == "int" or (fmt == "auto" and isinstance(value, int)):
        return f"{round(value):,d}"
    if fmt == "auto":
        return _auto(float(value))
    return format(value, fmt)
