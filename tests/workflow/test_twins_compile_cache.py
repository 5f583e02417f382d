"""The same config and seed give the same twins file whether the numba compile cache is cold or
warm.

With PyTensor's default fastmath flags the first fit (everything compiled afresh) and a second
fit (functions loaded from the cache) drew different chains from the same seed; twintrial now
compiles the numba backend without them. Each fit runs in its own process, as two workflow runs
would: within one process the compiled model is reused and the cache is never read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

ROOT = Path(__file__).resolve().parents[2]
TWINTRIAL = str(Path(sys.executable).with_name("twintrial"))

pytestmark = pytest.mark.workflow


def test_cold_and_warm_compile_cache_give_the_same_draws(tmp_path: Path) -> None:
    (tmp_path / "cohorts").symlink_to(ROOT / "cohorts")
    cfg = yaml.safe_load((ROOT / "tests/data/tiny/config.yaml").read_text())
    cfg["twins"].update(backend="numba", chains=2, draws=150, tune=150, allow_unconverged=True)
    cfg["compute"] = {"cache_dir": str(tmp_path / "cache")}  # empty: the first fit compiles all
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("PYTENSOR_FLAGS", None)
    files = []
    for run in ("cold", "warm"):
        proc = subprocess.run([TWINTRIAL, "twins", "cfg.yaml", "--results", run, "--cores", "2"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        files.append(tmp_path / run / cfg["trial"]["name"] / "twins.nc")
    # the same bytes: run times and timestamps are kept out of the twins file
    assert files[0].read_bytes() == files[1].read_bytes()
    cold, warm = (xr.open_datatree(f) for f in files)
    assert cold["posterior"].ds.data_vars.keys() == warm["posterior"].ds.data_vars.keys()
    for name, values in cold["posterior"].ds.data_vars.items():
        np.testing.assert_array_equal(values.values, warm["posterior"][name].values,
                                      err_msg=name)
    np.testing.assert_array_equal(cold["sample_stats"]["step_size"].values,
                                  warm["sample_stats"]["step_size"].values)
