"""Known answers for the survival validation: hand-worked KM, C-index and Brier examples, and the
Mayo PBC trial (Dickson et al., NEJM 312:1011, 1985; data survival::pbc, Therneau & Grambsch 2000).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twintrial.validation.survival import (
    brier_reference,
    brier_score,
    c_index_at_landmarks,
    concordance_index,
    kaplan_meier,
    km_at,
)
from twintrial.validation.trial_level import cox_hazard_ratio

PBC = Path(__file__).resolve().parents[2] / "cohorts" / "pbc" / "pbc.csv"
Z = 1.959963984540054


def test_kaplan_meier_hand_worked():
    # t: 1 2 2+ 3 4+ 5 ; S = 5/6, 5/6*4/5, *2/3, (4+ censored), *0
    km = kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    assert km["time"].tolist() == [1, 2, 3, 4, 5]
    assert km["n_risk"].tolist() == [6, 5, 3, 2, 1]
    assert km["n_event"].tolist() == [1, 1, 1, 0, 1]
    assert km["n_censor"].tolist() == [0, 1, 0, 1, 0]
    np.testing.assert_allclose(km["survival"], [5 / 6, 2 / 3, 4 / 9, 4 / 9, 0.0])
    # Greenwood at t = 3: 1/(6*5) + 1/(5*4) + 1/(3*2) = 1/4 -> se(log S) = 1/2
    assert km["std_err"].iloc[2] == pytest.approx(0.5)
    # log-log CI: S^exp(+-z se / log S); by hand 0.066187 and 0.784908
    assert km["lower"].iloc[2] == pytest.approx(0.066187, abs=1e-6)
    assert km["upper"].iloc[2] == pytest.approx(0.784908, abs=1e-6)
    s = 5 / 6
    se = np.sqrt(1 / 30)
    assert km["lower"].iloc[0] == pytest.approx(s ** np.exp(Z * se / abs(np.log(s))))
    assert km["upper"].iloc[0] == pytest.approx(s ** np.exp(-Z * se / abs(np.log(s))))
    assert np.isnan(km["lower"].iloc[4])
    at = km_at(km, [0.5, 2.0, 2.5, 10])
    np.testing.assert_allclose(at["survival"], [1.0, 2 / 3, 2 / 3, 0.0])
    assert at["n_risk"].tolist() == [6, 5, 3, 0]


def test_c_index_hand_worked():
    t, e, r = [1, 2, 3, 4, 5], [1, 0, 1, 1, 0], [5, 1, 2, 4, 3]
    # comparable pairs: (1; 2,3,4,5) all concordant; (3; 4,5) both discordant; (4; 5) concordant
    assert concordance_index(t, e, r, method="harrell") == pytest.approx(5 / 7)
    # Uno: G(1-) = 1, G(3-) = G(4-) = 3/4 -> weights 1, 16/9, 16/9 -> (4 + 16/9) / (4 + 48/9)
    assert concordance_index(t, e, r, method="uno") == pytest.approx(13 / 21)
    # truncation at tau = 2: only the event at t = 1 counts
    assert concordance_index(t, e, r, method="harrell", tau=2) == 1.0
    # ties in the risk score count one half: (1; 2,3,4,5) 4, (3; 4,5) 0, (4; 5) 0.5
    assert concordance_index(t, e, [5, 1, 2, 3, 3], method="harrell") == pytest.approx(4.5 / 7)


def test_c_index_perfect_and_random():
    rng = np.random.default_rng(7)
    t = rng.exponential(10, 2000)
    c = rng.exponential(15, 2000)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    for method in ("uno", "harrell"):
        assert concordance_index(time, event, -t, method=method) == 1.0
        assert concordance_index(time, event, t, method=method) == 0.0
        rand = concordance_index(time, event, rng.normal(size=2000), method=method, tau=20)
        assert abs(rand - 0.5) < 0.03


def test_brier_hand_worked_and_perfect():
    # G: censoring at t=2 with 2 at risk -> G = 1/2 after 2.
    # t=1.5: 0.2^2 + 0.1^2 + 0.3^2 = 0.14; t=2.5: 0.1^2 + 0 + 0.4^2 / (1/2) = 0.33
    bs = brier_score([1, 2, 3], [1, 0, 1], [[0.2, 0.1], [0.9, 0.8], [0.7, 0.6]], [1.5, 2.5])
    np.testing.assert_allclose(bs, [0.14 / 3, 0.33 / 3])
    rng = np.random.default_rng(2)
    t = rng.exponential(5, 500)
    lm = [2.0, 5.0]
    perfect = (t[:, None] > np.array(lm)).astype(float)
    np.testing.assert_allclose(brier_score(t, np.ones(500), perfect, lm), 0.0)
    half = np.full((500, 2), 0.5)
    np.testing.assert_allclose(brier_score(t, np.ones(500), half, lm), 0.25)


def test_true_model_beats_null_in_brier_and_c():
    rng = np.random.default_rng(11)
    n = 3000
    x = rng.normal(size=n)
    rate = 0.1 * np.exp(0.8 * x)
    t = rng.exponential(1 / rate)
    c = rng.uniform(0, 25, n)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    lm = np.array([3.0, 8.0])
    surv = np.exp(-rate[:, None] * lm)
    bs = brier_score(time, event, surv, lm)
    null = brier_reference(time, event, lm)
    assert np.all(bs < null)
    cidx = c_index_at_landmarks(time, event, surv, lm)
    assert np.all(cidx > 0.65) and np.all(cidx < 0.8)


@pytest.fixture(scope="module")
def pbc():
    if not PBC.is_file():
        pytest.skip(f"{PBC} not present (copied there by the data engineer)")
    d = pd.read_csv(PBC)
    return d[d["trt"].notna()]


def test_km_pbc_trial(pbc):
    """312 randomized patients; death (status 2) and death or transplant (status >= 1).

    Medians of death by arm as R ``survfit(Surv(time, status == 2) ~ trt, data = pbc)``:
    D-penicillamine 3282 days, placebo 3428 days (65 and 60 deaths).
    """
    assert len(pbc) == 312
    for composite in (False, True):
        event = (pbc["status"] >= 1) if composite else (pbc["status"] == 2)
        km = kaplan_meier(pbc["time"], event.astype(float))
        # reference: direct product-limit over each distinct event time
        times = np.sort(pbc.loc[event, "time"].unique())
        s, ref = 1.0, []
        for u in times:
            n = (pbc["time"] >= u).sum()
            d = ((pbc["time"] == u) & event).sum()
            s *= 1 - d / n
            ref.append(s)
        got = km.set_index("time").loc[times, "survival"].to_numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-12)
        assert km["n_event"].sum() == (144 if composite else 125)
        assert np.all((km["lower"] <= km["survival"]) & (km["survival"] <= km["upper"])
                      | km["lower"].isna())
    for trt, median, deaths in ((1, 3282, 65), (2, 3428, 60)):
        arm = pbc[pbc["trt"] == trt]
        km = kaplan_meier(arm["time"], (arm["status"] == 2).astype(float))
        assert km["n_event"].sum() == deaths
        assert km.loc[km["survival"] <= 0.5, "time"].iloc[0] == median


def test_cox_hr_pbc_trial(pbc):
    """Death HR D-penicillamine vs placebo 1.06 (0.75-1.50) (Cox, Breslow ties)."""
    hr = cox_hazard_ratio(pbc["time"], (pbc["status"] == 2).astype(float),
                          (pbc["trt"] == 1).astype(float))
    assert hr["hr"] == pytest.approx(1.06, abs=0.01)
    assert hr["lower"] == pytest.approx(0.75, abs=0.01)
    assert hr["upper"] == pytest.approx(1.50, abs=0.01)
