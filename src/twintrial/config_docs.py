"""Render the configuration reference (``config/README.md``) from the JSON Schema.

The schema is the single source of truth: every key's description, type and default come from it,
and a test checks that the committed ``config/README.md`` is up to date.
"""

from __future__ import annotations

import json
from typing import Any

from twintrial.config import SECTIONS, _resolve, _schema_resources

HEADER = """# Configuration reference

Generated from the JSON Schema shipped in the package (`src/twintrial/schemas/`) by
`twintrial config-docs -o config/README.md`; do not edit by hand. Validate a file with
`twintrial check CONFIG`: every problem is listed on its own line with its key path.

Paths are relative to the working directory (the project root for `make run`). Units are explicit:
each data column and parameter names its unit, converted once when data are loaded.
"""


def _type_of(node: dict[str, Any]) -> str:
    t = node.get("type")
    if isinstance(t, list):
        return " \\| ".join(t)
    if t:
        return str(t)
    for comb in ("oneOf", "anyOf"):
        if comb in node:
            return " \\| ".join(b["$ref"].split("/")[-1] if "$ref" in b else _type_of(b)
                                for b in node[comb])
    if "enum" in node:
        return "enum"
    if "$ref" in node:
        return node["$ref"].split("/")[-1]
    return "any"


def _fmt_default(node: dict[str, Any]) -> str:
    if "default" not in node:
        return ""
    text = json.dumps(node["default"])
    return f"`{text}`" if len(text) <= 40 else f"`{text[:37]}...`"


def _allowed(node: dict[str, Any]) -> str:
    parts = []
    if "enum" in node:
        parts.append("one of " + ", ".join(f"`{v}`" for v in node["enum"]))
    for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                    ("exclusiveMaximum", "<")):
        if key in node:
            parts.append(f"{op} {node[key]}")
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`")
    return "; ".join(parts)


def _rows(node: dict[str, Any], base: str, path: str, out: list[str], depth: int = 0) -> None:
    node, base = _resolve(node, base)
    if depth > 8:
        return
    required = set(node.get("required", []))
    for key, sub in node.get("properties", {}).items():
        sub_r, sub_base = _resolve(sub, base)
        key_path = f"{path}.{key}" if path else key
        desc = " ".join(str(sub_r.get("description", "")).split())
        req = " **(required)**" if key in required else ""
        out.append(f"| `{key_path}` | {_type_of(sub_r)} | {_fmt_default(sub_r)} | "
                   f"{_allowed(sub_r)} | {desc}{req} |")
        if sub_r.get("type") == "object" or "properties" in sub_r:
            _rows(sub_r, sub_base, key_path, out, depth + 1)
        items = sub_r.get("items")
        if isinstance(items, dict):
            items_r, items_base = _resolve(items, sub_base)
            if "properties" in items_r:
                _rows(items_r, items_base, key_path + "[]", out, depth + 1)
        for comb in ("oneOf", "anyOf"):
            for i, branch in enumerate(sub_r.get(comb, [])):
                br, bb = _resolve(branch, sub_base)
                if "properties" in br:
                    title = br.get("title", f"variant {i + 1}")
                    out.append(f"| `{key_path}` *({title})* | object | | | "
                               f"{' '.join(str(br.get('description', '')).split())} |")
                    _rows(br, bb, key_path, out, depth + 1)


def render_config_docs() -> str:
    """Return the Markdown configuration reference."""
    docs = _schema_resources()
    lines = [HEADER]
    for section in SECTIONS:
        name = f"{section}.schema.yaml"
        node = docs[name]
        lines.append(f"\n## `{section}`\n")
        lines.append(" ".join(str(node.get("description", "")).split()) + "\n")
        rows: list[str] = []
        _rows(node, name, section, rows)
        if rows:
            lines.append("| key | type | default | allowed | description |")
            lines.append("|---|---|---|---|---|")
            lines.extend(rows)
        else:
            lines.append("_No keys yet._")
    return "\n".join(lines) + "\n"
