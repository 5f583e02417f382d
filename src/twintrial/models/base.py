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
or ``(n_patients, n_times)``. Dose arrays in ``design`` carry ONE extra trailing axis (doses), so a
formula can write ``t[..., None] - design["dose_time"]`` and reduce with ``xp.sum(..., axis=-1)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

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

    def transform(self, xp: ArrayNamespace, x: Array, center: float) -> Array:
        """The covariate term's regressor ``f(x)`` given the resolved ``center``."""
        if self.form == "power":
            return xp.log(x / center)
        if self.form == "binary":
            return x
        return (x - center) / self.scale


@dataclass(frozen=True)
class Parameter:
    """A structural parameter of a model."""

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
    the simulator.
    """

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
        nodes, weights = np.polynomial.legendre.leggauss(self.n_nodes)
        # s_k = T/2 (x_k + 1); an extra trailing axis holds the nodes
        half = T / 2.0
        s = half[..., None] * (nodes + 1.0)
        expand = {k: (v[..., None] if _is_per_row(v) else v) for k, v in params.items()}
        dexp = {k: (v[..., None] if _is_per_row(v) else v) for k, v in design.items()}
        lh = self.log_hazard(xp, s, expand, dexp, model)
        return xp.log(half) + xp.logsumexp(lh + np.log(weights), axis=-1)


def _is_per_row(v: Any) -> bool:
    return getattr(v, "ndim", 0) >= 1


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

    @abstractmethod
    def predict(self, xp: ArrayNamespace, params: Mapping[str, Array], t: Array,
                design: Mapping[str, Array]) -> Array:
        """Structural prediction of the observed variable (on the residual model's scale)."""

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
                 "covariates": [{"covariate": c.covariate, "form": c.form, "center": c.center,
                                 "fixed": c.fixed} for c in p.covariates]}
                for p in self.parameters
            ],
            "residual": {"kind": self.residual.kind,
                         "priors": {k: v.to_dict() for k, v in self.residual.priors.items()}},
            "event": None if self.event is None else {
                "parameters": [{"name": p.name, "unit": p.unit, "prior": p.prior.to_dict()}
                               for p in self.event.parameters],
                "quadrature_nodes": self.event.n_nodes},
        }
