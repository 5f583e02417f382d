"""Which inputs drive each output, in words, for the report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from twintrial.sensitivity.analyze import SensitivityResult


def _fmt(v: float) -> str:
    return f"{v:.2f}"


def _ranked(result: SensitivityResult, out: str) -> list[int]:
    idx = result.indices[out]
    key = "ST" if result.method == "sobol" else "mu_star"
    vals = np.nan_to_num(idx[key], nan=-np.inf)
    return sorted(range(len(result.inputs)), key=lambda j: (-vals[j], j))


def top_drivers(result: SensitivityResult, *, threshold: float = 0.1) -> dict[str, list[str]]:
    """Names of the inputs driving each output, most important first.

    Sobol': inputs with ST >= ``threshold``. Morris: inputs with mu* >= ``threshold`` times the
    largest mu* of the output.
    """
    out: dict[str, list[str]] = {}
    for name in result.outputs:
        idx = result.indices[name]
        key = "ST" if result.method == "sobol" else "mu_star"
        vals = idx[key]
        if not np.isfinite(vals).any():
            out[name] = []
            continue
        cut = threshold if result.method == "sobol" else threshold * float(np.nanmax(vals))
        out[name] = [result.inputs[j] for j in _ranked(result, name) if vals[j] >= cut]
    return out


def _sobol_text(result: SensitivityResult, out: str, threshold: float, negligible: float) -> str:
    idx, names = result.indices[out], result.inputs
    order = _ranked(result, out)
    parts: list[str] = []
    for rank, j in enumerate(order):
        st, conf, s1 = idx["ST"][j], idx["ST_conf"][j], idx["S1"][j]
        if st < threshold:
            break
        role = ("it drives most of the variance of" if st >= 0.5 else
                "it is a major driver of" if st >= 0.25 else "it contributes to")
        alone = (" mostly through interactions" if s1 < 0.5 * st else
                 " mostly on its own" if s1 >= 0.8 * st else "")
        parts.append(f"ST of {names[j]} is {_fmt(st)} (±{_fmt(conf)}; S1 {_fmt(s1)}): "
                     f"{role} {out}{alone}")
        if rank >= 3:
            break
    if not parts:
        text = (f"No input has ST >= {threshold} for {out}: its variance is spread thinly over "
                f"the inputs")
    else:
        text = "; ".join(parts)
    interaction = 1.0 - float(np.nansum(idx["S1"]))
    if interaction > 0.1:
        text += (f". Interactions account for about {interaction:.0%} of the variance "
                 f"(1 - sum of S1)")
    if "S2" in idx:
        s2 = np.nan_to_num(idx["S2"], nan=-np.inf)
        j, k = np.unravel_index(int(np.argmax(s2)), s2.shape)
        if s2[j, k] >= threshold / 2:
            text += (f". The largest interaction is {names[j]} × {names[k]} "
                     f"(S2 {_fmt(s2[j, k])} ±{_fmt(idx['S2_conf'][j, k])})")
    small = [names[j] for j in order if idx["ST"][j] < negligible]
    if small:
        text += (f". {', '.join(small)} {'has' if len(small) == 1 else 'have'} ST < {negligible}: "
                 f"negligible influence on {out}; fixing them at nominal values loses little")
    return text + "."


def _morris_text(result: SensitivityResult, out: str, threshold: float, negligible: float) -> str:
    idx, names = result.indices[out], result.inputs
    order = _ranked(result, out)
    top = float(idx["mu_star"][order[0]])
    head = order[0]
    text = (f"Ranked by mu* (mean absolute elementary effect), {names[head]} has the largest "
            f"influence on {out} (mu* {idx['mu_star'][head]:.3g} ±{idx['mu_star_conf'][head]:.2g}, "
            f"sigma {idx['sigma'][head]:.3g})")
    rest = [j for j in order[1:4] if idx["mu_star"][j] >= threshold * top]
    if rest:
        text += ", followed by " + ", ".join(
            f"{names[j]} (mu* {idx['mu_star'][j]:.3g})" for j in rest)
    nonlinear = [names[j] for j in order if idx["mu_star"][j] >= threshold * top
                 and idx["sigma"][j] > idx["mu_star"][j]]
    if nonlinear:
        text += (f". sigma exceeds mu* for {', '.join(nonlinear)}: their effect is non-linear "
                 "or depends on other inputs")
    small = [names[j] for j in order if idx["mu_star"][j] < negligible * top]
    if small:
        text += (f". {', '.join(small)} {'has' if len(small) == 1 else 'have'} mu* below "
                 f"{negligible:.0%} of the largest: negligible influence on {out}")
    return text + "."


def describe_drivers(result: SensitivityResult, *, threshold: float = 0.1,
                     negligible: float = 0.05) -> dict[str, str]:
    """Say, for each output, which inputs drive it (one paragraph per output).

    Parameters
    ----------
    result
        From :func:`~twintrial.sensitivity.analyze_sensitivity`.
    threshold
        Sobol': smallest ST named as a driver. Morris: smallest mu*, as a fraction of the
        largest mu* of the output.
    negligible
        Below this ST (Sobol') or fraction of the largest mu* (Morris) an input is called
        negligible.

    Returns
    -------
    dict
        Output name -> text such as ``"ST of slope is 0.62 (±0.04; S1 0.58): it drives most of
        the variance of power mostly on its own; ..."``.
    """
    texts: dict[str, str] = {}
    for out in result.outputs:
        idx: dict[str, Any] = result.indices[out]
        key = "ST" if result.method == "sobol" else "mu_star"
        if not np.isfinite(idx[key]).any():
            texts[out] = f"{out} is constant over the samples: no input influences it."
        elif result.method == "sobol":
            texts[out] = _sobol_text(result, out, threshold, negligible)
        else:
            texts[out] = _morris_text(result, out, threshold, negligible)
        if not result.convergence.get(out, {}).get("converged", True):
            texts[out] += " These indices have not converged; treat the ranking as provisional."
    return texts
