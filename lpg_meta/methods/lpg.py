"""LPG methods (docs/method.md §3): learned class-level perturbations of the logit gradient.

``lpg`` (matrix form), ``lpg_scale``, ``lpg_shift`` and ``lpg_clip`` share one class and differ
only in their form and defaults; ``lpg_rule`` is the closed-form variant. All are plug-ins:
``lpg+BASE`` perturbs the logit gradient of BASE's loss and takes BASE's own step, so
``lpg+gce`` or ``lpg+sam`` need no code of their own.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import torch

from lpg_meta.lpg import FORMS, AmplificationLog, BilevelStep, ClassRule, MatrixForm, Transform, build_form
from lpg_meta.methods._meta_stream import Batch, MetaLearnedMethod
from lpg_meta.methods.base import LossFn, Method, StepInfo, TrainContext
from lpg_meta.methods.ce import CrossEntropy
from lpg_meta.perturb import perturb_logit_grad
from lpg_meta.registry import METHODS

_FORM_KEYS = ("eps", "normalize", "zero_sum", "tau_max")


class _PlugIn(Method):
    """Shared plumbing: the base method, delegation to it, and the perturbed real step."""

    def __init__(
        self, params: dict[str, Any], ctx: TrainContext, base: Method | None = None
    ) -> None:
        super().__init__(params, ctx)
        self.base = base if base is not None else CrossEntropy({}, ctx)
        self.trajectory: list[list[float]] = []
        self.amplification = AmplificationLog(ctx.num_classes)  # of the real steps' logit gradients
        self.time_real_s = 0.0

    # The loss itself is the base's: LPG changes only its gradient.
    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.base.per_sample_loss(logits, y)

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.base.loss(logits, y)

    def setup(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.base.setup(model, optimizer)
        super().setup(model, optimizer)

    def before_update(self, model: torch.nn.Module, step: StepInfo) -> None:
        self.base.before_update(model, step)

    def on_epoch_end(self, epoch: int) -> None:
        self.base.on_epoch_end(epoch)
        self.amplification.end_epoch()
        super().on_epoch_end(epoch)

    def eval_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return self.base.eval_logits(logits)

    @staticmethod
    def _perturbed(base_loss: LossFn, transform: Transform) -> LossFn:
        """``base_loss`` with its per-sample logit gradients replaced by ``transform(g, y)``."""

        def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return base_loss(perturb_logit_grad(logits, lambda g: transform(g, y)), y)

        return loss_fn

    def fixed_phi_record(self, form: str, **extra: Any) -> dict[str, Any]:
        """result.json's ``lpg`` entry of a variant without meta steps (its ``a_c`` set, not learned)."""
        rec = {
            "form": form,
            "backend": None,
            "quantity": "a_c",
            "trajectory": self.trajectory,
            **extra,
            **self.amplification.record(),
            "meta_loss": [],
            "time_meta_s": 0.0,
            "time_real_s": self.time_real_s,
        }
        return {**self.base.record(), "lpg": rec}

    def scale_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        base_loss: LossFn,
        a: torch.Tensor,
    ) -> dict[str, float]:
        """A real step on ``base_loss`` with the scale form ``g~ = (1 + a_y) g`` at fixed ``a [C]``."""

        def transform(g: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            return ClassRule.transform(g, yy, a)

        perturbed = self._perturbed(base_loss, self.amplification.wrap(transform))
        return self._real_step(model, optimizer, x, y, step, perturbed)

    def _real_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn,
    ) -> dict[str, float]:
        start = time.perf_counter()
        out = self.base.train_step(model, optimizer, x, y, step, loss_fn=loss_fn)
        self.time_real_s += time.perf_counter() - start
        return out


