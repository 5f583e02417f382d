"""The model contract: parameters, structural prediction, residual error, optional event submodel.

A :class:`Model` declares what a digital twin is made of; the engine (``twintrial.twins``) builds the
hierarchical PyMC model from these declarations, and the arms stage simulates from the same
``predict`` in NumPy. Adding a model (Emax, indirect response, tumour growth, HbA1c turnover) means
writing one subclass and registering it: the engine does not change.

Individual parameters
---------------------
For parameter ``p`` with transform ``log`` (``identity``), patient ``i`` has

    psi_i = mu_p + sum_k beta_pk * f_k(x_ik) + eta_pi,      p_i = exp(psi_i)   (p_i = psi_i)

with ``mu_p`` the transformed typical value, ``f_k`` the covariate transform declared by
:class:`CovariateEffect` and ``eta_pi ~ Normal(0, omega_p)`` (correlated across parameters when
``Model.correlated_random_effects``).

Shape convention for ``predict`` and the event submodel
--------------------------------------------------------
All arguments broadcast elementwise against ``t``: in PyMC, parameters are indexed per observation
(shape ``(n_obs,)``); in simulation they are ``(n_patients, 1)`` against ``t`` of ``(1, n_times)``
or ``(n_patients, n_times)``, or, for a grid common to all patients, ``(n_patients,)`` against
``t`` of ``(n_times, 1)`` (time-major, what the simulator uses: NumPy runs the elementwise
operations along the long patient axis). Dose arrays in ``design`` carry ONE extra trailing axis
(doses), so a formula can write ``t[..., None] - design["dose_time"]`` and reduce with
``xp.sum(..., axis=-1)``; such keys are listed in ``Model.dose_design_keys`` (the quadrature and
the simulator insert their extra axes before the dose axis). For the event submodel, structural
parameters and design are per patient ``(n,)`` (dose keys ``(n, D)``), event parameters scalars
or ``(n,)``, and ``T`` is ``(n,)``; in NumPy the quadrature puts its node axis first, ``(K, n)``,
so the same formulas see ``t`` of shape ``(K, n)`` (:func:`nodes_first`).

Names of population quantities (shared by the fitting engine and the simulator):
:func:`mu_name` ``mu_<param>`` (typical value, transformed scale), :func:`omega_name`
``omega_<param>``, :func:`beta_name` ``beta_<param>_<covariate>``; event-submodel parameters are
population-level and keep their own names (natural scale), with ``mu_<name>`` on the
transformed scale. Centers left ``None`` are fixed once from the fitting data with
:meth:`Model.resolve_centers`; store :attr:`Model.options` with the fit and rebuild the same model
with ``get_model(name, **options)`` downstream.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from twintrial.exceptions import ModelError
from twintrial.models.backend import ArrayNamespace

Array = Any  # numpy.ndarray or pytensor TensorVariable


@dataclass(frozen=True)
class Prior:
    """A prior distribution as an object (pymc-marketing style).

    ``dist`` is a PyMC distribution name (``Normal``, ``HalfNormal``, ``LogNormal``, ``Exponential``,
    ``Gamma``, ``Beta``, ``TruncatedNormal``); ``params`` its keyword arguments.
    """

    dist: str
    params: Mapping[str, float] = field(default_factory=dict)

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Create the PyMC random variable (inside a model context)."""
        import pymc as pm

        return getattr(pm, self.dist)(name, **dict(self.params), **kwargs)

    def describe(self) -> str:
        """Human-readable form, e.g. ``Normal(mu=0, sigma=1)``."""
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.dist}({args})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {"dist": self.dist, **{k: float(v) for k, v in self.params.items()}}


