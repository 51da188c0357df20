"""LPG core: perturbation forms, the bilevel look-ahead step and the closed-form rule."""

from lpg_meta.lpg.amplification import AmplificationLog
from lpg_meta.lpg.forms import (
    FORMS,
    ClipForm,
    Form,
    MatrixForm,
    ScaleForm,
    ShiftForm,
    Transform,
    build_form,
)
from lpg_meta.lpg.jvp import fd_directional, fd_step_size, jvp_meta_grad, rng_state
from lpg_meta.lpg.meta import (
    BACKENDS,
    CLOSED_FORM,
    Backend,
    BilevelStep,
    lookahead_meta_grad,
    preserved_state,
    resolve_backend,
)
from lpg_meta.lpg.rule import ClassRule

__all__ = [
    "AmplificationLog",
    "BACKENDS",
    "CLOSED_FORM",
    "FORMS",
    "Backend",
    "BilevelStep",
    "ClassRule",
    "ClipForm",
    "Form",
    "MatrixForm",
    "ScaleForm",
    "ShiftForm",
    "Transform",
    "build_form",
    "fd_directional",
    "fd_step_size",
    "jvp_meta_grad",
    "lookahead_meta_grad",
    "preserved_state",
    "resolve_backend",
    "rng_state",
]
