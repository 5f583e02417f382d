"""The `twintrial` command: user errors are one line each, exit 2, no traceback, nothing written."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from twintrial.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _set(cfg: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(cfg)
    node: Any = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    last = parts[-1]
    if value is _DELETE:
        del node[int(last) if last.isdigit() else last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return out


_DELETE = object()

# (mutation path, new value, expected fragment of the error line)
BAD_CONFIGS = [
    ("trial.seed", -3, "trial.seed: must be >= 0; got -3"),
    ("trial.name", "my trial", "trial.name: must match"),
    ("trial.sede", 1, "trial.sede: unknown key (did you mean 'seed'?)"),
    ("trial.name", _DELETE, "trial.name: required key is missing"),
    ("data.format", "excel", "data.format: must be one of"),
    ("data.time_unit", "fortnight", "data.time_unit"),
    ("data.subjects.path", "cohorts/pbc/nope.csv", "data.subjects.path"),
    ("data.subjects.filter", {"column": "trt", "between": [1, 2]}, "data.subjects.filter"),
    ("data.observations.layout", "tall", "data.observations.layout: must be one of"),
    ("data.observations.variables.bili.unit", "furlong", "data.observations.variables.bili.unit"),
    ("data.events.time_unit", "eon", "data.events.time_unit"),
    ("cohort.n", 0, "cohort.n: must be >= 1; got 0"),
    ("cohort.source", "registry", "cohort.source: must be one of"),
    ("cohort.covariates.0.bounds", [90, 18], "cohort.covariates[0].bounds"),
    ("cohort.covariates.1.type", "ordinal", "cohort.covariates[1].type: must be one of"),
    ("cohort.criteria", ["age >>= 18"], "cohort.criteria[0]"),
    ("cohort.criteria", ["weight > 50"], "cohort.criteria[0]"),
    ("cohort.criteria", ["__import__('os').system('true')"], "cohort.criteria[0]"),
    ("cohort.min_acceptance_rate", 1.5, "cohort.min_acceptance_rate: must be <= 1"),
    ("cohort.fidelity.ks", -0.1, "cohort.fidelity.ks: must be > 0"),
    ("cohort.source", "summary", "cohort.summary_file"),
    ("compute.dask.chunk_size", 0, "compute.dask.chunk_size: must be >= 1; got 0"),
    ("compute.dask.n_workers", "two", "compute.dask.n_workers: must be of type"),
    ("compute.scheduler", "slurm", "compute.scheduler: unknown key"),
]


@pytest.fixture()
def in_tmp_project(tmp_path: Path) -> Path:
    """A working directory with the shipped cohorts (config paths are relative to it)."""
    (tmp_path / "cohorts").symlink_to(ROOT / "cohorts")
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def test_check_default_config(in_tmp_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = in_tmp_project / "config.yaml"
    path.write_text(yaml.safe_dump(DEFAULT))
    assert main(["check", str(path)]) == 0
    assert "valid" in capsys.readouterr().out


@pytest.mark.parametrize(("key", "value", "fragment"), BAD_CONFIGS,
                         ids=[f"{k}={v!r}"[:40] for k, v, _ in BAD_CONFIGS])
def test_bad_configs_are_one_line_errors(in_tmp_project: Path, capsys: pytest.CaptureFixture[str],
                                         key: str, value: Any, fragment: str) -> None:
    path = in_tmp_project / "bad.yaml"
    path.write_text(yaml.safe_dump(_set(DEFAULT, key, value)))
    rc = main(["check", str(path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("twintrial: error: ") for line in lines)
    assert any(fragment in line for line in lines), err
    assert sorted(p.name for p in in_tmp_project.iterdir()) == ["bad.yaml", "cohorts"]


def test_several_problems_reported_together(in_tmp_project: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _set(_set(DEFAULT, "trial.seed", -1), "cohort.n", 0)
    path = in_tmp_project / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "trial.seed" in err and "cohort.n" in err


def test_stage_with_bad_data_writes_nothing(in_tmp_project: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = in_tmp_project / "bad_subjects.csv"
    text = (ROOT / "cohorts" / "pbc" / "pbc.csv").read_text().splitlines()
    header = text[0].replace('"bili"', '"bilirubin"')
    bad.write_text("\n".join([header, *text[1:]]) + "\n")
    cfg = _set(DEFAULT, "data.subjects.path", str(bad))
    path = in_tmp_project / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    rc = main(["cohort", str(path), "--results", str(in_tmp_project / "results")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "bili" in err and "Traceback" not in err
    assert not (in_tmp_project / "results").exists() or not any(
        (in_tmp_project / "results").rglob("*.*"))


def test_run_passes_arguments_after_double_dash_to_snakemake(
        in_tmp_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", str(ROOT / "config" / "config.yaml"), "--snakefile",
               str(ROOT / "Snakefile"), "-n", "--", "--forcerun", "arms", "--quiet"])
    err = capsys.readouterr().err
    command = next(line for line in err.splitlines() if line.startswith("+ "))
    assert command.endswith("--dry-run --forcerun arms --quiet"), command
    assert rc == 0, err
    with pytest.raises(SystemExit) as exc:
        main(["check", str(ROOT / "config" / "config.yaml"), "--", "--forcerun", "arms"])
    assert exc.value.code == 2
    assert "only 'twintrial run' takes them" in capsys.readouterr().err
