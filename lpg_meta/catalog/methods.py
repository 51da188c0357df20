"""The methods' declarations: settings (default, range, search space, identity), role, cost, series.

One entry per registered method; its implementation is ``lpg_meta/methods/<file>.py``, imported
when a run is built. The ranges here are the only range checks of method settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lpg_meta.params import Param
from lpg_meta.registry import METHODS, MethodDeclaration, Quantity, Series

_META_PLUGIN = "meta"
# Two facts about the paper this suite reproduces, declared here once and read by every layer:
# PROPOSED is its method, both the family of its variants and plug-ins and the name of its main
# method (the report's default tables put the family's rows last, its default claim tests the method
# against every row of another family, its figures show it first); REFERENCE is the plain baseline
# every other method is compared with (the tables' marks, the figures' first row, and the base a
# plug-in wraps when it runs alone).
PROPOSED = "lpg"
REFERENCE = "ce"
# A meta step (virtual step, meta-gradient through it, real step): lpg 22 ms against ce 4 ms per
# step (MNIST-1D, cnn1d, batch 128, 2-core reference CPU). One step in ``meta_interval`` pays it.
META_STEP_COST = 5.0


def meta_step_cost(interval: int) -> float:
    """The mean step cost of a meta-learned method with a meta step every ``interval`` steps."""
    return 1.0 + (META_STEP_COST - 1.0) / interval


def meta_params(interval: int) -> dict[str, Param]:
    """Settings every meta-learned method has (same names, same meaning in LPG and the reweighting
    methods; the flat merge of a plug-in never sees both, since LPG does not compose with them)."""
    return {
        "warmup_epochs": Param(0, low=0, space=("int", 0, 5), help="epochs of plain steps before the first meta step"),
        # A meta step every 10th step, with the meta step size scaled to match (meta_step_lr): about
        # 1.25x a ce run on the CPU suite's rows, accuracy within seed noise of every step (l2rw and
        # gdw, whose per-batch weights do not last, keep 1; benchmarks/cpu_regimes.md §8).
        "meta_interval": Param(interval, low=1, help="a meta step every this many steps"),
        "meta_batch_size": Param(100, low=1, help="meta-split samples per meta step"),
        # auto: the exact forward-mode jvp backend for one SGD look-ahead step, else higher; fd
        # estimates jvp's directional derivative by a central difference (lpg/jvp.py).
        "backend": Param("auto", choices=("auto", "higher", "torchfunc", "jvp", "fd"),
                         help="how the meta-gradient is computed"),
    }


# LPG's meta-learned variants. meta_lr 0.01 sits between the prototype's long-tail setting (0.05,
# which hurt under label noise) and its noise-safe one (1e-3).
_LPG_META: dict[str, Param] = {
    "meta_optimizer": Param("adam", choices=("adam", "sgd"), space=("categorical", ["adam", "sgd"])),
    "meta_lr": Param(0.01, low=0.0, space=("log", 1e-4, 1e-1), help="step size of phi"),
    "phi_decay": Param(0.0, low=0.0, high=1.0, high_open=True, space=("float", 0.0, 0.05)),
    **meta_params(10),
    "lookahead_steps": Param(1, low=1, help="virtual steps unrolled per meta step"),
}
# Log scale down to 1e-3: the search must reach LPG = its base method (eps near 0).
_EPS = Param(0.5, low=0.0, high=1.0, high_open=True, space=("log", 1e-3, 0.9), note="so the direction is kept",
             help="the bound of the perturbation: |a_c| <= eps")
_NORMALIZE = Param(True, space=("categorical", [True, False]))
_LPG_COMPOSE = dict(
    accepts_bases=("loss", "step"),
    compose_hint=(
        "LPG plugs into loss-based methods (e.g. ce, la, ldam_drw, gce, sce, focal, lpl) and "
        "step-based ones (e.g. sam, clip, gnoise). Meta-based methods (e.g. l2rw, mwnet, gdw) do not "
        "compose: both halves would learn from the meta split, with conflicting virtual steps."),
    family=PROPOSED,
    reference="this work",
)
# The learned per-class perturbation, per epoch: a_c (the clip form records its threshold tau_c).
_PER_CLASS = Series("lpg_a_c", "lpg", "trajectory", "a_c", per_class=True, quantities=(
    Quantity("a_c", "learned per-class perturbation $a_c$", neutral=0.0),
    Quantity("tau_c", "clip threshold $\\tau_c$")))


def _weight_series(name: str) -> tuple[Series, ...]:
    """What a reweighting method records on a noisy row (methods/_weight_log.py), per epoch."""
    return (Series("flipped_weight_share", name, "flipped_weight_share", "weight share on flipped samples"),
            Series("weight_auc_clean_vs_flipped", name, "weight_auc_clean_vs_flipped", "weight AUC, clean vs flipped"))


def _lpg(name: str, display: str, description: str, params: dict[str, Param]) -> None:
    METHODS.declare(MethodDeclaration(
        name=name, module="lpg_meta.methods.lpg", params=params, display_name=display, description=description,
        role=_META_PLUGIN, needs_meta=True, step_cost=meta_step_cost(params["meta_interval"].default),
        series=(_PER_CLASS,), **_LPG_COMPOSE))


_lpg(PROPOSED, "LPG", "Meta-learned LPG: class-level perturbations of the logit gradient, matrix form, phi "
     "learned by one-step look-ahead on the meta split.",
     {"eps": _EPS, "normalize": _NORMALIZE, "zero_sum": Param(True), **_LPG_META})
_lpg("lpg_scale", "LPG-scale", "LPG, scale form: class-level loss reweighting, meta-learned (ablation row).",
     {"eps": _EPS, "normalize": _NORMALIZE, **_LPG_META})
_lpg("lpg_shift", "LPG-shift", "LPG, shift form: a class-level change of the per-sample gradient norm "
     "(ablation row).", {"eps": _EPS, **_LPG_META})
# tau_max 1.5: the prototype's setting; a CE logit gradient has norm below sqrt(2), so the starting
# threshold 0.75 clips only the hardest samples.
_lpg("lpg_clip", "LPG-clip", "LPG, clip form: class-level per-sample clipping at tau_max * sigmoid(phi) "
     "(ablation row).", {"tau_max": Param(1.5, low=0.0, low_open=True, space=("float", 0.3, 3.0)), **_LPG_META})
# eps: a small fixed push, so the rule stays near its base method; d_eps = 1: the push grows
# one-for-one with the gap |tau - q_c| in probability; eps_max = 0.5: a class's gradient is at most
# 1.5x or at least 0.5x its base value; ema = 0.9: q follows roughly the last 10 batches in which
# the class appears.
METHODS.declare(MethodDeclaration(
    name="lpg_rule", module="lpg_meta.methods.lpg", display_name="LPG-rule", series=(_PER_CLASS,),
    description="Closed-form LPG: a_c from a running true-class probability; no meta split.",
    params={
        "eps": Param(0.05, low=0.0, space=("float", 0.0, 0.2), help="base magnitude of a non-zero perturbation"),
        "d_eps": Param(1.0, low=0.0, space=("float", 0.0, 2.0)),
        "eps_max": Param(0.5, low=0.0, high=1.0, high_open=True, space=("float", 0.05, 0.9),
                         note="so the direction is kept"),
        "ema": Param(0.9, low=0.0, high=1.0, high_open=True, space=("float", 0.5, 0.99)),
    }, **_LPG_COMPOSE))
METHODS.declare(MethodDeclaration(
    name="lpg_fixed", module="lpg_meta.methods.lpg_fixed", display_name="LPG-fixed", series=(_PER_CLASS,),
    description="Hand-set g~ = (1 + a) g on the picked classes (tail or noisy), g elsewhere: the intervention "
                "test of the amplify/dampen conjecture; nothing to tune.",
    params={
        "classes": Param("tail", choices=("tail", "noisy")),
        "a": Param(0.5, low=-1.0, high=1.0, low_open=True, high_open=True, note="so the direction is kept"),
        "noisy_margin": Param(0.05, low=0.0),
    }, intervention=True, **_LPG_COMPOSE))


def _method(name: str, module: str, display: str, description: str, reference: str,
            params: dict[str, Param] | None = None, **more: object) -> None:
    METHODS.declare(MethodDeclaration(name=name, module=f"lpg_meta.methods.{module}", params=params or {},
                                      display_name=display, description=description, reference=reference,
                                      **more))  # type: ignore[arg-type]


_method(REFERENCE, "ce", "CE", "Plain cross-entropy training: the reference every other method is compared with.", "")
_method("bsoftmax", "bsoftmax", "Balanced Softmax", "Train on CE(u + log n_c, y); predict with the plain logits u.",
        "Ren et al. 2020")
_method("cb", "cb", "CB", "Class-balanced CE or focal loss: each sample weighted by the weight of its class.",
        "Cui et al. 2019", {
            "beta": Param(0.9999, low=0.0, high=1.0, high_open=True,
                          space=("categorical", [0.9, 0.99, 0.999, 0.9999])),
            "base_loss": Param("ce", choices=("ce", "focal"), space=("categorical", ["ce", "focal"])),
            "gamma": Param(1.0, low=0.0, space=("categorical", [0.5, 1.0, 2.0])),
        })
_method("clip", "clip", "GradClip", "Gradient-norm clipping: G <- G * min(1, c / (||G|| + 1e-6)).", "",
        {"max_norm": Param(5.0, low=0.0, low_open=True, space=("log", 0.1, 10.0))}, role="step")
_method("focal", "focal", "Focal", "Focal loss: cross-entropy down-weighted on well-classified samples.",
        "Lin et al. 2017", {"gamma": Param(1.0, low=0.0, space=("categorical", [0.5, 1.0, 2.0]))})
_method("gce", "gce", "GCE", "Generalized cross-entropy (1 - p_y^q) / q: CE as q -> 0, MAE at q = 1.",
        "Zhang and Sabuncu 2018", {"q": Param(0.7, low=0.0, high=1.0, low_open=True, space=("float", 0.1, 0.9))})
_method("gnoise", "gnoise", "GradNoise", "Annealed Gaussian gradient noise: G <- clip(G) + N(0, eta / (1 + t)^gamma).",
        "Neelakantan et al. 2015", {
            "eta": Param(0.01, low=0.0, space=("categorical", [0.01, 0.3, 1.0])),
            "gamma": Param(0.55),
            "max_norm": Param(0.0, low=0.0, note="0: no clipping"),
        }, role="step")
_method("la", "la", "LA", "Logit-adjusted loss: train on CE(u + tau log pi, y); predict with the plain logits.",
        "Menon et al. 2021", {"tau": Param(1.0, low=0.0, space=("float", 0.25, 2.0))})
_method("la_posthoc", "la", "LA post-hoc", "Train with CE; predict with argmax(u - tau log pi).",
        "Menon et al. 2021", {"tau": Param(1.0, low=0.0, space=("float", 0.25, 2.0))})
# s = 30 is the reference's scale for cosine logits (its NormedLinear head, values in [-1, 1]). The
# zoo's models have plain linear heads whose logits are already O(10), where s = 30 trained to chance
# in the sanity suite (12.8% balanced accuracy on long-tail MNIST-1D); s = 1 keeps LDAM's margins on
# the logits' own scale.
_LDAM = {"max_margin": Param(0.5, low=0.0, space=("float", 0.1, 1.0)),
         "s": Param(1.0, low=0.0, low_open=True, space=("log", 1.0, 30.0))}
_method("ldam", "ldam", "LDAM", "Label-distribution-aware margin loss: larger margins for rarer classes.",
        "Cao et al. 2019", _LDAM)
_method("ldam_drw", "ldam", "LDAM-DRW", "LDAM with deferred re-weighting: class-balanced weights from epoch "
        "drw_start * epochs on.", "Cao et al. 2019", {
            **_LDAM,
            "beta": Param(0.9999, low=0.0, high=1.0, high_open=True, space=("categorical", [0.999, 0.9999])),
            "drw_start": Param(0.8, low=0.0, high=1.0, space=("float", 0.5, 0.9)),
        })
LPL_MAX_STEPS = 1000  # a guard against eps/alpha typos that would make every step very slow


def _lpl_steps(p: Mapping[str, Any]) -> str | None:
    steps = p["lpl_eps"] / p["lpl_alpha"]
    return None if steps <= LPL_MAX_STEPS else (
        f"method.lpl_eps / method.lpl_alpha gives {steps:.0f} steps per batch (at most {LPL_MAX_STEPS}); "
        "raise lpl_alpha.")


# lpl_eps / lpl_alpha = 0.4 / 0.01 = 40 steps: the reference's balanced and CIFAR-100-LT runs.
_method("lpl", "lpl", "LPL", "Logit perturbation learning: CE on logits perturbed per class.", "Li et al. 2022", {
    "rule": Param("balanced", choices=("balanced", "longtail"), space=("categorical", ["balanced", "longtail"])),
    "lpl_eps": Param(0.4, low=0.0, space=("log", 0.1, 2.0), help="the radius of the logit perturbation"),
    "lpl_alpha": Param(0.01, low=0.0, low_open=True, space=("log", 0.01, 0.2)),
    # 0.4: the reference's 4 of 10 and 40 of 100 classes
    "lpl_head": Param(0.4, low=0.0, high=1.0, space=("float", 0.2, 0.6)),
    # came after runs were recorded: left out of a config while false (same hash)
    "double_add": Param(False, identity="when_set"),
}, rule=_lpl_steps)
_method("ls", "ls", "LS", "Label smoothing: CE against (1 - alpha) e_y + alpha / C.", "Szegedy et al. 2016",
        {"alpha": Param(0.1, low=0.0, high=1.0, space=("float", 0.05, 0.3))})
_method("sam", "sam", "SAM", "Sharpness-aware minimisation: the update uses grad L(theta + rho G / ||G||).",
        "Foret et al. 2021", {"rho": Param(0.05, low=0.0, space=("log", 0.01, 0.5))},
        role="step", step_cost=2.0)  # two forward-backward passes per step
_method("sce", "sce", "SCE", "Symmetric cross-entropy: alpha CE + beta RCE.", "Wang et al. 2019",
        {"alpha": Param(0.1, low=0.0, space=("log", 0.05, 10.0)),
         "beta": Param(1.0, low=0.0, space=("log", 0.05, 10.0))})

# The meta-learned reweighting baselines.
_REWEIGHT = dict(role="meta", needs_meta=True)
# A meta step every step: L2RW learns nothing that lasts (each batch's weights are computed afresh),
# so at meta_interval 10 nine steps in ten are plain CE on the noisy labels: -6.5 (digits_lt), -12.1
# (digits_sym), -7.5 (digits_asym) points of balanced accuracy.
_method("l2rw", "l2rw", "L2RW", "Learning to Reweight Examples: per-batch weights from one look-ahead "
        "meta-gradient.", "Ren et al. 2018", meta_params(1), step_cost=meta_step_cost(1),
        series=_weight_series("l2rw"), **_REWEIGHT)
_MWNET = {
    **meta_params(10),
    "vnet_lr": Param(1e-3, low=0.0, space=("log", 1e-4, 1e-2)),
    "vnet_weight_decay": Param(1e-4, low=0.0),
    "vnet_hidden": Param(100, low=1),
}
_method("mwnet", "mwnet", "MW-Net", "Meta-Weight-Net: per-sample weights V(l_i) from a meta-learned weight net.",
        "Shu et al. 2019", {
            **_MWNET,
            # came after runs were recorded: left out of a config while false (same hash)
            "normalize": Param(False, identity="when_set"),
        }, step_cost=meta_step_cost(10), series=_weight_series("mwnet"), **_REWEIGHT)
# outer_lr 100 and clip 0.2: the reference's CIFAR-10 settings (it uses 1000 on CIFAR-100). MW-Net's
# batch normalisation has no counterpart here (omega is refined per batch). A meta step every step:
# omega is refined afresh for each batch, so at meta_interval 10 (vnet_lr x 10) nine steps in ten lose
# it: -10.7 (digits_sym), -8.6 (digits_asym) points of balanced accuracy (benchmarks/cpu_regimes.md §8).
_method("gdw", "gdw", "GDW", "Generalized Data Weighting: MW-Net's instance weights refined, per batch, into "
        "class-level weights.", "Chen et al. 2021", {
            **_MWNET,
            "meta_interval": Param(1, low=1, help="a meta step every this many steps"),
            "outer_lr": Param(100.0, low=0.0, space=("log", 10.0, 1000.0)),
            "outer_clip": Param(0.2, low=0.0, low_open=True),
        }, step_cost=meta_step_cost(1), series=_weight_series("gdw"), **_REWEIGHT)
