r"""One-compartment pharmacokinetics with first-order oral absorption (``pk_1cmt_oral``).

Model
-----
With absorption rate :math:`k_a`, apparent clearance :math:`CL` (= CL/F) and apparent volume
:math:`V` (= V/F), :math:`k_e = CL/V`, the concentration after doses :math:`D_j` given at
:math:`t_j` is the superposition of single-dose solutions (linear kinetics):

.. math::

    C(t) = \sum_{j:\,t>t_j} \frac{D_j k_a}{V}\,
           \frac{e^{-k_e \tau_j} - e^{-k_a \tau_j}}{k_a - k_e}, \qquad \tau_j = t - t_j .

The bracket is symmetric in :math:`(k_a, k_e)` and is evaluated as
:math:`e^{-r\tau}\,(-\mathrm{expm1}(-\delta\tau))/\delta` with :math:`r = \min(k_a, k_e)`,
:math:`\delta = |k_a - k_e|`, which never overflows (flip-flop kinetics included) and is
replaced by its Taylor series :math:`\tau(1 - x/2 + x^2/6)`, :math:`x=\delta\tau`, when
:math:`x < 10^{-5}`: the :math:`k_a = k_e` limit :math:`D k_a \tau e^{-k_a\tau}/V` is continuous
and gradients stay finite. Bioavailability is not identifiable from oral data alone, so
:math:`CL` and :math:`V` are apparent (divided by F) and :math:`AUC_{0-\infty} = D / CL`.

Individual parameters are log-normal, :math:`\log P_i = \mu_P + \beta^\top f(x_i) + \eta_{Pi}`,
with allometric weight effects by default, :math:`CL_i \propto (WT_i/70)^{0.75}`,
:math:`V_i \propto (WT_i/70)^{1}` (exponents fixed; centred on a 70 kg reference adult, which is
also the median weight of the theophylline study, 54–86 kg). Residual error is combined additive
plus proportional: :math:`y \sim N(C, \sqrt{\sigma_a^2 + (\sigma_p C)^2})`; below-LLOQ samples are
handled by the engine with the M3 method.

Priors (on the log typical values; wide, centred near the theophylline literature values,
Boeckmann, Sheiner & Beal 1994: ka 1.59 /h, ke 0.086 /h, CL/F 0.040 L/h/kg, i.e. 2.8 L/h and
V/F = CL/ke ≈ 32.6 L at 70 kg): :math:`\mu_{ka} \sim N(\log 1.5, 1)`,
:math:`\mu_{CL} \sim N(\log 2.8, 1)`, :math:`\mu_V \sim N(\log 32, 1)` (a factor e on either side
at 1 SD); :math:`\omega \sim \mathrm{HalfNormal}(0.5)` (IIV CV up to ~100 %),
:math:`\sigma_a \sim \mathrm{HalfNormal}(0.5)` mg/L, :math:`\sigma_p \sim \mathrm{HalfNormal}(0.2)`.

Options (``twins.model.options`` keys, passed to the constructor)
-----------------------------------------------------------------
observed_variable : str, default ``"conc"``
    The ``observations.variable`` fitted (mg/L, amounts in mg, time in h).
covariates : mapping, optional
    ``{param: [{covariate, form, center, scale, fixed, prior}]}`` for ``ka``, ``CL``, ``V``;
    a listed parameter replaces its default effects (``[]`` removes them). Default
    ``{CL: [{covariate: wt, form: power, center: 70, fixed: 0.75}], V: [{... fixed: 1.0}]}``.
typical : mapping, optional
    Natural-scale typical values ``{ka, CL, V}`` used as prior centres (defaults above).
prior_sd : float, default 1.0
    SD of the normal priors of the log typical values.
iiv : list of str, default ``[ka, CL, V]``
    Parameters with a log-normal random effect.
residual : {"combined", "additive", "proportional"}, default ``"combined"``

References
----------
Gabrielsson J, Weiner D. Pharmacokinetic and Pharmacodynamic Data Analysis: Concepts and
Applications, 5th ed. Swedish Pharmaceutical Press, 2016 (one-compartment oral model).
Boeckmann AJ, Sheiner LB, Beal SL. NONMEM Users Guide, Part V. UCSF, 1994 (theophylline data).
Anderson BJ, Holford NHG. Mechanism-based concepts of size and maturity in pharmacokinetics.
Annu Rev Pharmacol Toxicol 48:303–332 (2008) (allometric exponents 0.75 and 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from twintrial.exceptions import ModelError
from twintrial.models.backend import NUMPY, ArrayNamespace
from twintrial.models.base import Array, Model, Parameter, Prior, ResidualError
from twintrial.models.options import effects_from_specs, resolve_covariates

PARAMS = ("ka", "CL", "V")
DEFAULT_TYPICAL = {"ka": 1.5, "CL": 2.8, "V": 32.0}
UNITS = {"ka": "1/h", "CL": "L/h", "V": "L"}
DESCRIPTIONS = {"ka": "first-order absorption rate constant",
                "CL": "apparent clearance CL/F", "V": "apparent volume of distribution V/F"}
DEFAULT_COVARIATES = {
    "CL": [{"covariate": "wt", "form": "power", "center": 70.0, "fixed": 0.75}],
    "V": [{"covariate": "wt", "form": "power", "center": 70.0, "fixed": 1.0}],
}
SERIES_THRESHOLD = 1e-5


def absorption_kernel(xp: ArrayNamespace, ka: Array, ke: Array, tau: Array) -> Array:
    """``(exp(-ke tau) - exp(-ka tau)) / (ka - ke)`` for ``tau >= 0``, stable at ``ka == ke``."""
    if xp is NUMPY:
        return _absorption_kernel_numpy(ka, ke, tau)
    r = xp.minimum(ka, ke)
    delta = xp.abs(ka - ke)
    x = delta * tau
    small = x < SERIES_THRESHOLD
    x_safe = xp.where(small, 1.0, x)
    d_safe = xp.where(small, 1.0, delta)
    phi = xp.where(small, tau * (1.0 - x / 2.0 + x * x / 6.0), -xp.expm1(-x_safe) / d_safe)
    return xp.exp(-r * tau) * phi


def _absorption_kernel_numpy(ka: Array, ke: Array, tau: Array) -> np.ndarray:
    """:func:`absorption_kernel` in NumPy, value for value: the series branch is evaluated only
    where it applies (rare), without the masked copies of ``xp.where``."""
    ka, ke, tau = (np.asarray(a, dtype=float) for a in (ka, ke, tau))
    r = np.minimum(ka, ke)
    delta = np.abs(ka - ke)
    x = np.asarray(delta * tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.asarray(-np.expm1(-x) / delta)
    small = x < SERIES_THRESHOLD
    if small.any():
        xs, ts = x[small], np.broadcast_to(tau, x.shape)[small]
        phi[small] = ts * (1.0 - xs / 2.0 + xs * xs / 6.0)
    return np.exp(-(r * tau)) * phi  # -(r tau) == (-r) tau exactly


class OneCompartmentOral(Model):
    """One-compartment model with first-order oral absorption (see the module docstring)."""

    name = "pk_1cmt_oral"
    citation = ("Gabrielsson & Weiner, Pharmacokinetic and Pharmacodynamic Data Analysis (2016); "
                "Boeckmann, Sheiner & Beal (1994) NONMEM Users Guide Part V")
    time_unit = "h"
    equations = (
        r"C_i(t) = \sum_{j: t > t_j} \frac{D_j k_{a,i}}{V_i}"
        r"\frac{e^{-k_{e,i}(t-t_j)} - e^{-k_{a,i}(t-t_j)}}{k_{a,i} - k_{e,i}},\quad k_{e,i} = CL_i/V_i",
        r"\log P_i = \mu_P + \sum_k \beta_{Pk} f_k(x_{ik}) + \eta_{Pi},\quad P \in \{k_a, CL, V\}",
        r"CL_i \propto (WT_i/70)^{0.75},\quad V_i \propto (WT_i/70)^{1}",
        r"y_{ij} \sim N\left(C_i(t_{ij}),\ \sqrt{\sigma_a^2 + \sigma_p^2 C_i(t_{ij})^2}\right)",
    )
    dose_design_keys = ("dose_time", "dose_amount")

    def __init__(self, *, observed_variable: str = "conc",
                 covariates: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                 typical: Mapping[str, float] | None = None, prior_sd: float = 1.0,
                 iiv: Sequence[str] = PARAMS, residual: str = "combined") -> None:
        typ = dict(DEFAULT_TYPICAL)
        for k, v in dict(typical or {}).items():
            if k not in PARAMS:
                raise ModelError(f"twins.model.options.typical.{k}: {self.name} has no parameter '{k}'. "
                                 f"Use one of {list(PARAMS)}.")
            if not float(v) > 0:
                raise ModelError(f"twins.model.options.typical.{k}: must be > 0; got {v}.")
            typ[k] = float(v)
        if not float(prior_sd) > 0:
            raise ModelError(f"twins.model.options.prior_sd: must be > 0; got {prior_sd}.")
        bad = [p for p in iiv if p not in PARAMS]
        if bad:
            raise ModelError(f"twins.model.options.iiv: unknown parameter(s) {bad}. Use a subset of "
                             f"{list(PARAMS)}.")
        if residual not in ("combined", "additive", "proportional"):
            raise ModelError(f"twins.model.options.residual: must be combined, additive or proportional; "
                             f"got {residual!r}.")
        cov = resolve_covariates(covariates, DEFAULT_COVARIATES, PARAMS, model=self.name)
        self.observed_variable = str(observed_variable)
        self.parameters = tuple(
            Parameter(name=p, unit=UNITS[p], description=DESCRIPTIONS[p], typical=typ[p],
                      prior=Prior("Normal", {"mu": float(np.log(typ[p])), "sigma": float(prior_sd)}),
                      transform="log",
                      iiv=Prior("HalfNormal", {"sigma": 0.5}) if p in iiv else None,
                      covariates=effects_from_specs(cov.get(p), where=f"twins.model.options.covariates.{p}"))
            for p in PARAMS)
        priors = {"sigma_add": Prior("HalfNormal", {"sigma": 0.5}),
                  "sigma_prop": Prior("HalfNormal", {"sigma": 0.2})}
        keep = {"combined": ("sigma_add", "sigma_prop"), "additive": ("sigma_add",),
                "proportional": ("sigma_prop",)}[residual]
        self.residual = ResidualError(kind=residual,  # type: ignore[arg-type]
                                      priors={k: priors[k] for k in keep})
        self.options = {"observed_variable": self.observed_variable, "covariates": cov,
                        "typical": typ, "prior_sd": float(prior_sd), "iiv": list(iiv),
                        "residual": residual}

    def predict(self, xp: ArrayNamespace, params: Mapping[str, Array], t: Array,
                design: Mapping[str, Array]) -> Array:
        """Concentration (mg/L) at ``t`` (h); ``design``: ``dose_time``, ``dose_amount`` (mg)."""
        ka = xp.asarray(params["ka"])[..., None]
        cl = xp.asarray(params["CL"])[..., None]
        v = xp.asarray(params["V"])[..., None]
        # doses not yet given have tau <= 0 -> tau 0, where the kernel is exactly 0
        tau = xp.maximum(xp.asarray(t)[..., None] - design["dose_time"], 0.0)
        k = absorption_kernel(xp, ka, cl / v, tau)
        return xp.sum(design["dose_amount"] * (ka / v) * k, axis=-1)

    def predict_on_grid(self, params: Mapping[str, np.ndarray], t: np.ndarray,
                        design: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Dose-by-dose propagation when every patient has the same dose times (a regimen).

        Superposition costs ``O(T D)`` kernel evaluations per patient; propagating the gut and
        central amounts from event to event (visits and dose times merged, in time order) costs
        ``O(T + D)``, and the step factors are computed once per distinct step length:

        .. math:: A_g \\leftarrow A_g e^{-k_a \\Delta},\\quad
                  A_c \\leftarrow A_c e^{-k_e \\Delta} + A_g k_a K(\\Delta),\\quad C = A_c / V

        with ``K`` the :func:`absorption_kernel` (the same closed form, applied step by step; a
        visit at a dose time is sampled before that dose, as in :meth:`predict`). Agrees with
        :meth:`predict` to ~1e-13 relative. Used only when ``dose_time`` is one row shared by all
        patients (a read-only broadcast view with stride 0 on the patient axis, as
        :func:`twintrial.arms.regimens.regimen_doses` gives it) and sorted; else ``None``
        (superposition).
        """
        times, amounts = design.get("dose_time"), design.get("dose_amount")
        if times is None or amounts is None or times.ndim != 2 or times.shape[0] == 0:
            return None
        if times.strides[0] != 0:
            # only dose times declared common (one row viewed for all patients, as regimens give
            # them), never "equal by chance": which rule a patient gets must not depend on the
            # patients simulated with it (chunk invariance to the last bit)
            return None
        common = times[0]
        if not np.all(np.isfinite(common)) or np.any(np.diff(common) < 0):
            return None
        ka, v = np.asarray(params["ka"], float), np.asarray(params["V"], float)
        ke = np.asarray(params["CL"], float) / v
        grid = np.asarray(t, dtype=float)
        out = np.empty((grid.size, ka.size))  # every visit's row is written below
        gut, central = np.zeros(ka.size), np.zeros(ka.size)
        steps: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # events in time order; at equal times visits (kind 0) come before doses (kind 1)
        events = sorted([(float(x), 0, j) for j, x in enumerate(grid)]
                        + [(float(x), 1, j) for j, x in enumerate(common)])
        now = events[0][0] if events else 0.0
        dosed = False
        for time, kind, j in events:
            dt = time - now
            if dosed and dt > 0:
                if dt not in steps:
                    steps[dt] = (np.exp(-ka * dt), np.exp(-ke * dt),
                                 ka * absorption_kernel(NUMPY, ka, ke, dt))
                e_a, e_e, k = steps[dt]
                central *= e_e  # central e_e + gut k, gut e_a (in place)
                central += gut * k
                gut *= e_a
            now = time
            if kind == 0:
                np.divide(central, v, out=out[j])
            else:
                gut += amounts[:, j]
                dosed = True
        return out

    def reference_solution(self, params: Mapping[str, Any], t: np.ndarray,
                           design: Mapping[str, Any], *, rtol: float = 1e-10) -> np.ndarray:
        """Gut and central amounts, ``dA_g/dt = -k_a A_g``, ``dA_c/dt = k_a A_g - k_e A_c``,
        integrated by SciPy (DOP853) from dose to dose (each dose added to the gut); ``C = A_c/V``
        at ``t``, a sample at a dose time taken before that dose (as in :meth:`predict`)."""
        from scipy.integrate import solve_ivp

        ka, v = float(params["ka"]), float(params["V"])
        ke = float(params["CL"]) / v
        times = np.asarray(design["dose_time"], dtype=float).ravel()
        amounts = np.asarray(design["dose_amount"], dtype=float).ravel()
        given = amounts != 0
        starts = np.unique(times[given])
        t = np.asarray(t, dtype=float)
        out = np.zeros(t.shape)
        state = np.zeros(2)
        scale = float(np.abs(amounts).sum()) or 1.0
        for k, lo in enumerate(starts):
            state[0] += amounts[given & (times == lo)].sum()
            hi = float(starts[k + 1]) if k + 1 < starts.size else max(float(t.max(initial=lo)), lo)
            inside = (t > lo) & (t <= hi)  # samples at the next dose time: before that dose
            if hi <= lo:
                continue
            grid = np.unique(np.append(t[inside], hi))
            sol = solve_ivp(lambda _s, x: [-ka * x[0], ka * x[0] - ke * x[1]], (float(lo), hi),
                            state, method="DOP853", t_eval=grid, rtol=rtol,
                            atol=rtol * 1e-2 * scale)
            out[inside] = np.interp(t[inside], grid, sol.y[1]) / v
            state = sol.y[:, -1].copy()
        return out

    def design_from_data(self, subjects: Any, doses: Any, *,
                         arm_column: str = "arm") -> dict[str, np.ndarray]:
        """Padded ``dose_time`` and ``dose_amount`` arrays ``(n_patients, max_doses)``.

        Raises
        ------
        ModelError
            If a dose is not oral or names a patient absent from ``subjects``.
        """
        ids = [str(i) for i in subjects["id"]]
        index = {i: k for k, i in enumerate(ids)}
        if doses is None or len(doses) == 0:
            z = np.zeros((len(ids), 1))
            return {"dose_time": z, "dose_amount": z.copy()}
        routes = np.asarray(doses["route"], dtype=object)
        bad = sorted({str(r) for r in routes if r != "oral"})
        if bad:
            raise ModelError(f"doses: column 'route' has {bad}; {self.name} models oral doses only. "
                             "Choose a model for that route.")
        did = [str(i) for i in doses["id"]]
        missing = sorted(set(did) - set(index))
        if missing:
            raise ModelError(f"doses: column 'id' has patients not in subjects; got {missing[:5]}. "
                             "Check the dose table ids.")
        return dose_arrays(np.array([index[i] for i in did]), np.asarray(doses["time"], float),
                           np.asarray(doses["amount"], float), n_patients=len(ids))