@dataclass(frozen=True)
class CovariateEffect:
    """Effect of a baseline covariate on one parameter (on the transformed scale).

    ``form``: ``linear`` adds ``beta * (x - center) / scale``; ``power`` adds
    ``beta * log(x / center)`` (allometry: ``(x/center)**beta`` on a log-parameter); ``binary``
    adds ``beta * x`` for a 0/1 covariate. ``center=None`` means the data mean, fixed at fit time.
    ``fixed`` gives a coefficient that is not estimated (e.g. allometric 0.75).
    """

    covariate: str
    form: Literal["linear", "power", "binary"] = "linear"
    center: float | None = None
    scale: float = 1.0
    fixed: float | None = None
    prior: Prior = field(default_factory=lambda: Prior("Normal", {"mu": 0.0, "sigma": 1.0}))

    def transform(self, xp: ArrayNamespace, x: Array, center: float | None = None) -> Array:
        """The covariate term's regressor ``f(x)`` given the resolved ``center``.

        ``center`` defaults to ``self.center``; a ``binary`` effect needs none.
        """
        if center is None:
            center = self.center
        if center is None and self.form != "binary":
            raise ModelError(
                f"covariate '{self.covariate}': center is not resolved; got None. Call "
                "Model.resolve_centers(subjects) at fit time or give 'center' in twins.model.options.")
        if self.form == "power":
            return xp.log(x / center)
        if self.form == "binary":
            return x
        return (x - center) / self.scale

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (accepted by :meth:`from_dict`)."""
        return {"covariate": self.covariate, "form": self.form, "center": self.center,
                "scale": self.scale, "fixed": self.fixed, "prior": self.prior.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "covariate") -> CovariateEffect:
        """Build from a config mapping ``{covariate, form, center, scale, fixed, prior}``.

        ``prior`` is ``{dist: Normal, mu: 0, sigma: 1}`` (or a :class:`Prior`).
        """
        known = {"covariate", "form", "center", "scale", "fixed", "prior"}
        if not isinstance(d, Mapping) or "covariate" not in d:
            raise ModelError(f"{where}: needs a mapping with a 'covariate' key; got {d!r}. "
                             "Write e.g. {covariate: wt, form: power, center: 70}.")
        extra = sorted(set(d) - known)
        if extra:
            raise ModelError(f"{where}: unknown key(s) {extra}; allowed: {sorted(known)}.")
        form = d.get("form", "linear")
        if form not in ("linear", "power", "binary"):
            raise ModelError(f"{where}.form: must be linear, power or binary; got {form!r}.")
        scale = float(d.get("scale", 1.0))
        if not scale > 0:
            raise ModelError(f"{where}.scale: must be > 0; got {scale}.")
        center = d.get("center")
        if center is not None and form == "power" and not float(center) > 0:
            raise ModelError(f"{where}.center: a power effect needs a positive center; got {center}.")
        prior = d.get("prior")
        if prior is None:
            prior = Prior("Normal", {"mu": 0.0, "sigma": 1.0})
        elif not isinstance(prior, Prior):
            pd_ = dict(prior)
            prior = Prior(str(pd_.pop("dist", "Normal")), {k: float(v) for k, v in pd_.items()})
        fixed = d.get("fixed")
        return cls(covariate=str(d["covariate"]), form=form,
                   center=None if center is None else float(center), scale=scale,
                   fixed=None if fixed is None else float(fixed), prior=prior)


@dataclass(frozen=True)
class Parameter:
    """A structural parameter of a model.

    ``typical`` is on the natural scale; ``prior`` is the prior of ``mu_p``, the typical value on
    the *transformed* scale (for ``transform="log"``, ``Normal(log(typical), s)``, i.e. a
    log-normal prior on the natural scale). ``iiv`` is the prior of ``omega_p``, the SD of the
    random effect on the transformed scale (``None``: no random effect, population-level only).
    """

    name: str
    unit: str
    description: str
    typical: float
    prior: Prior
    transform: Literal["log", "identity"] = "log"
    iiv: Prior | None = None
    covariates: tuple[CovariateEffect, ...] = ()

    def to_transformed(self, value: float) -> float:
        """Natural-scale value -> transformed scale."""
        return float(np.log(value)) if self.transform == "log" else float(value)

    def from_transformed(self, xp: ArrayNamespace, psi: Array) -> Array:
        """Transformed scale -> natural scale."""
        return xp.exp(psi) if self.transform == "log" else psi


@dataclass(frozen=True)
class ResidualError:
    """Residual error model on the scale returned by :meth:`Model.predict`.

    ``additive``: ``y ~ N(f, sigma_add)``; ``proportional``: ``N(f, sigma_prop*|f|)``;
    ``combined``: ``N(f, sqrt(sigma_add^2 + (sigma_prop*f)^2))``. Observations flagged ``cens=1``
    (below LLOQ) contribute ``log P(y < LLOQ)`` (the M3 method, Beal 2001).
    """

    kind: Literal["additive", "proportional", "combined"] = "additive"
    priors: Mapping[str, Prior] = field(default_factory=dict)

    def sd(self, xp: ArrayNamespace, f: Array, sigmas: Mapping[str, Array]) -> Array:
        """Residual SD given prediction ``f`` and the sigma values."""
        if self.kind == "additive":
            return sigmas["sigma_add"] + 0.0 * f
        if self.kind == "proportional":
            return sigmas["sigma_prop"] * xp.abs(f) + 1e-12
        return xp.sqrt(sigmas["sigma_add"] ** 2 + (sigmas["sigma_prop"] * f) ** 2)


class EventModel(ABC):
    """A time-to-event submodel with a hazard that may depend on the structural prediction.

    The cumulative hazard is integrated numerically with Gauss–Legendre quadrature on
    ``[0, T]`` (``n_nodes`` nodes), in log space, so the same code serves the PyMC likelihood and
    the simulator. Subclasses may override :meth:`log_cumulative_hazard` with a more accurate
    rule (``WeibullBiomarkerHazard`` integrates its Weibull baseline exactly).
    """

    #: baseline covariates the hazard reads from ``design`` (as ``x_<name>``)
    covariate_names: tuple[str, ...] = ()

    #: population-level parameters of the hazard (no random effects)
    parameters: tuple[Parameter, ...] = ()
    n_nodes: int = 15

    @abstractmethod
    def log_hazard(self, xp: ArrayNamespace, t: Array, params: Mapping[str, Array],
                   design: Mapping[str, Array], model: Model) -> Array:
        """Log hazard at times ``t`` (same broadcasting convention as ``Model.predict``)."""

    def log_cumulative_hazard(self, xp: ArrayNamespace, T: Array, params: Mapping[str, Array],
                              design: Mapping[str, Array], model: Model) -> Array:
        """``log H(T) = log int_0^T h(s) ds`` by Gauss–Legendre quadrature (vectorised)."""
        nodes, weights = gauss_legendre(self.n_nodes)
        if nodes_first(xp, T, params, design, model):
            # NumPy, one time per row: the node axis first, (K, n), see nodes_first
            lh = self.log_hazard(xp, T * nodes[:, None], params, design, model)
            return np.log(T) + logsumexp_nodes(lh + np.log(weights)[:, None], overwrite=True)
        # s_k = T u_k with u_k the nodes on [0, 1]; an extra trailing axis holds the nodes
        s = T[..., None] * nodes
        p_nodes, d_nodes = expand_for_nodes(params, design, model)
        lh = self.log_hazard(xp, s, p_nodes, d_nodes, model)
        return xp.log(T) + xp.logsumexp(lh + np.log(weights), axis=-1)


@functools.lru_cache(maxsize=32)
def gauss_legendre(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights mapped to ``[0, 1]`` (weights sum to 1; read-only arrays,
    computed once per size: the simulator's Newton steps ask for them on every step)."""
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    nodes, weights = (x + 1.0) / 2.0, w / 2.0
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


