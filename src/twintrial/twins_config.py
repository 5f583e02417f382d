"""Typed ``twins`` section (:class:`TwinsConfig`) and its cross-field checks.

The JSON Schema (``schemas/twins.schema.yaml``) checks types and ranges; :func:`semantic_problems`
checks what a schema cannot: that the model is registered and that the requested chains and draws
can pass the convergence gate at all.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class GateConfig:
    """Convergence thresholds (``twins.gate``)."""

    rhat_max: float = 1.01
    ess_bulk_min: float = 400.0
    ess_tail_min: float = 400.0
    max_divergences: int = 0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GateConfig:
        """Build from the validated ``twins.gate`` mapping."""
        return cls(rhat_max=float(d.get("rhat_max", 1.01)),
                   ess_bulk_min=float(d.get("ess_bulk_min", 400)),
                   ess_tail_min=float(d.get("ess_tail_min", 400)),
                   max_divergences=int(d.get("max_divergences", 0)))


@dataclass(frozen=True)
class PredictionConfig:
    """Posterior predictive settings (``twins.prediction``)."""

    grid_points: int = 50
    draws: int = 200
    interval: float = 0.9

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PredictionConfig:
        """Build from the validated ``twins.prediction`` mapping."""
        return cls(grid_points=int(d.get("grid_points", 50)), draws=int(d.get("draws", 200)),
                   interval=float(d.get("interval", 0.9)))


@dataclass(frozen=True)
class TwinsConfig:
    """The ``twins`` section: model, sampler settings, convergence gate, predictions."""

    model: str = "pk_1cmt_oral"
    model_options: Mapping[str, Any] = field(default_factory=dict)
    sampler: Literal["nutpie", "pymc"] = "nutpie"
    backend: Literal["auto", "jax", "numba"] = "auto"
    chains: int = 4
    draws: int = 1000
    tune: int = 500
    target_accept: float = 0.9
    parameterization: Literal["auto", "centered", "noncentered"] = "auto"
    auto_threshold: float = 6.0
    gate: GateConfig = field(default_factory=GateConfig)
    allow_unconverged: bool = False
    prediction: PredictionConfig = field(default_factory=PredictionConfig)
    fit_window: float | None = None
    condition_on_baseline: bool = True

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TwinsConfig:
        """Build from the validated ``twins`` mapping (missing keys take the schema defaults)."""
        m = d.get("model") or {}
        fw = d.get("fit_window")
        return cls(model=str(m.get("name", "pk_1cmt_oral")),
                   model_options=dict(m.get("options") or {}),
                   sampler=d.get("sampler", "nutpie"),
                   backend=d.get("backend", "auto"),
                   chains=int(d.get("chains", 4)), draws=int(d.get("draws", 1000)),
                   tune=int(d.get("tune", 500)),
                   target_accept=float(d.get("target_accept", 0.9)),
                   parameterization=d.get("parameterization", "auto"),
                   auto_threshold=float(d.get("auto_threshold", 6.0)),
                   gate=GateConfig.from_dict(d.get("gate") or {}),
                   allow_unconverged=bool(d.get("allow_unconverged", False)),
                   prediction=PredictionConfig.from_dict(d.get("prediction") or {}),
                   fit_window=None if fw is None else float(fw),
                   condition_on_baseline=bool(d.get("condition_on_baseline", True)))

    def replace(self, **changes: Any) -> TwinsConfig:
        """A copy with some fields changed."""
        import dataclasses

        return dataclasses.replace(self, **changes)


def _registered_models() -> list[str] | None:
    try:
        models = importlib.import_module("twintrial.models")
    except ModuleNotFoundError:
        return None
    for attr in ("available_models", "list_models", "model_names"):
        fn = getattr(models, attr, None)
        if callable(fn):
            return sorted(fn())
    reg = getattr(models, "REGISTRY", None) or getattr(models, "MODELS", None)
    return sorted(reg) if isinstance(reg, Mapping) else None


def semantic_problems(raw: Mapping[str, Any]) -> list[str]:
    """Cross-field checks of the resolved ``twins`` section (one line per problem)."""
    tw = raw.get("twins")
    if not isinstance(tw, Mapping):
        return []
    problems: list[str] = []
    name = (tw.get("model") or {}).get("name")
    known = _registered_models()
    if name and known is not None and name not in known:
        problems.append(f"twins.model.name: unknown model; got {name!r}. "
                        f"Use one of: {', '.join(known)}.")
    if tw.get("backend") == "jax" and importlib.util.find_spec("jax") is None:
        problems.append("twins.backend: 'jax' is not installed; install it (pip install jax) or "
                        "set backend: numba (or auto).")
    if not tw.get("allow_unconverged", False):
        chains, draws = int(tw.get("chains", 4)), int(tw.get("draws", 1000))
        gate = tw.get("gate") or {}
        ess_min = max(float(gate.get("ess_bulk_min", 400)), float(gate.get("ess_tail_min", 400)))
        if chains < 2:
            problems.append(f"twins.chains: R-hat needs at least 2 chains; got {chains}. "
                            "Use 4 chains (or set twins.allow_unconverged: true to explore).")
        if chains * draws < ess_min:
            problems.append(f"twins.draws: chains x draws = {chains * draws} cannot reach the "
                            f"gate's ESS minimum {ess_min:g}. Raise twins.draws to at least "
                            f"{int(-(-ess_min // chains))}.")
    return problems
