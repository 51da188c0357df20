"""The unified gradient-perturbation layer (docs/method.md §2).

Logit level: ``perturb_logit_grad`` (the op LPG, reweighting and GDW-style methods build on).
Parameter level: clipping, annealed Gaussian noise and SAM's ascent step.
"""

from lpg_meta.perturb.logit import perturb_logit_grad
from lpg_meta.perturb.param import (
    add_gradient_noise,
    bn_running_stats_frozen,
    clip_grad_norm,
    noise_std,
    sam_perturb,
    sam_restore,
)

__all__ = [
    "add_gradient_noise",
    "bn_running_stats_frozen",
    "clip_grad_norm",
    "noise_std",
    "perturb_logit_grad",
    "sam_perturb",
    "sam_restore",
]
