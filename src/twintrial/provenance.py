"""Provenance stamps: config hash, input hashes, package versions, git commit, seeds.

Every output carries ``provenance_block(...)``. Stamps contain no timestamps or host names, so
that the same config and seed give byte-identical outputs; wall times and the host are recorded
separately (Snakemake ``benchmark:`` files and the report's run record).
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = (
    "twintrial", "numpy", "scipy", "pandas", "pyarrow", "pymc", "pytensor", "arviz", "nutpie",
    "SALib", "dask", "distributed", "xarray", "snakemake", "jsonschema", "matplotlib", "jinja2",
)


def canonical_json(data: Any) -> str:
    """Deterministic JSON text used for hashing (sorted keys, no whitespace)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex, first 16 chars) of the resolved configuration."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes (directories: of their sorted files)."""
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode())
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()


def input_hashes(paths: Iterable[str | Path]) -> dict[str, str]:
    """Map each input path (as given) to its SHA-256."""
    return {str(p): file_sha256(p) for p in paths}


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Versions of the packages that can change results."""
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


@lru_cache(maxsize=1)
def git_commit(cwd: str | None = None) -> str | None:
    """The current git commit of the project (``None`` outside a checkout), '+dirty' if modified."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=cwd, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=cwd, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance_block(config: Mapping[str, Any], *, stage: str, seed: int | None = None,
                     inputs: Iterable[str | Path] = (), extra: Mapping[str, Any] | None = None,
                     ) -> dict[str, Any]:
    """Build the provenance block stamped into every output of ``stage``.

    Parameters
    ----------
    config
        The resolved configuration (after defaults).
    stage
        Stage name (``cohort``, ``twins``, ...).
    seed
        The seed this stage's random streams derive from.
    inputs
        Input files; each is hashed with SHA-256.
    extra
        Stage-specific facts (e.g. the upstream outputs' config hashes).
    """
    block: dict[str, Any] = {
        "stage": stage,
        "trial": config.get("trial", {}).get("name"),
        "config_hash": config_hash(config),
        "root_seed": config.get("trial", {}).get("seed"),
        "seed": seed,
        "inputs": input_hashes(inputs),
        "versions": package_versions(),
        "git_commit": git_commit(),
    }
    if extra:
        block.update(extra)
    return block
