"""The report as a reader sees it: rendered by headless Chromium.

Checks that the page raises no console or script errors, that every image decodes
(``naturalWidth > 0``), that every section is present, and saves a screenshot. The page's own
self-check script writes its findings into ``<pre id="selfcheck">``, read back with ``--dump-dom``;
Chromium's console log (``--enable-logging=stderr``) is checked independently.
Skipped, with the reason, when Chromium is not installed (``scripts/ensure-chromium`` installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import _support.report_fixture as fx  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from twintrial.report import SECTIONS, build_summary, parse_benchmark_tsv, render_report  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not installed (run scripts/ensure-chromium, or apt-get install "
           "chromium); the report browser test needs a real browser")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90, check=False)


def _selfcheck(page: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    run = _chromium(["--dump-dom", page.as_uri()], tmp_path / f"profile-{page.stem}-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    match = re.search(r'<pre id="selfcheck">([^<]*)</pre>', run.stdout)
    assert match and match.group(1).strip(), "the page's self-check did not run on load"
    console = [ln for ln in run.stderr.splitlines() if ":CONSOLE" in ln]
    return json.loads(match.group(1)), console




def _report(tmp_path: Path, *, corrupt_png: bool = False) -> Path:
    cfg = fx.config_raw()
    stages = {} if corrupt_png else fx.stage_jsons()
    summary = build_summary(cfg, {"cohort": fx.cohort_stage_json(cfg), **stages},
                            benchmarks={"cohort": parse_benchmark_tsv(fx.BENCHMARK_TSV)})
    fig, ax = plt.subplots(figsize=(5, 3), dpi=80)
    ax.hist([0.1, 0.4, 0.4, 0.7, 0.9, 1.3], bins=5, color="#1f4e79")
    ax.set_xlabel("bilirubin (mg/dL)")
    png, svg = tmp_path / "cohort_marginals.png", tmp_path / "cohort_correlation.svg"
    fig.savefig(png)
    fig.savefig(svg)
    plt.close(fig)
    if corrupt_png:  # a PNG signature followed by garbage: embeds, but cannot decode
        png.write_bytes(png.read_bytes()[:8] + b"\x00garbage" * 40)
    figures = {"cohort_marginals.png": png, "cohort_correlation.svg": svg}
    if stages:  # one figure in each stage section (the same picture, to keep the test fast)
        figures.update({f"{stage}_check.png": png for stage in
                        ("twins", "analysis", "sensitivity", "validation")})
    page = tmp_path / ("broken.html" if corrupt_png else "report.html")
    page.write_text(render_report(summary, figures), encoding="utf-8")
    return page


def test_report_renders_cleanly_in_chromium(tmp_path: Path) -> None:
    page = _report(tmp_path)
    check, console = _selfcheck(page, tmp_path)
    assert console == []
    assert check["errors"] == []
    assert check["images"] == 5 and check["undecoded"] == 0
    assert check["svgs"] == 1
    assert check["sections"] == [s[0] for s in SECTIONS]
    html = page.read_text(encoding="utf-8")
    assert "layout is not written yet" not in html and 'class="missing"' not in html

    shot = tmp_path / "report.png"
    run = _chromium([f"--screenshot={shot}", "--window-size=1280,4000", page.as_uri()],
                    tmp_path / "profile-shot")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (1280, 4000)
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank canvas


def test_browser_check_catches_an_undecodable_image(tmp_path: Path) -> None:
    check, _ = _selfcheck(_report(tmp_path, corrupt_png=True), tmp_path)
    assert check["images"] == 1 and check["undecoded"] == 1
    assert any("img" in e for e in check["errors"])
