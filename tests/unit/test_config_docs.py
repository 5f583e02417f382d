"""config/README.md is generated from the schema and must be up to date; every key is described."""

from __future__ import annotations

from pathlib import Path

from twintrial.config import _resolve, _schema_resources
from twintrial.config_docs import render_config_docs

ROOT = Path(__file__).resolve().parents[2]


def test_config_readme_is_up_to_date() -> None:
    committed = (ROOT / "config" / "README.md").read_text()
    assert committed == render_config_docs(), (
        "config/README.md is stale: run `twintrial config-docs -o config/README.md`")


def _walk(node: dict, base: str, path: str, out: list[str]) -> None:
    node, base = _resolve(node, base)
    for key, sub in node.get("properties", {}).items():
        sub_r, sub_base = _resolve(sub, base)
        if "description" not in sub and "description" not in sub_r:
            out.append(f"{path}.{key}")
        _walk(sub_r, sub_base, f"{path}.{key}", out)
    items = node.get("items")
    if isinstance(items, dict):
        _walk(items, base, path + "[]", out)


def test_every_key_has_a_description() -> None:
    missing: list[str] = []
    for name, doc in _schema_resources().items():
        _walk(doc, name, name.split(".")[0], missing)
    assert not missing, missing
