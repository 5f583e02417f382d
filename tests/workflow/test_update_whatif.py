"""`twintrial update` (twins evolve as data arrive) and `twintrial whatif`, through the CLI.

Real data: the theophylline samples up to 6 h are fitted first; the 48 later samples then arrive
as new data and the twins are refitted.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TWINTRIAL = str(Path(sys.executable).with_name("twintrial"))

pytestmark = pytest.mark.workflow


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TWINTRIAL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "PYTHONWARNINGS": "ignore"})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("update")
    (d / "cohorts").symlink_to(ROOT / "cohorts")
    rows = list(csv.DictReader(open(ROOT / "cohorts/theoph/theoph_nonmem.csv")))
    early = [r for r in rows if r["EVID"] == "1" or float(r["TIME"]) <= 6]
    late = [r for r in rows if r["EVID"] == "0" and float(r["TIME"]) > 6]
    for name, part in (("early.csv", early), ("late.csv", late)):
        with open(d / name, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(part)
    cfg = yaml.safe_load((ROOT / "tests/data/tiny/config.yaml").read_text())
    cfg["trial"]["name"] = "upd"
    cfg["data"]["nonmem"]["path"] = "early.csv"
    # sparse early data: non-centred random effects, and enough draws for the default gate
    # (1000 draws left sigma_prop at R-hat 1.011 with one seed)
    cfg["twins"].update(chains=4, draws=2000, tune=500, parameterization="noncentered")
    cfg["twins"].pop("gate")
    (d / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    proc = _run(d, "twins", "cfg.yaml", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return d


def test_update_refits_and_reports_changes(project: Path) -> None:
    proc = _run(project, "update", "cfg.yaml", "--data", "late.csv", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    changes = json.loads((project / "results/upd/update/changes.json").read_text())
    assert changes["summary"]["n_patients_existing"] == 12
    rows = changes["changes"]
    assert all(r["n_observations_after"] > r["n_observations_before"] for r in rows)
    # eight more samples per patient over 6-25 h: every projection moves, the bands narrow
    assert all(r["change_rel"] > 0 for r in rows)
    assert sum(r["band_after"] < r["band_before"] for r in rows) >= 9
    assert (project / "results/upd/update/twins.nc").stat().st_size > 0


def test_update_user_errors(project: Path) -> None:
    proc = _run(project, "update", "cfg.yaml", "--data", "missing.csv")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "twintrial: error: missing.csv: new data file not found"


def test_whatif_projects_one_patient(project: Path) -> None:
    proc = _run(project, "whatif", "cfg.yaml", "--patient", "1", "--arm", "placebo",
                "--arm", "q12h_300mg")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = project / "results/upd/whatif"
    summary = json.loads((out / "1_placebo_vs_q12h_300mg.json").read_text())["summary"]
    assert summary
    assert (out / "1_placebo_vs_q12h_300mg.png").stat().st_size > 1000
    bad = _run(project, "whatif", "cfg.yaml", "--patient", "1", "--arm", "placebo",
               "--arm", "q6h")
    assert bad.returncode == 2 and "unknown: q6h" in bad.stderr
