"""End-to-end: the Snakemake workflow on a tiny config, in an empty working directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from twintrial.io import read_table_provenance
from twintrial.pipeline import OUTPUTS, enabled_stages
from twintrial.twins.io import load_twins

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny" / "config.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

pytestmark = pytest.mark.workflow


def _snakemake(workdir: Path, *args: str, config: Path = TINY) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(config), "--cores", "2", *args],
        capture_output=True, text=True, timeout=1500,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("tiny")
    (d / "cohorts").symlink_to(ROOT / "cohorts")
    return d


def test_lint() -> None:
    proc = subprocess.run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--lint", "--configfile",
                           str(TINY)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_dry_run_shows_dag(workdir: Path) -> None:
    proc = _snakemake(workdir, "-n")
    assert proc.returncode == 0, proc.stderr
    for stage in enabled_stages(yaml.safe_load(TINY.read_text())) + ["report"]:
        assert f"rule {stage}:" in proc.stdout + proc.stderr


def test_full_run(workdir: Path) -> None:
    proc = _snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    cfg = yaml.safe_load(TINY.read_text())
    results = workdir / "results" / cfg["trial"]["name"]
    for stage in enabled_stages(cfg):
        for name in OUTPUTS[stage]:
            path = results / name
            assert path.exists(), path
            if path.suffix == ".parquet":
                stamp = read_table_provenance(path)
            elif path.suffix == ".nc":
                stamp = json.loads(load_twins(path).attrs["provenance"])
            else:
                stamp = json.loads(path.read_text())["provenance"]
            assert stamp["stage"] == stage and stamp["trial"] == cfg["trial"]["name"]
            assert len(stamp["config_hash"]) == 16
            assert all(len(h) == 64 for h in stamp["inputs"].values())
    report = workdir / "reports" / cfg["trial"]["name"]
    assert (report / "report.html").stat().st_size > 10_000
    summary = json.loads((report / "summary.json").read_text())
    assert summary["trial"]["name"] == cfg["trial"]["name"]
    assert set(enabled_stages(cfg)) == {"cohort", "twins", "arms", "analysis", "validation"}


def test_rerun_is_a_no_op(workdir: Path) -> None:
    proc = _snakemake(workdir, "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_bad_config_stops_before_any_job(tmp_path: Path) -> None:
    (tmp_path / "cohorts").symlink_to(ROOT / "cohorts")
    cfg = yaml.safe_load(TINY.read_text())
    cfg["cohort"]["n"] = -5
    cfg["trial"]["sede"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, config=bad)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("twintrial: error:")]
    assert any("cohort.n: must be >= 1; got -5" in line for line in lines)
    assert any("trial.sede: unknown key" in line for line in lines)
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)
