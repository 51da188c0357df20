"""LPG perturbation forms (docs/method.md §3.1): class-level maps of per-sample logit gradients.

Every form computes the perturbation ``Delta = g~ - g`` and returns ``g + Delta``. Writing it
this way makes ``phi = 0`` exact: each multiplier is then exactly 1, ``Delta`` is exactly 0,
and ``g~`` equals ``g`` bit for bit, whatever the base loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from lpg_meta import catalog

Transform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_NORM_EPS = 1e-12  # keeps g / ||g|| finite for a sample whose gradient vanishes
# A form's settings default to those of the method that runs it (lpg_meta/catalog/methods.py).
_SCALE, _SHIFT, _CLIP, _MATRIX = (catalog.method_defaults(m) for m in ("lpg_scale", "lpg_shift", "lpg_clip", "lpg"))


class Form(nn.Module):
    """A class-level perturbation of logit gradients with learnable magnitudes ``phi``.

    Subclasses define ``delta(g, y, phi)``; ``phi`` is an explicit argument so the same code
    serves the live transform (meta step, differentiable in ``phi``) and the frozen one.
    """

    name: ClassVar[str] = "form"

    def __init__(self, num_classes: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.phi = nn.Parameter(torch.zeros(shape))

    def delta(self, g: torch.Tensor, y: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        """Perturbation ``g~ - g`` of per-sample logit gradients ``g [B, C]`` with labels ``y``."""
        raise NotImplementedError

    def transform(self, g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Perturbed per-sample logit gradients, differentiable in ``phi``."""
        return g + self.delta(g, y, self.phi)

    def frozen(self) -> Transform:
        """The transform at the current ``phi``, detached (for the real step)."""
        phi = self.phi.detach()
        return lambda g, y: g + self.delta(g, y, phi)

    def class_perturbation(self) -> torch.Tensor:
        """Per-class magnitude ``[C]`` recorded in the trajectory (detached)."""
        raise NotImplementedError


def _per_sample_norm(g: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(g, dim=1, keepdim=True)


class ScaleForm(Form):
    """``g~ = (1 + a_y) g`` with ``a = eps * tanh(phi)``: class-level loss reweighting.

    Args:
        num_classes: C.
        eps: bound on ``|a_c|``, in [0, 1) so the direction is kept.
        normalize: divide the multipliers by their batch mean, so mass only moves between classes.
    """

    name = "scale"

    def __init__(self, num_classes: int, eps: float = _SCALE["eps"], normalize: bool = _SCALE["normalize"]) -> None:
        super().__init__(num_classes, (num_classes,))
        self.eps = eps
        self.normalize = normalize

    def delta(self, g: torch.Tensor, y: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        mult = 1 + self.eps * torch.tanh(phi)[y]
        if self.normalize:
            mult = mult / mult.mean()
        return (mult - 1).unsqueeze(1) * g

    def class_perturbation(self) -> torch.Tensor:
        return (self.eps * torch.tanh(self.phi)).detach()


class ShiftForm(Form):
    """``||g~|| = max(0, ||g|| + a_y)``, direction kept, ``a = eps * tanh(phi)``.

    ``g`` is the per-sample gradient (before the batch mean); a shift of the batch-mean
    gradient would be B times too large.
    """

    name = "shift"

    def __init__(self, num_classes: int, eps: float = _SHIFT["eps"]) -> None:
        super().__init__(num_classes, (num_classes,))
        self.eps = eps

    def delta(self, g: torch.Tensor, y: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        a = (self.eps * torch.tanh(phi)[y]).unsqueeze(1)
        norm = _per_sample_norm(g)
        # (new norm - old norm) is exactly 0 at a = 0, which keeps phi = 0 bit-exact.
        return g * (torch.clamp(norm + a, min=0) - norm) / (norm + _NORM_EPS)

    def class_perturbation(self) -> torch.Tensor:
        return (self.eps * torch.tanh(self.phi)).detach()


class ClipForm(Form):
    """``g~ = g * min(1, tau_y / ||g||)`` with ``tau = tau_max * sigmoid(phi)``.

    At ``phi = 0`` the threshold is ``tau_max / 2``, so the hardest samples are clipped from
    the start (started where nothing is clipped, the meta-gradient would be exactly 0).
    The trajectory records ``tau_c``.
    """

    name = "clip"

    def __init__(self, num_classes: int, tau_max: float = _CLIP["tau_max"]) -> None:
        super().__init__(num_classes, (num_classes,))
        self.tau_max = tau_max

    def delta(self, g: torch.Tensor, y: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        tau = (self.tau_max * torch.sigmoid(phi)[y]).unsqueeze(1)
        norm = _per_sample_norm(g)
        # where() rather than min(): an unclipped (or zero) gradient must not send inf * 0 = nan
        # into the meta-gradient of tau.
        factor = torch.where(norm > tau, tau / norm.clamp_min(_NORM_EPS), torch.ones_like(norm))
        return g * (factor - 1)

    def class_perturbation(self) -> torch.Tensor:
        return (self.tau_max * torch.sigmoid(self.phi)).detach()


class MatrixForm(Form):
    """``g~_j = (1 + A_{y,j}) g_j`` with ``A = eps * tanh(Phi)``, ``Phi`` in R^{C x C}.

    Args:
        num_classes: C.
        eps: bound on ``|A_ij|``, in [0, 1).
        normalize: divide the multipliers by their batch mean on the true logit.
        zero_sum: remove the perturbation's component along the all-ones (softmax-invariant)
            direction: ``Delta <- Delta - mean_j Delta_j``. Projecting ``Delta`` (not ``g~``)
            equals docs/method.md's ``g~ <- g~ - mean_j g~_j`` whenever ``g`` sums to zero (any loss
            of the softmax), and leaves ``g~ = g`` at ``Phi = 0`` for any base loss.
    """

    name = "matrix"

    def __init__(
        self, num_classes: int, eps: float = _MATRIX["eps"], normalize: bool = _MATRIX["normalize"],
        zero_sum: bool = _MATRIX["zero_sum"],
    ) -> None:
        super().__init__(num_classes, (num_classes, num_classes))
        self.eps = eps
        self.normalize = normalize
        self.zero_sum = zero_sum

    def delta(self, g: torch.Tensor, y: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        mult = 1 + self.eps * torch.tanh(phi)[y]
        if self.normalize:
            mult = mult / mult.gather(1, y.unsqueeze(1)).mean()
        out = (mult - 1) * g
        if self.zero_sum:
            out = out - out.mean(dim=1, keepdim=True)
        return out

    def perturbation_matrix(self) -> torch.Tensor:
        """The full ``A [C, C]`` (label class x logit column), detached."""
        return (self.eps * torch.tanh(self.phi)).detach()

    def class_perturbation(self) -> torch.Tensor:
        return torch.diagonal(self.perturbation_matrix()).clone()


# Form constructors (num_classes, **settings); typed as callables since Form's own differs.
FORMS: dict[str, Callable[..., Form]] = {
    cls.name: cls for cls in (ScaleForm, ShiftForm, ClipForm, MatrixForm)
}


def build_form(name: str, num_classes: int, **settings: float | bool) -> Form:
    """Instantiate form ``name`` (``scale``, ``shift``, ``clip`` or ``matrix``).

    Raises:
        KeyError: unknown form.
    """
    return FORMS[name](num_classes, **settings)