def expand_for_nodes(params: Mapping[str, Array], design: Mapping[str, Array],
                     model: Model) -> tuple[dict[str, Array], dict[str, Array]]:
    """Insert a quadrature-node axis into per-row parameters and design arrays.

    Per-row arrays (``ndim >= 1``) get a trailing node axis (``v[..., None]``); design arrays
    named in ``model.dose_design_keys`` keep their dose axis last (``v[..., None, :]``).
    Scalars (population parameters) are left alone.
    """
    dose_keys = set(getattr(model, "dose_design_keys", ()))
    p = {k: (v[..., None] if _is_per_row(v) else v) for k, v in params.items()}
    d = {}
    for k, v in design.items():
        if k in dose_keys:
            d[k] = v[..., None, :]
        else:
            d[k] = v[..., None] if _is_per_row(v) else v
    return p, d


def _is_per_row(v: Any) -> bool:
    return getattr(v, "ndim", 0) >= 1


def nodes_first(xp: ArrayNamespace, T: Any, params: Mapping[str, Any],
                design: Mapping[str, Any], model: Model) -> bool:
    """Whether the quadrature can put its node axis first: NumPy, ``T`` of shape ``(n,)`` and
    every per-row parameter and (non-dose) design array ``(n,)``.

    Nodes first, ``(K, n)``, the elementwise work runs along the long patient axis (a short
    trailing node axis costs NumPy several times more), and :func:`logsumexp_nodes` sums the K
    node terms in a fixed order, so the result does not depend on how many patients are
    evaluated together. The PyTensor likelihood keeps the trailing node axis.
    """
    if xp.name != "numpy" or np.ndim(T) != 1:
        return False
    n = np.shape(T)[0]
    dose_keys = set(getattr(model, "dose_design_keys", ()))
    arrays = [v for v in params.values() if _is_per_row(v)]
    arrays += [v for k, v in design.items() if k not in dose_keys and _is_per_row(v)]
    return all(np.shape(v) == (n,) for v in arrays)


