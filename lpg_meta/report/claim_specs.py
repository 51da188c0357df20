"""The claims a suite tests, declared in its ``claims:`` section (plain data, checked at suite load).

::

    claims:
      outperforms:                       # the claim's name
        text: LPG outperforms the baselines
        method: lpg                      # a method row, or X: every lpg+X row against its X
        baselines: [ce, focal]           # default: every row whose method is not an lpg one
        datasets: [mnist1d_lt, digits_lt]  # default: every data set row
        metric: balanced_accuracy        # default balanced_accuracy
        rope: 1.0                        # region of practical equivalence, metric points (default 1)
        alpha: 0.05                      # default 0.05

Without the section the LPG paper's two claims apply: ``lpg`` against every baseline, and
every ``lpg+X`` against ``X``. The suite runner writes the checked section into ``runs.json``,
so ``lpg-meta claims`` reads the claims from the results, never from training code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lpg_meta import catalog
from lpg_meta.catalog.methods import PROPOSED
from lpg_meta.errors import UserError, closest
from lpg_meta.report.layout import METRICS

CLAIM_KEYS = ("text", "method", "baselines", "datasets", "metric", "rope", "alpha")
PLUG_IN = "X"  # method: X means every lpg+X row against its base X
DEFAULT_ROPE = 1.0
DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class ClaimSpec:
    """One declared claim; ``baselines`` / ``datasets`` None mean every one that applies."""

    name: str
    text: str
    method: str
    baselines: tuple[str, ...] | None = None
    datasets: tuple[str, ...] | None = None
    metric: str = "balanced_accuracy"
    rope: float = DEFAULT_ROPE
    alpha: float = DEFAULT_ALPHA

    @property
    def plug_in(self) -> bool:
        return self.method == PLUG_IN


_SHOWN = catalog.method_display_name(PROPOSED)  # LPG
# The paper's claims: its method against every row of another family, and each plug-in row against its base.
DEFAULT_CLAIMS = (ClaimSpec("outperforms", f"{_SHOWN} outperforms the baselines", PROPOSED),
                  ClaimSpec("plug_in", f"{_SHOWN}+{PLUG_IN} improves {PLUG_IN}", PLUG_IN))


def _rows(value: Any, where: str, known: list[str]) -> tuple[str, ...] | None:
    if value is None or value == "all":
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise UserError(f"{where} must be a list of row names or 'all', got {value!r}.")
    for name in value:
        if name not in known:
            raise UserError(f"{where}: no row named {name!r}.{closest(name, known)} Rows: {', '.join(known)}.")
    return tuple(value)


def _number(value: Any, where: str, default: float, alpha: bool) -> float:
    if value is None:
        return default
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if alpha and not (number and 0 < value < 0.5):
        raise UserError(f"{where} must be a number in (0, 0.5), e.g. 0.05; got {value!r}.")
    if not alpha and not (number and value >= 0):
        raise UserError(f"{where} must be a number of metric points >= 0 (the region of practical "
                        f"equivalence), e.g. 1.0; got {value!r}.")
    return float(value)


def parse_claims(value: Any, datasets: list[str], methods: list[str]) -> list[dict[str, Any]] | None:
    """Check a ``claims:`` section against the suite's rows; plain data for ``runs.json`` (None: absent)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise UserError(f"claims must be a mapping of claim names to claims, e.g. "
                        f"{{outperforms: {{method: lpg, baselines: [ce]}}}}; got {value!r}.")
    out = []
    for name, claim in value.items():
        where = f"claims.{name}"
        if not isinstance(claim, dict):
            raise UserError(f"{where} must be a mapping with keys {', '.join(CLAIM_KEYS)}, got {claim!r}.")
        for key in claim:
            if key not in CLAIM_KEYS:
                raise UserError(f"{where}.{key}: unknown key.{closest(str(key), CLAIM_KEYS)} "
                                f"Allowed: {', '.join(CLAIM_KEYS)}.")
        method = claim.get("method")
        if method != PLUG_IN and method not in methods:
            raise UserError(f"{where}.method: {method!r} is neither a method row nor {PLUG_IN} (every lpg+X "
                            f"against X).{closest(str(method), methods)} Rows: {', '.join(methods)}.")
        metric = claim.get("metric", "balanced_accuracy")
        if metric not in METRICS:
            raise UserError(f"{where}.metric: unknown metric {metric!r}.{closest(str(metric), METRICS)} "
                            f"Known: {', '.join(METRICS)}.")
        text = claim.get("text", f"{method} outperforms the baselines" if method != PLUG_IN else "LPG+X improves X")
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"{where}.text must be a sentence, got {text!r}.")
        out.append({"name": str(name), "text": text, "method": method,
                    "baselines": _rows(claim.get("baselines"), f"{where}.baselines", methods),
                    "datasets": _rows(claim.get("datasets"), f"{where}.datasets", datasets),
                    "metric": metric,
                    "rope": _number(claim.get("rope"), f"{where}.rope", DEFAULT_ROPE, alpha=False),
                    "alpha": _number(claim.get("alpha"), f"{where}.alpha", DEFAULT_ALPHA, alpha=True)})
        if out[-1]["baselines"] is not None and method == PLUG_IN:
            raise UserError(f"{where}.baselines: a plug-in claim (method: {PLUG_IN}) compares each lpg+X with its "
                            "own X; drop baselines.")
    return [{k: list(v) if isinstance(v, tuple) else v for k, v in c.items()} for c in out]


def claim_specs(declared: list[dict[str, Any]] | None) -> tuple[ClaimSpec, ...]:
    """The claims a report tests: the declared ones (``parse_claims``' output), else the paper's."""
    if not declared:
        return DEFAULT_CLAIMS
    return tuple(ClaimSpec(c["name"], c["text"], c["method"],
                           None if c.get("baselines") is None else tuple(c["baselines"]),
                           None if c.get("datasets") is None else tuple(c["datasets"]),
                           c.get("metric", "balanced_accuracy"), float(c.get("rope", DEFAULT_ROPE)),
                           float(c.get("alpha", DEFAULT_ALPHA))) for c in declared)
