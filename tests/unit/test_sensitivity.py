"""Sensitivity engine: translation, sampling metadata, batched/Dask evaluation, analysis, figures."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from twintrial.exceptions import AnalysisError, SensitivityWarning
from twintrial.io import dumps_json
from twintrial.rng import generator
from twintrial.sensitivity import (
    SensitivityConfig,
    SensitivitySamples,
    analyze_sensitivity,
    describe_drivers,
    evaluate_sensitivity,
    input_from_salib,
    ishigami,
    plot_morris,
    plot_sobol,
    problem_from_config,
    run_sensitivity,
    sample_sensitivity,
    sensitivity_figures,
)

ALL_DISTS = [
    {"name": "a", "kind": "model", "target": "model.a", "low": 1.0, "high": 3.0},
    {"name": "b", "kind": "model", "target": "model.b", "dist": "loguniform", "low": 0.1,
     "high": 10.0},
    {"name": "c", "kind": "treatment", "target": "arms.treatment.effect", "dist": "normal",
     "mean": -2.0, "sd": 0.5},
    {"name": "d", "kind": "operational", "target": "operational.dropout_rate",
     "dist": "truncnormal", "low": 0.0, "high": 0.4, "mean": 0.1, "sd": 0.1},
    {"name": "e", "kind": "model", "target": "model.e", "dist": "lognormal", "log_mean": 0.5,
     "log_sd": 0.2},
    {"name": "f", "kind": "cohort", "target": "cohort.shift.bili", "dist": "triangular",
     "low": -1.0, "mode": 0.5, "high": 1.0},
    {"name": "n", "kind": "design", "target": "design.n_per_arm", "low": 100, "high": 104,
     "integer": True},
]


def _cfg(inputs: list[dict[str, Any]] | None = None, outputs: int = 1, **kw: Any
         ) -> SensitivityConfig:
    inputs = inputs or [{"name": f"x{i}", "kind": "model", "target": f"model.x{i}",
                         "low": -np.pi, "high": np.pi} for i in (1, 2, 3)]
    outs = [{"name": f"y{k}", "quantity": "mean_effect"} for k in range(outputs)]
    kw.setdefault("sobol", {"n_base_samples": 64})
    kw.setdefault("convergence", {"tolerance": 1.0})  # tiny designs: convergence tested apart
    return SensitivityConfig.from_dict({"inputs": inputs, "outputs": outs, **kw})


def _two_outputs(X: np.ndarray, names: list[str]) -> np.ndarray:
    return np.column_stack([ishigami(X)[:, 0], 3.0 * X[:, 1] + X[:, 0]])


def test_translation_to_salib_is_explicit() -> None:
    p = problem_from_config(_cfg(ALL_DISTS))
    assert p["num_vars"] == 7 and p["names"] == ["a", "b", "c", "d", "e", "f", "n"]
    assert p["dists"] == ["unif", "logunif", "norm", "truncnorm", "lognorm", "triang", "unif"]
    assert p["bounds"] == [[1.0, 3.0], [0.1, 10.0], [-2.0, 0.5], [0.0, 0.4, 0.1, 0.1],
                           [0.5, 0.2], [-1.0, 1.0, 0.75], [99.5, 104.5]]
    assert p["outputs"] == ["y0"]


def test_translation_round_trips() -> None:
    cfg = _cfg(ALL_DISTS)
    p = problem_from_config(cfg)
    back = [input_from_salib(n, b, d, integer=inp.integer) | {"kind": inp.kind,
                                                              "target": inp.target}
            for n, b, d, inp in zip(p["names"], p["bounds"], p["dists"], cfg.inputs, strict=True)]
    again = SensitivityConfig.from_dict({"inputs": back,
                                         "outputs": [{"name": "y0", "quantity": "mean_effect"}],
                                         "sobol": {"n_base_samples": 64}})
    assert again.inputs == cfg.inputs
    assert problem_from_config(again) == p


def test_samples_follow_their_distributions() -> None:
    s = sample_sensitivity(_cfg(ALL_DISTS, sobol={"n_base_samples": 512,
                                                  "calc_second_order": False}), seed=3)
    X = s.X[:: 7 + 2]  # the A matrix: one point of the scrambled Sobol' sequence per block
    assert np.all((X[:, 0] >= 1) & (X[:, 0] <= 3))
    assert np.median(np.log10(X[:, 1])) == pytest.approx(0.0, abs=0.05)
    assert X[:, 2].mean() == pytest.approx(-2.0, abs=0.01)
    assert X[:, 2].std() == pytest.approx(0.5, rel=0.03)
    assert np.all((X[:, 3] >= 0) & (X[:, 3] <= 0.4))
    assert np.log(X[:, 4]).mean() == pytest.approx(0.5, abs=0.01)
    assert X[:, 5].mean() == pytest.approx((-1 + 0.5 + 1) / 3, abs=0.01)
    n = s.X[:, 6]
    assert np.array_equal(n, np.rint(n)) and set(np.unique(n)) == {100, 101, 102, 103, 104}
    counts = np.unique(n, return_counts=True)[1] / len(n)
    assert np.allclose(counts, 0.2, atol=0.02)  # integers equally likely, ends included
    assert s.metadata["integer_inputs"] == ["n"]


@pytest.mark.parametrize(("method", "opts", "rows"), [
    ("sobol", {"sobol": {"n_base_samples": 64, "calc_second_order": True}}, 64 * 8),
    ("sobol", {"sobol": {"n_base_samples": 64, "calc_second_order": False}}, 64 * 5),
    ("morris", {"morris": {"trajectories": 10, "levels": 4}}, 10 * 4),
])
def test_layout_metadata_and_determinism(method: str, opts: dict, rows: int) -> None:
    cfg = _cfg(method=method, **opts)
    a, b = sample_sensitivity(cfg, seed=11), sample_sensitivity(cfg, seed=11)
    assert a.X.shape == (rows, 3) and a.metadata["n_rows"] == rows
    assert np.array_equal(a.X, b.X) and a.metadata == b.metadata
    assert not np.array_equal(a.X, sample_sensitivity(cfg, seed=12).X)
    meta = a.metadata
    assert meta["method"] == method and meta["seed"] == 11
    assert meta["salib_version"] and meta["problem"]["names"] == ["x1", "x2", "x3"]
    json.loads(dumps_json(meta))  # JSON-serialisable


def test_frame_round_trip_and_mismatches_raise() -> None:
    s = sample_sensitivity(_cfg(), seed=1)
    back = SensitivitySamples.from_frame(s.to_frame(), s.metadata)
    assert np.array_equal(back.X, s.X)
    Y = evaluate_sensitivity(s, ishigami)

    flipped = copy.deepcopy(s.metadata)
    flipped["calc_second_order"] = False
    with pytest.raises(AnalysisError, match=r"needs 320 rows; got 512 rows"):
        analyze_sensitivity(SensitivitySamples(s.X, flipped), Y, seed=1)

    other = sample_sensitivity(_cfg(), seed=2)
    with pytest.raises(AnalysisError, match=r"x_sha256"):
        analyze_sensitivity(SensitivitySamples(other.X, s.metadata), Y, seed=1)

    old = copy.deepcopy(s.metadata) | {"salib_version": "0.9"}
    with pytest.raises(AnalysisError, match=r"salib_version: sampled with SALib 0.9"):
        analyze_sensitivity(SensitivitySamples(s.X, old), Y, seed=1)

    with pytest.raises(AnalysisError, match=r"Y: expected shape \(512, 1\)"):
        analyze_sensitivity(s, Y[:-8], seed=1)

    with pytest.raises(AnalysisError, match=r"samples.metadata.N: missing"):
        analyze_sensitivity(SensitivitySamples(s.X, {"method": "sobol"}), Y, seed=1)

    bad = Y.copy()
    bad[5, 0] = np.nan
    with pytest.raises(AnalysisError, match=r"output 'y0'\): 1 of 512 evaluations are NaN"):
        analyze_sensitivity(s, bad, seed=1)

    with pytest.raises(AnalysisError, match=r"must return shape \(n_samples, n_outputs\)"):
        evaluate_sensitivity(s, lambda X, names: np.zeros((len(X), 2)))


def _noisy(X: np.ndarray, names: list[str], *, rows: np.ndarray) -> np.ndarray:
    """Stochastic model whose noise is keyed by the global sample index (never the batch)."""
    noise = np.array([generator(99, "sensitivity-test", int(r)).standard_normal() for r in rows])
    return np.column_stack([ishigami(X)[:, 0] + 0.1 * noise, X.sum(axis=1) * noise])


def test_evaluation_identical_for_any_batching() -> None:
    s = sample_sensitivity(_cfg(outputs=2), seed=5)
    y100 = evaluate_sensitivity(s, _noisy, batch_size=100, index_keyed=True)
    y1000 = evaluate_sensitivity(s, _noisy, batch_size=1000, index_keyed=True)
    y7 = evaluate_sensitivity(s, _noisy, batch_size=7, index_keyed=True)
    assert y100.shape == (512, 2)
    assert np.array_equal(y100, y1000) and np.array_equal(y100, y7)
    r1 = analyze_sensitivity(s, y100, seed=3)
    r2 = analyze_sensitivity(s, y1000, seed=3)
    assert r1.to_frame().equals(r2.to_frame())


def test_dask_client_matches_synchronous() -> None:
    distributed = pytest.importorskip("distributed")
    s = sample_sensitivity(_cfg(outputs=2), seed=5)
    sync = evaluate_sensitivity(s, _noisy, batch_size=1000, index_keyed=True)
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1,
                            dashboard_address=None) as client:
        on_dask = evaluate_sensitivity(s, _noisy, client=client, batch_size=100,
                                       index_keyed=True)
        plain = evaluate_sensitivity(s, _two_outputs, client=client, batch_size=64)
    assert np.array_equal(on_dask, sync)
    assert np.array_equal(plain, evaluate_sensitivity(s, _two_outputs))


def test_result_table_summary_and_drivers() -> None:
    s = sample_sensitivity(_cfg(outputs=2, sobol={"n_base_samples": 256}), seed=8)
    res = analyze_sensitivity(s, evaluate_sensitivity(s, _two_outputs), seed=4)
    frame = res.to_frame()
    assert list(frame.columns) == ["output", "input", "input2", "index", "value", "conf"]
    assert len(frame) == 2 * (3 * 2 + 3)  # per output: S1, ST for 3 inputs + 3 pairs of S2
    assert set(frame["index"]) == {"S1", "ST", "S2"}
    assert frame["input2"].isna().sum() == 12 and frame["value"].dtype == np.float64
    # second output 3*x2 + x1: analytic S1 = (9, 1, 0) / 10
    y1 = frame[(frame["output"] == "y1") & (frame["index"] == "S1")]["value"].to_numpy()
    assert y1 == pytest.approx([0.1, 0.9, 0.0], abs=0.05)

    summary = json.loads(dumps_json(res.summary()))
    assert summary["summary"]["method"] == "sobol" and summary["summary"]["n_evaluations"] == 2048
    assert summary["summary"]["top_drivers"]["y1"] == ["x2", "x1"]
    assert summary["indices"]["y0"]["S2"]["x1:x3"]["value"] > 0.1
    assert summary["sampling"]["N"] == 256 and summary["convergence"]["y0"]["n_half"] == 128

    words = describe_drivers(res)
    assert words["y1"].startswith("ST of x2 is 0.9")
    assert "drives most of the variance of y1" in words["y1"]
    assert "x3 has ST < 0.05" in words["y1"]
    assert "largest interaction is x1 × x3" in words["y0"]


def test_convergence_warning_recorded() -> None:
    s = sample_sensitivity(_cfg(sobol={"n_base_samples": 8}, convergence={"tolerance": 1e-4}),
                           seed=1)
    with pytest.warns(SensitivityWarning, match=r"sensitivity\.outputs\.y0: not converged"):
        res = analyze_sensitivity(s, evaluate_sensitivity(s, ishigami), seed=1)
    assert not res.converged and res.convergence["y0"]["converged"] is False
    summary = res.summary()
    assert summary["summary"]["converged"] is False
    assert any("not converged" in w for w in summary["warnings"])
    assert "provisional" in describe_drivers(res)["y0"]


def test_constant_output_reported_not_crashed() -> None:
    s = sample_sensitivity(_cfg(outputs=2), seed=1)
    Y = np.column_stack([ishigami(s.X)[:, 0], np.full(len(s.X), 0.8)])
    with pytest.warns(SensitivityWarning, match=r"outputs\.y1: constant"):
        res = analyze_sensitivity(s, Y, seed=1)
    assert np.isnan(res.indices["y1"]["ST"]).all()
    assert describe_drivers(res)["y1"].startswith("y1 is constant")
    assert json.loads(dumps_json(res.summary()))["indices"]["y1"]["inputs"]["x1"]["ST"] is None


def test_analysis_is_deterministic_in_its_seed() -> None:
    s = sample_sensitivity(_cfg(), seed=1)
    Y = evaluate_sensitivity(s, ishigami)
    a, b = analyze_sensitivity(s, Y, seed=0), analyze_sensitivity(s, Y, seed=0)
    c = analyze_sensitivity(s, Y, seed=1)
    assert a.to_frame().equals(b.to_frame())
    assert not np.array_equal(a.indices["y0"]["S1_conf"], c.indices["y0"]["S1_conf"])
    assert np.array_equal(a.indices["y0"]["S1"], c.indices["y0"]["S1"])


def test_figures() -> None:
    s = sample_sensitivity(_cfg(outputs=2), seed=1)
    res = analyze_sensitivity(s, evaluate_sensitivity(s, _two_outputs), seed=1)
    fig = plot_sobol(res)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].patches) == 6  # S1 and ST bars for 3 inputs
    with pytest.raises(AnalysisError, match="plot_morris"):
        plot_morris(res)
    m = sample_sensitivity(_cfg(outputs=2, method="morris", morris={"trajectories": 10}), seed=1)
    mres = analyze_sensitivity(m, evaluate_sensitivity(m, _two_outputs), seed=1)
    mfig = plot_morris(mres)
    assert isinstance(mfig, Figure) and len(mfig.axes) == 2
    assert [t.get_text() for t in mfig.axes[0].texts] == ["x1", "x2", "x3"]
    with pytest.raises(AnalysisError, match="plot_sobol"):
        plot_sobol(mres)


def test_run_sensitivity_one_call_is_reproducible() -> None:
    cfg = _cfg(outputs=2, batch_size=100)
    a = run_sensitivity(cfg, _two_outputs, seed=42)
    b = run_sensitivity(cfg, _two_outputs, seed=42)
    assert np.array_equal(a.samples.X, b.samples.X) and np.array_equal(a.Y, b.Y)
    assert a.result.to_frame().equals(b.result.to_frame())
    assert a.samples.metadata["seed"] != 42  # derived, never shared
    figs = sensitivity_figures(a.result)
    assert list(figs) == ["sensitivity_sobol"] and isinstance(figs["sensitivity_sobol"], Figure)
