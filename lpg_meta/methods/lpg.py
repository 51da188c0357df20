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
from lpg_meta.lpg.rule import RULE_DEFAULTS
from lpg_meta.methods._meta_stream import (
    META_DEFAULTS,
    META_SPACE,
    Batch,
    MetaLearnedMethod,
    require,
)
from lpg_meta.methods.base import LossFn, Method, StepInfo, TrainContext
from lpg_meta.methods.ce import CrossEntropy
from lpg_meta.perturb import perturb_logit_grad
from lpg_meta.registry import METHODS

_COMPOSE_HINT = (
    "LPG plugs into loss-based methods (e.g. ce, la, ldam_drw, gce, sce, focal, lpl) and "
    "step-based ones (e.g. sam, clip, gnoise). Meta-based methods (e.g. l2rw, mwnet, gdw) do not "
    "compose: both halves would learn from the meta split, with conflicting virtual steps."
)

# Shared by the meta-learned variants. meta_lr 0.01 sits between the prototype's long-tail
# setting (0.05, which hurt under label noise) and its noise-safe one (1e-3).
_META_DEFAULTS: dict[str, Any] = {
    "meta_optimizer": "adam",
    "meta_lr": 0.01,
    "phi_decay": 0.0,
    **META_DEFAULTS,
    "lookahead_steps": 1,
}
_META_SPACE: dict[str, Any] = {
    "meta_optimizer": ("categorical", ["adam", "sgd"]),
    "meta_lr": ("log", 1e-4, 1e-1),
    "phi_decay": ("float", 0.0, 0.05),
    **META_SPACE,
}
# Log scale down to 1e-3: the search must reach LPG = its base method (eps near 0).
_EPS_SPACE: dict[str, Any] = {"eps": ("log", 1e-3, 0.9)}
_NORMALIZE_SPACE: dict[str, Any] = {"normalize": ("categorical", [True, False])}
_FORM_KEYS = ("eps", "normalize", "zero_sum", "tau_max")


class _PlugIn(Method):
    """Shared plumbing: the base method, delegation to it, and the perturbed real step."""

    accepts_bases: ClassVar[tuple[str, ...]] = ("loss", "step")
    compose_hint: ClassVar[str] = _COMPOSE_HINT

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

    display_name = "LPG"
    form_name: ClassVar[str] = "matrix"
    defaults = {"eps": 0.5, "normalize": True, "zero_sum": True, **_META_DEFAULTS}
    search_space = {**_EPS_SPACE, **_NORMALIZE_SPACE, **_META_SPACE}

    def __init__(
        self, params: dict[str, Any], ctx: TrainContext, base: Method | None = None
    ) -> None:
        super().__init__(params, ctx, base)
        self._validate(params)
        settings = {k: params[k] for k in _FORM_KEYS if k in params}
        self.form = build_form(self.form_name, ctx.num_classes, **settings)
        # phi's optimizer and decay; the look-ahead itself is MetaLearnedMethod.look_ahead.
        self.bilevel = BilevelStep(
            self.form,
            meta_optimizer=params["meta_optimizer"],
            meta_lr=self.meta_step_lr(params["meta_lr"]),
            phi_decay=params["phi_decay"],
        )

    def _validate(self, p: dict[str, Any]) -> None:
        if self.form_name not in FORMS:
            raise ValueError(f"{type(self).__name__}: unknown form '{self.form_name}'")
        if "eps" in p:
            require(0.0 <= p["eps"] < 1.0, p, "eps", "in [0, 1) so the direction is kept")
        if "tau_max" in p:
            require(p["tau_max"] > 0, p, "tau_max", "positive")
        require(p["meta_optimizer"] in ("adam", "sgd"), p, "meta_optimizer", "'adam' or 'sgd'")
        require(p["meta_lr"] >= 0, p, "meta_lr", "non-negative")
        require(0.0 <= p["phi_decay"] < 1.0, p, "phi_decay", "in [0, 1)")
        require(p["lookahead_steps"] >= 1, p, "lookahead_steps", "at least 1")

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

    display_name = "LPG-scale"
    form_name = "scale"
    defaults = {"eps": 0.5, "normalize": True, **_META_DEFAULTS}
    search_space = {**_EPS_SPACE, **_NORMALIZE_SPACE, **_META_SPACE}


@METHODS.register("lpg_shift")
class LPGShift(LPG):
    """LPG, shift form: a class-level change of the per-sample gradient norm (ablation row)."""

    display_name = "LPG-shift"
    form_name = "shift"
    defaults = {"eps": 0.5, **_META_DEFAULTS}
    search_space = {**_EPS_SPACE, **_META_SPACE}


@METHODS.register("lpg_clip")
class LPGClip(LPG):
    """LPG, clip form: class-level per-sample clipping at ``tau_max * sigmoid(phi)`` (ablation row)."""

    display_name = "LPG-clip"
    form_name = "clip"
    # tau_max 1.5: the prototype's setting; a CE logit gradient has norm below sqrt(2), so the
    # starting threshold 0.75 clips only the hardest samples.
    defaults = {"tau_max": 1.5, **_META_DEFAULTS}
    search_space = {"tau_max": ("float", 0.3, 3.0), **_META_SPACE}


@METHODS.register("lpg_rule")
class LPGRule(_PlugIn):
    """Closed-form LPG: ``a_c`` from a running true-class probability; no meta split."""

    display_name = "LPG-rule"
    kind = "loss"
    needs_meta = False
    defaults = dict(RULE_DEFAULTS)
    search_space = {
        "eps": ("float", 0.0, 0.2),
        "d_eps": ("float", 0.0, 2.0),
        "eps_max": ("float", 0.05, 0.9),
        "ema": ("float", 0.5, 0.99),
    }

    def __init__(
        self, params: dict[str, Any], ctx: TrainContext, base: Method | None = None
    ) -> None:
        super().__init__(params, ctx, base)
        require(params["eps"] >= 0, params, "eps", "non-negative")
        require(params["d_eps"] >= 0, params, "d_eps", "non-negative")
        require(
            0.0 <= params["eps_max"] < 1.0, params, "eps_max", "in [0, 1) so the direction is kept"
        )
        require(0.0 <= params["ema"] < 1.0, params, "ema", "in [0, 1)")
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
