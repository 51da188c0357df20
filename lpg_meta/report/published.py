"""Published numbers (docs/method.md §7) as data, and how a run's setting maps onto them.

All are paper-scale anchors with ResNet-32. The long-tail numbers are top-1 **error** %;
the noisy-label numbers are top-1 **accuracy** %. The CIFAR test sets are balanced
(1,000 / 100 images per class), so on them top-1 accuracy equals balanced accuracy and a
published number also anchors ``balanced_accuracy``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

LDAM = "Cao et al. 2019 (LDAM-DRW), Table 2"
LA = "Menon et al. 2021 (logit adjustment), Table 3, 1241-epoch protocol"
LPL = "Li et al. AAAI 2022 (LPL) slides"
CMWN = "CMW-Net README (Shu et al.)"
GDW = "GDW repository logs (GGchen1997/GDW-NIPS2021), ResNet-32, 80 epochs"


@dataclass(frozen=True)
class Published:
    """One published number: ``value`` % of ``kind`` ('error' or 'accuracy')."""

    protocol: str
    method: str
    value: float
    kind: str
    source: str
    primary: bool = True  # False: kept for the record, but another entry fills the cell

    def as_metric(self, metric: str) -> float | None:
        """The number in percent of ``metric``; None where it cannot stand for that metric."""
        accuracy = self.value if self.kind == "accuracy" else 100.0 - self.value
        if metric in ("accuracy", "balanced_accuracy"):
            return accuracy
        if metric == "error":
            return 100.0 - accuracy
        return None


_LT_PROTOCOLS = ("C10-LT 100", "C10-LT 10", "C100-LT 100", "C100-LT 10")
_LT_ROWS: dict[str, tuple[str, tuple[float | None, ...]]] = {
    # method: (source, error % per protocol in _LT_PROTOCOLS order; None: not published)
    "ERM": (LDAM, (29.64, 13.61, 61.68, 44.30)),
    "Focal": (LDAM, (29.62, 13.34, 61.59, 44.22)),
    "LDAM-DRW": (LDAM, (22.97, 11.84, 57.96, 41.29)),
    "LA": (LA, (22.33, None, 56.11, None)),
    "MW-Net": (f"MW-Net rerun by CMW-Net, as listed with {LPL}", (26.43, 12.45, 58.39, 41.09)),
    "LPL": (LPL, (22.05, 10.59, 55.75, 39.03)),
    "LA+LPL": (LPL, (21.46, None, 53.89, None)),
}

NOISY = "C10 sym_incl 40%"
PUBLISHED: tuple[Published, ...] = (
    *(Published(protocol, method, value, "error", source)
      for method, (source, values) in _LT_ROWS.items()
      for protocol, value in zip(_LT_PROTOCOLS, values, strict=True) if value is not None),
    Published(NOISY, "ERM", 77.52, "accuracy", CMWN),
    Published(NOISY, "GCE", 87.31, "accuracy", CMWN),
    Published(NOISY, "L2RW", 87.18, "accuracy", CMWN),
    Published(NOISY, "MW-Net", 86.53, "accuracy", CMWN),
    Published(NOISY, "GDW", 87.97, "accuracy", GDW),
    # The GDW logs' own MW-Net run; the CMW-Net README number above fills the cell.
    Published(NOISY, "MW-Net", 86.62, "accuracy", GDW, primary=False),
)

# Our method names -> the names the papers use. Plug-in order varies, so both spellings. This is data
# about published numbers, not a switch on methods: it says which printed row of which paper a method's
# cell is set beside (the papers' "ERM" is our ce), a fact of those papers that no declaration can
# hold, and a method missing here is shown with no published number, not treated otherwise.
METHOD_NAMES: dict[str, str] = {
    "ce": "ERM", "focal": "Focal", "ldam_drw": "LDAM-DRW", "la": "LA", "mwnet": "MW-Net",
    "lpl": "LPL", "la+lpl": "LA+LPL", "lpl+la": "LA+LPL", "gce": "GCE", "l2rw": "L2RW", "gdw": "GDW",
}

_WIDE_MODELS = ("wrn",)  # model-name prefixes that never match a (ResNet-32) protocol

# LDAM-DRW's CIFAR-LT protocol keeps 5,000 / 500 images in the largest class.
_LT_N_MAX = {"cifar10": 5000, "cifar100": 500}


def _close(a: Any, b: float) -> bool:
    return isinstance(a, (int, float)) and math.isclose(float(a), b, rel_tol=1e-9, abs_tol=1e-9)


def protocol_of(config: dict[str, Any]) -> str | None:
    """The section-7 protocol a run's config follows, or None.

    Long tail: CIFAR, ``exp`` profile, imbalance 100 or 10, no noise, the default n_max.
    Noisy: CIFAR-10, balanced, ``sym_incl`` at 40%: the MW-Net "unif" corruption the
    CMW-Net and GDW code inherit (``sym_excl`` flips more labels, so it is not matched).
    Every published number is for ResNet-32. Runs of a wide ResNet (the WRN-28-10 rows of
    benchmarks/cifar.yaml, 36M parameters, several points more accurate) match nothing: beside
    them a ResNet-32 anchor would mislead. Other models still match, and the table's footnote
    names the model that was run.
    """
    dataset = config.get("dataset")
    data = config.get("data") or {}
    if dataset not in _LT_N_MAX or str(config.get("model", "")).startswith(_WIDE_MODELS):
        return None
    imbalance = float(data.get("imbalance") or 1.0)
    noise = data.get("noise") or "none"
    if noise == "none" and data.get("profile", "exp") == "exp" and data.get("n_max") in (None, _LT_N_MAX[dataset]):
        for rho in (100, 10):
            if _close(imbalance, rho):
                return f"{'C10' if dataset == 'cifar10' else 'C100'}-LT {rho}"
    if dataset == "cifar10" and _close(imbalance, 1.0) and noise == "sym_incl" and _close(data.get("noise_rate"), 0.4):
        return NOISY
    return None


def lookup(protocol: str | None, method: str | None) -> Published | None:
    """The primary published number for (protocol, our method name), or None."""
    name = METHOD_NAMES.get(str(method))
    for entry in PUBLISHED:
        if entry.primary and entry.protocol == protocol and entry.method == name:
            return entry
    return None