def dose_arrays(patient: np.ndarray, time: np.ndarray, amount: np.ndarray, *,
                n_patients: int) -> dict[str, np.ndarray]:
    """Pad long dose records (patient index, time, amount) into ``(n, max_doses)`` arrays."""
    order = np.lexsort((time, patient))
    patient, time, amount = patient[order], time[order], amount[order]
    counts = np.bincount(patient, minlength=n_patients)
    width = max(int(counts.max(initial=0)), 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(patient.size) - starts[patient]
    dt = np.zeros((n_patients, width))
    da = np.zeros((n_patients, width))
    dt[patient, slot] = time
    da[patient, slot] = amount
    return {"dose_time": dt, "dose_amount": da}


def regimen_design(n_patients: int, *, amount: float | np.ndarray, interval: float,
                   n_doses: int, start: float = 0.0) -> dict[str, np.ndarray]:
    """Design of a fixed regimen: ``n_doses`` of ``amount`` mg every ``interval`` h from ``start``.

    ``amount`` may be a scalar or a per-patient array ``(n_patients,)`` (e.g. mg/kg × weight).
    """
    if n_doses < 1 or interval < 0:
        raise ModelError(f"regimen: needs n_doses >= 1 and interval >= 0; got {n_doses}, "
                         f"{interval}.")
    times = start + interval * np.arange(n_doses, dtype=float)
    amt = np.broadcast_to(np.asarray(amount, float).reshape(-1, 1), (n_patients, n_doses))
    return {"dose_time": np.broadcast_to(times, (n_patients, n_doses)).copy(),
            "dose_amount": amt.copy()}