def logsumexp_nodes(x: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """``log(sum(exp(x), axis=0))`` over the node axis, stabilised by the maximum; the terms are
    added one node after the other (the same order for any number of columns).

    ``overwrite=True`` uses ``x`` (a float array the caller owns) as the work array: the same
    result, without allocating another array of ``x``'s size.
    """
    m = np.max(x, axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.subtract(x, m, out=x if overwrite else None)
    np.exp(e, out=e)
    total = e[0].copy()
    for k in range(1, e.shape[0]):
        total += e[k]
    with np.errstate(divide="ignore"):
        return np.log(total) + m


# ----------------------------------------------------------------- naming of population quantities
def mu_name(param: str) -> str:
    """Name of the typical value of ``param`` on the transformed scale (``mu_<param>``)."""
    return f"mu_{param}"


def omega_name(param: str) -> str:
    """Name of the inter-individual SD of ``param`` (``omega_<param>``)."""
    return f"omega_{param}"


def beta_name(param: str, covariate: str) -> str:
    """Name of the coefficient of ``covariate`` on ``param`` (``beta_<param>_<covariate>``)."""
    return f"beta_{param}_{covariate}"


class Model(ABC):
    """Base class of the model library (see the module docstring for the contract)."""

    #: registry name, e.g. ``pk_1cmt_oral``
    name: str = ""
    #: literature source of the structural model
    citation: str = ""
    #: the data variable this model fits (``observations.variable``)
    observed_variable: str = ""
    #: the time unit the parameters are expressed in
    time_unit: str = ""
    #: equations as LaTeX-ish text for the report
    equations: tuple[str, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    residual: ResidualError = ResidualError()
    event: EventModel | None = None
    correlated_random_effects: bool = False
    #: design keys whose arrays carry a trailing dose axis (see the module docstring)
    dose_design_keys: tuple[str, ...] = ()
    #: constructor keyword options, JSON-serialisable: ``get_model(name, **options)`` rebuilds
    #: the same model (store them with the fit so later stages use identical centers)
    options: Mapping[str, Any] = {}

    @abstractmethod
    def predict(self, xp: ArrayNamespace, params: Mapping[str, Array], t: Array,
                design: Mapping[str, Array]) -> Array:
        """Structural prediction of the observed variable (on the residual model's scale)."""

    def predict_on_grid(self, params: Mapping[str, np.ndarray], t: np.ndarray,
                        design: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """NumPy-only faster rule for :meth:`predict` at a grid common to all patients, or ``None``.

        ``params`` and non-dose design arrays are ``(n,)``, dose arrays ``(n, D)``, ``t`` is
        ``(T,)``; the result is ``(T, n)`` (time-major). Return ``None`` when there is no faster
        rule for these inputs (the default): the simulator then evaluates :meth:`predict`. A model
        overriding it must agree with :meth:`predict` to rounding.
        """
        return None

    def reference_solution(self, params: Mapping[str, Any], t: np.ndarray,
                           design: Mapping[str, Any], *, rtol: float = 1e-10) -> np.ndarray | None:
        """One patient's prediction at ``t`` by an independent numerical method, or ``None``.

        For code verification (:mod:`twintrial.validation.verification`): a model whose
        :meth:`predict` is a closed-form solution of differential equations integrates those
        equations numerically here (scalar ``params`` and design rows of one patient, ``t`` of
        shape ``(T,)``; result ``(T,)``), so the closed form and its fast NumPy rules are checked
        against a solution that shares no code with them. The default has none.
        """
        return None

    def observation_transform(self, xp: ArrayNamespace, values: Array) -> Array:
        """Map raw observed values to the scale of :meth:`predict` (identity by default)."""
        return values

    def design_from_data(self, subjects: Any, doses: Any, *, arm_column: str = "arm") -> dict[str, np.ndarray]:
        """Per-patient design arrays (doses, treatment indicators) from canonical tables.

        Returns a mapping of arrays whose first axis is the patient (order of ``subjects``); dose
        arrays have a trailing dose axis padded with zero amounts.
        """
        return {}

    def parameter(self, name: str) -> Parameter:
        """Look up a parameter by name."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the structural parameters, in declaration order."""
        return tuple(p.name for p in self.parameters)

    @property
    def random_effect_names(self) -> tuple[str, ...]:
        """Structural parameters with inter-individual variability (the columns of ``eta``)."""
        return tuple(p.name for p in self.parameters if p.iiv is not None)

    @property
    def event_parameter_names(self) -> tuple[str, ...]:
        """Population-level parameters of the event submodel (empty without one)."""
        return () if self.event is None else tuple(p.name for p in self.event.parameters)

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """Every baseline covariate the model reads (structural and event), sorted."""
        names = {c.covariate for p in self.parameters for c in p.covariates}
        names |= set(getattr(self.event, "covariate_names", ()))
        return tuple(sorted(names))

    def unresolved_centers(self) -> list[str]:
        """Key paths of centers still ``None`` (to be fixed from data by :meth:`resolve_centers`)."""
        out = [f"covariates.{p.name}.{c.covariate}" for p in self.parameters for c in p.covariates
               if c.center is None and c.form != "binary"]
        return out + list(self._unresolved_extra())

    def _unresolved_extra(self) -> list[str]:
        return []

    def resolve_centers(self, subjects: Any, observations: Any = None) -> Model:
        """A copy of the model with every ``center=None`` fixed from the fitting data.

        Covariate centers become the mean of the covariate column in ``subjects`` (for ``power``
        effects, the median); models may fix further data-based constants from ``observations``
        (canonical long table). Call once at fit time and store :attr:`options` with the fit.

        Raises
        ------
        ModelError
            If a needed covariate column is missing or has no finite values.
        """
        import copy

        opts = copy.deepcopy(dict(self.options))
        problems: list[str] = []

        def fill(spec: dict[str, Any], where: str) -> None:
            if spec.get("center") is not None or spec.get("form", "linear") == "binary":
                return
            cov = spec["covariate"]
            if cov not in getattr(subjects, "columns", ()):
                problems.append(f"{where}: covariate column '{cov}' not in subjects; got columns "
                                f"{list(getattr(subjects, 'columns', []))}. Add it to the cohort.")
                return
            x = np.asarray(subjects[cov], dtype=float)
            x = x[np.isfinite(x)]
            if x.size == 0:
                problems.append(f"{where}: covariate '{cov}' has no finite values. Check the data.")
                return
            spec["center"] = float(np.median(x) if spec.get("form") == "power" else np.mean(x))

        for param, specs in dict(opts.get("covariates") or {}).items():
            for j, spec in enumerate(specs):
                fill(spec, f"twins.model.options.covariates.{param}[{j}]")
        for j, spec in enumerate(opts.get("hazard_covariates") or []):
            fill(spec, f"twins.model.options.hazard_covariates[{j}]")
        opts.update(self._data_constants(observations, problems))
        if problems:
            raise ModelError(problems)
        return type(self)(**opts)

    def _data_constants(self, observations: Any, problems: list[str]) -> dict[str, Any]:
        """Hook: further options fixed from the observations at fit time."""
        return {}

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description for provenance and the report."""
        return {
            "name": self.name,
            "citation": self.citation,
            "observed_variable": self.observed_variable,
            "time_unit": self.time_unit,
            "equations": list(self.equations),
            "parameters": [
                {"name": p.name, "unit": p.unit, "description": p.description,
                 "typical": p.typical, "transform": p.transform, "prior": p.prior.to_dict(),
                 "iiv": p.iiv.to_dict() if p.iiv else None,
                 "covariates": [c.to_dict() for c in p.covariates]}
                for p in self.parameters
            ],
            "residual": {"kind": self.residual.kind,
                         "priors": {k: v.to_dict() for k, v in self.residual.priors.items()}},
            "event": None if self.event is None else {
                "parameters": [{"name": p.name, "unit": p.unit, "prior": p.prior.to_dict()}
                               for p in self.event.parameters],
                "quadrature_nodes": self.event.n_nodes},
            "options": dict(self.options),
        }
