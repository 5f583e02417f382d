"""Readable HTML for the small LaTeX subset model equations are written in.

The report is self-contained and must not load MathJax, so equations are turned into escaped
text with Greek letters, operators, and ``<sub>``/``<sup>`` for ``_{...}`` and ``^{...}``.
Anything not recognised is kept as written (the raw LaTeX is shown next to it as well).
"""

from __future__ import annotations

from markupsafe import Markup, escape

_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η",
    "theta": "θ", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π",
    "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Sigma": "Σ", "Phi": "Φ",
    "Omega": "Ω", "sum": "Σ", "prod": "Π", "int": "∫", "sim": "~", "times": "×", "cdot": "·",
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠", "approx": "≈", "infty": "∞",
    "top": "ᵀ", "partial": "∂", "to": "→", "in": "∈", "pm": "±", "propto": "∝", "equiv": "≡", "cap": "∩", "cup": "∪", "log": "log", "exp": "exp",
    "ln": "ln", "min": "min", "max": "max", "quad": "\u2003", "qquad": "\u2003\u2003",
    "left": "", "right": "", "mid": "|", "ldots": "…", "dots": "…", "cdots": "⋯",
}
_SPACES = {",": "\u2009", ";": "\u2002", ":": "\u2005", "!": "", " ": " "}
_WRAPPERS = ("text", "mathrm", "operatorname", "mathit", "mathbf", "boldsymbol", "hat", "bar",
             "tilde")


def _group(src: str, i: int) -> tuple[str, int]:
    """The ``{...}`` group (or single character / command) starting at ``src[i]``."""
    if i >= len(src):
        return "", i
    if src[i] == "{":
        depth, j = 0, i
        while j < len(src):
            depth += {"{": 1, "}": -1}.get(src[j], 0)
            if depth == 0:
                return src[i + 1:j], j + 1
            j += 1
        return src[i + 1:], len(src)
    if src[i] == "\\":
        j = i + 1
        while j < len(src) and src[j].isalpha():
            j += 1
        return src[i:max(j, i + 2)], max(j, i + 2)
    return src[i], i + 1


def _convert(src: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            j = i + 1
            while j < len(src) and src[j].isalpha():
                j += 1
            name = src[i + 1:j]
            if not name and j < len(src):  # \, \; \{ \} ...
                c = src[j]
                out.append(_SPACES.get(c, str(escape(c))))
                i = j + 1
                continue
            if name == "frac":
                num, k = _group(src, j)
                den, k = _group(src, k)
                out.append(f"({_convert(num)})/({_convert(den)})")
                i = k
            elif name in _WRAPPERS:
                body, k = _group(src, j)
                mark = {"hat": "\u0302", "bar": "\u0304", "tilde": "\u0303"}.get(name, "")
                out.append(_convert(body) + mark)
                i = k
            elif name == "sqrt":
                body, k = _group(src, j)
                out.append(f"√({_convert(body)})")
                i = k
            elif name in _SYMBOLS:
                sym = _SYMBOLS[name]
                if name in ("log", "exp", "ln", "min", "max"):
                    if out and out[-1][-1:] not in ("", " ", "(", "\u2003", "\u2009"):
                        sym = " " + sym
                    if j < len(src) and src[j] not in " ({":
                        sym += " "
                out.append(sym)
                i = j
            else:
                out.append(str(escape(src[i:j])))
                i = j
        elif ch in "_^":
            body, k = _group(src, i + 1)
            if ch == "^" and body.strip() in ("\\top", "T"):
                out.append("ᵀ")
                i = k
                continue
            tag = "sub" if ch == "_" else "sup"
            out.append(f"<{tag}>{_convert(body)}</{tag}>")
            i = k
        elif ch in "{}":
            i += 1
        else:
            out.append(str(escape(ch)))
            i += 1
    return "".join(out)


def latex_to_html(text: str) -> Markup:
    """Escaped, readable HTML for one equation in the LaTeX subset used by model descriptions.

    >>> str(latex_to_html(r"y_{ij} \\sim N(\\mu, \\sigma)"))
    'y<sub>ij</sub> ~ N(μ, σ)'
    """
    return Markup(_convert(str(text)))