@METHODS.register("lpg")
class LPG(_PlugIn, MetaLearnedMethod):
    """Meta-learned LPG (docs/method.md §3.2): phi learned by one-step look-ahead on the meta split.

    The virtual step is the real optimizer's plain step on the perturbed base loss; a step-based
    base (sam, clip, gnoise) changes only the real step, not the look-ahead. ``lookahead_steps``
    > 1 unrolls several virtual steps, each on the current train batch.

    With the ``jvp`` backend and a loss-based base, a meta step shares the real step's forward
    at theta: one forward (BatchNorm statistics move once, as in a CE step), the meta-gradient
    from it, then the real backward through the same graph with the updated phi.
    """

    form_name: ClassVar[str] = "matrix"

    def __init__(
        self, params: dict[str, Any], ctx: TrainContext, base: Method | None = None
    ) -> None:
        super().__init__(params, ctx, base)
        if self.form_name not in FORMS:
            raise ValueError(f"{type(self).__name__}: unknown form '{self.form_name}'")
        settings = {k: params[k] for k in _FORM_KEYS if k in params}
        self.form = build_form(self.form_name, ctx.num_classes, **settings)
        # phi's optimizer and decay; the look-ahead itself is MetaLearnedMethod.look_ahead.
        self.bilevel = BilevelStep(
            self.form,
            meta_optimizer=params["meta_optimizer"],
            meta_lr=self.meta_step_lr(params["meta_lr"]),
            phi_decay=params["phi_decay"],
        )

    @property
    def lookahead_steps(self) -> int:
        return int(self.params["lookahead_steps"])

    def setup(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        # Every LPG form perturbs the logit gradient, so the train loss depends on theta only
        # through the logits: jvp is exact whenever the look-ahead is one SGD step.
        super().setup(model, optimizer)
        ref = next(model.parameters())
        # Module.to keeps the Parameter objects, so the meta optimizer built in __init__ stays valid.
        self.form.to(device=ref.device, dtype=ref.dtype)

    def can_share_forward(self) -> bool:
        # Not a two-pass step base (sam), nor a base with its own train_step (it would be skipped).
        return self.base.kind == "loss" and type(self.base).train_step is Method.train_step

    def meta_update(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        meta_batch: Batch,
        loss_fn: LossFn | None,
    ) -> float:
        live = self._perturbed(loss_fn or self.base.loss, self.form.transform)
        grads, value = self.look_ahead(model, optimizer, batch, meta_batch, live, self.bilevel.params)
        self.bilevel.apply(grads)
        return value

    def real_loss(self, step: StepInfo, loss_fn: LossFn | None) -> LossFn:
        # phi as just updated (frozen() detaches it)
        return self._perturbed(loss_fn or self.base.loss, self.amplification.wrap(self.form.frozen()))

    def plain_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn,
    ) -> dict[str, float]:
        return self.base.train_step(model, optimizer, x, y, step, loss_fn=loss_fn)

    def on_epoch_end(self, epoch: int) -> None:
        super().on_epoch_end(epoch)
        self.trajectory.append(self.form.class_perturbation().cpu().tolist())

    def record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "form": self.form_name,
            **self.base_record(),  # backend as resolved by setup() (auto -> jvp or higher)
            "quantity": "tau_c" if self.form_name == "clip" else "a_c",
            "trajectory": self.trajectory,
            **self.amplification.record(),
        }
        if isinstance(self.form, MatrixForm):
            rec["A"] = self.form.perturbation_matrix().cpu().tolist()
        return {**self.base.record(), "lpg": rec}


@METHODS.register("lpg_scale")
class LPGScale(LPG):
    """LPG, scale form: class-level loss reweighting, meta-learned (ablation row)."""

    form_name = "scale"


@METHODS.register("lpg_shift")
class LPGShift(LPG):
    """LPG, shift form: a class-level change of the per-sample gradient norm (ablation row)."""

    form_name = "shift"


@METHODS.register("lpg_clip")
class LPGClip(LPG):
    """LPG, clip form: class-level per-sample clipping at ``tau_max * sigmoid(phi)`` (ablation row)."""

    form_name = "clip"


@METHODS.register("lpg_rule")
class LPGRule(_PlugIn):
    """Closed-form LPG: ``a_c`` from a running true-class probability; no meta split."""


    def __init__(
        self, params: dict[str, Any], ctx: TrainContext, base: Method | None = None
    ) -> None:
        super().__init__(params, ctx, base)
        self.rule = ClassRule(ctx.num_classes, **params)
        self.q_trajectory: list[list[float]] = []

    def setup(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        super().setup(model, optimizer)
        self.rule.to(next(model.parameters()).device)

    def train_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn | None = None,
    ) -> dict[str, float]:
        base_loss = loss_fn or self.base.loss
        a = self.rule.magnitudes()  # from q before this batch
        first = True

        def loss_with_update(logits: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            nonlocal first
            if first:  # a two-pass base (sam) calls the loss twice: update q once per step
                self.rule.update(logits, yy)
                first = False
            return base_loss(logits, yy)

        return self.scale_step(model, optimizer, x, y, step, loss_with_update, a)

    def on_epoch_end(self, epoch: int) -> None:
        super().on_epoch_end(epoch)
        self.trajectory.append(self.rule.magnitudes().cpu().tolist())
        self.q_trajectory.append(self.rule.q.cpu().tolist())

    def record(self) -> dict[str, Any]:
        return self.fixed_phi_record("rule", q=self.q_trajectory)
