"""A real external Dask cluster (``dask scheduler`` + two ``dask worker`` processes on 127.0.0.1).

The arms simulation pointed at it through ``compute.dask.address`` gives the same bytes as the
in-process run, and still does after one worker is killed mid-run (Dask recomputes the lost
chunks on the surviving worker; random streams are keyed by patient block, not by worker).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twintrial.arms import simulate_trial_outcomes
from twintrial.arms.synthetic import synthetic_virtual_patients
from twintrial.arms_config import arms_from_list, endpoints_from_list, estimands_from_list
from twintrial.compute import dask_client
from twintrial.config import DaskConfig
from twintrial.io import write_table
from twintrial.models import get_model

DASK = Path(sys.executable).with_name("dask")
ARMS = arms_from_list([
    {"name": "placebo", "control": True, "dropout_rate": 0.1},
    {"name": "active", "dropout_rate": 0.1, "rescue": {"threshold": 6.0, "visit_interval": 0.5},
     "effects": [{"parameter": "slope", "size": {"dist": "lognormal", "median": 0.7,
                                                 "sigma": 0.15}}]}])
ENDPOINTS = endpoints_from_list([
    {"name": "dlogbili", "type": "continuous", "time": 2.0, "scale": "log"},
    {"name": "death", "type": "time_to_event", "horizon": 5.0}])
ESTIMANDS = estimands_from_list([
    {"name": "bili", "endpoint": "dlogbili", "treatment": "active"},
    {"name": "os", "endpoint": "death", "treatment": "active"}])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    if not DASK.exists():
        pytest.skip(f"no dask CLI at {DASK}")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard", "--no-show"], env=env, stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "scheduler.log", "w")))
        for k in range(2):
            procs.append(subprocess.Popen(
                [str(DASK), "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--name", f"w{k}", "--memory-limit", "2GB"],
                env=env, stdout=subprocess.DEVNULL,
                stderr=open(tmp_path / f"worker{k}.log", "w")))
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="5s") as c:
                    c.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address, procs
    finally:
        for p in reversed(procs):
            _stop(p)


def _population(n: int) -> tuple:
    model = get_model("biomarker_progression", biomarker_center=0.4)
    cohort = pd.DataFrame({"vid": np.arange(n, dtype=np.int64)})
    virtual = synthetic_virtual_patients(
        model, cohort, n_draws=40, seed=8,
        event={"weibull_shape": 1.3, "weibull_scale": 6.0, "association": 1.2})
    return model, cohort, virtual


def _run(n: int, path: Path, client: object = None) -> bytes:
    model, cohort, virtual = _population(n)
    df = simulate_trial_outcomes(virtual, cohort, ARMS, ENDPOINTS, ESTIMANDS, model=model,
                                 seed=123, client=client, chunk_size=1024)
    write_table(df, path)
    return path.read_bytes()


class _KillOnProgress(logging.Handler):
    """Kills a worker process at the first progress message (after ~10% of the chunks)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        super().__init__()
        self.proc, self.killed_at = proc, None

    def emit(self, record: logging.LogRecord) -> None:
        if self.killed_at is None and "chunks done" in record.getMessage():
            self.killed_at = record.getMessage()
            os.kill(self.proc.pid, signal.SIGKILL)


def test_external_scheduler_same_bytes_and_survives_a_killed_worker(cluster, tmp_path: Path) -> None:
    address, procs = cluster
    local_small = _run(3000, tmp_path / "local_small.parquet")
    with dask_client(DaskConfig(address=address)) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        assert _run(3000, tmp_path / "ext_small.parquet", client) == local_small

        n_big = 30 * 1024
        logger = logging.getLogger("twintrial")
        handler = _KillOnProgress(procs[1])
        old_level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        try:
            ext_big = _run(n_big, tmp_path / "ext_big.parquet", client)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
        assert handler.killed_at is not None and "/30 chunks done" in handler.killed_at
        procs[1].wait(timeout=10)
        assert procs[1].returncode == -signal.SIGKILL
        deadline = time.monotonic() + 15
        while len(client.scheduler_info()["workers"]) != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(client.scheduler_info()["workers"]) == 1
    assert ext_big == _run(n_big, tmp_path / "local_big.parquet")
