"""benchmarks/cifar.yaml: its protocols say what their sources say, and each one trains.

The suite file is the real one; only sizes are overridden (a generated data folder in the real
CIFAR formats, one step per epoch, a narrow WRN) so that every dataset row runs on 2 CPU cores.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))  # the tests' CIFAR writer
from cifar_files import write_cifar10, write_cifar100  # noqa: E402

from lpg_meta.bench import expand, load_suite  # noqa: E402
from lpg_meta.bench.cells import Cell, apply_params  # noqa: E402
from lpg_meta.bench.estimate import estimate_cell  # noqa: E402
from lpg_meta.config import merge, resolve_config  # noqa: E402
from lpg_meta.report.published import protocol_of  # noqa: E402
from lpg_meta.train.schedule import lr_factor  # noqa: E402
from lpg_meta.train.trainer import train  # noqa: E402

SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "cifar.yaml"
TINY = {
    "data": {"meta_per_class": 1, "val_per_class": 1},
    "train": {"epochs": 1, "batch_size": 16, "eval_batch_size": 128, "max_steps_per_epoch": 1,
              "progress": "none", "threads": 1},
}
TINY_WRN = {"depth": 10, "widen_factor": 1}


@pytest.fixture(scope="module")
def suite():
    return load_suite(SUITE)


@pytest.fixture(scope="module")
def cells(suite) -> dict[str, Cell]:
    return {c.name: c for c in expand(suite)}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("cifar")
    with pytest.MonkeyPatch.context() as mp:  # torchvision's md5 lists, restored afterwards
        write_cifar10(root, mp)
        write_cifar100(root, mp)
        mp.setenv("LPG_DATA", str(root))  # the data root comes from the environment, as on a GPU box
        yield root


def _tiny(cell: Cell, seed: int = 0, **train) -> dict:
    raw = merge(apply_params(cell.raw, {}), TINY)
    raw["train"] = {**raw["train"], **train}
    if raw.get("model") == "wrn28_10":
        raw["model_params"] = {**raw.get("model_params", {}), **TINY_WRN}
    return resolve_config({**raw, "seed": seed})


def test_ldam_drw_protocol(suite, cells) -> None:
    rows = [r for r in suite.datasets if r.startswith("ldam_")]
    assert sorted(rows) == sorted(f"ldam_c{c}_lt{i}" for c in (10, 100) for i in (100, 50, 10))
    for row in rows:
        cfg = cells[f"{row}/ce"].config(0)
        assert cfg["model"] == "resnet32" and cfg["data"]["profile"] == "exp"
        assert cfg["data"]["n_max"] == (5000 if cfg["dataset"] == "cifar10" else 500)
        assert cfg["train"]["epochs"] == 200 and cfg["train"]["batch_size"] == 128
        o = cfg["optim"]
        assert (o["lr"], o["momentum"], o["weight_decay"]) == (0.1, 0.9, 2e-4)
        # 5-epoch linear warm-up, then x0.01 from epoch 160 and x0.0001 from epoch 180.
        spe = 10
        factors = {e: lr_factor(e * spe, spe, 200, o) for e in (0, 5, 159, 160, 179, 180, 199)}
        assert factors[0] == pytest.approx(1 / 50) and factors[5] == 1.0 and factors[159] == 1.0
        assert factors[160] == factors[179] == pytest.approx(0.01)
        assert factors[180] == factors[199] == pytest.approx(1e-4)


def test_mwnet_protocol(suite, cells) -> None:
    rows = [r for r in suite.datasets if r.startswith("mwnet_")]
    assert len(rows) == 2 * 2 * 8  # 2 datasets x 2 models x (3 sym_incl + 3 sym_excl + 2 asym)
    for row in rows:
        cfg = cells[f"{row}/ce"].config(0)
        data, o = cfg["data"], cfg["optim"]
        classes = 10 if cfg["dataset"] == "cifar10" else 100
        assert data["meta_per_class"] * classes == 1000  # 1,000 clean meta images
        assert (data["noise"], round(100 * data["noise_rate"])) in {
            (k, r) for k in ("sym_incl", "sym_excl") for r in (20, 40, 60)} | {("asym", 20), ("asym", 40)}
        epochs, milestones = {"resnet32": (120, [80, 100]), "wrn28_10": (40, [36, 38])}[cfg["model"]]
        assert cfg["train"]["epochs"] == epochs and o["milestones"] == milestones
        assert o["schedule"] == "multistep" and o["lr_decay"] == 0.1 and o["weight_decay"] == 5e-4
    assert {cells[f"{r}/ce"].config(0)["model"] for r in rows} == {"resnet32", "wrn28_10"}


def test_balanced_rows_and_published_anchors(suite, cells) -> None:
    for row in ("std_c10_r32", "std_c10_wrn", "std_c100_r32", "std_c100_wrn"):
        cfg = cells[f"{row}/ce"].config(0)
        assert cfg["optim"]["schedule"] == "cosine" and cfg["train"]["epochs"] == 200
        assert cfg["data"]["imbalance"] == 1.0 and cfg["data"]["noise"] == "none"
    # docs/method.md §7's anchors land on exactly these rows (ResNet-32 only; not imbalance 50).
    anchored = {r: protocol_of(cells[f"{r}/ce"].config(0)) for r in suite.datasets}
    assert {r: p for r, p in anchored.items() if p} == {
        "ldam_c10_lt100": "C10-LT 100", "ldam_c10_lt10": "C10-LT 10",
        "ldam_c100_lt100": "C100-LT 100", "ldam_c100_lt10": "C100-LT 10",
        "mwnet_c10_symincl40_r32": "C10 sym_incl 40%"}


def test_methods_per_protocol(cells) -> None:
    def methods(row: str) -> set[str]:
        return {c.split("/")[1] for c in cells if c.startswith(row + "/")}

    lt, noisy, bal = methods("ldam_c10_lt100"), methods("mwnet_c100_asym40_r32"), methods("std_c10_r32")
    lpg = {"lpg", "lpg_scale", "lpg_shift", "lpg_clip", "lpg_rule"}
    assert lpg <= lt and lpg <= noisy and lpg <= bal
    assert {"ldam_drw", "la", "lpg+la", "lpg+ldam_drw", "mwnet"} <= lt and not {"gce", "sam"} & lt
    assert {"gce", "sce_c100", "lpg+gce", "lpg+sce_c100", "mwnet", "l2rw"} <= noisy
    assert not {"sce", "lpg+sce", "ldam_drw"} & noisy  # CIFAR-10's SCE constants stay on C10 rows
    assert {"lpg+sam", "sam"} <= bal and not {"mwnet", "la", "gce"} & bal


def test_reference_variants(cells) -> None:
    """LDAM on LDAM-DRW's cosine head with s = 30; MW-Net's normalised variant on noisy rows only."""
    for name in ("ldam", "ldam_drw", "lpg+ldam_drw"):
        cfg = cells[f"ldam_c100_lt10/{name}"].config(0)
        assert cfg["model_params"]["head"] == "cosine" and cfg["method_params"]["s"] == 30.0
    assert "head" not in cells["ldam_c100_lt10/ce"].config(0)["model_params"]
    norm = {c.split("/")[0] for c in cells if c.endswith("/mwnet_norm")}
    assert norm == {c.split("/")[0] for c in cells if c.startswith("mwnet_") and c.endswith("/mwnet")}
    assert cells["mwnet_c10_symincl40_r32/mwnet_norm"].config(0)["method_params"]["normalize"] is True
    assert "normalize" not in cells["mwnet_c10_symincl40_r32/mwnet"].config(0)["method_params"]


def test_dry_run_sizes_every_cell_without_data(cells, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LPG_DATA", raising=False)  # nothing on disk: sizes come from the pools
    cache: dict = {}
    rows = {name: estimate_cell(cell, 4, 3, 0, tmp_path, cache) for name, cell in cells.items()}
    assert all(r["seconds"] for r in rows.values())
    assert rows["ldam_c10_lt100/ce"]["steps_per_epoch"] == 97  # (12,406 - 20) / 128 -> 96.8
    assert rows["mwnet_c10_symincl40_r32/ce"]["steps_per_epoch"] == 480  # 48,000 / 100
    wrn, r32 = rows["mwnet_c10_symincl40_wrn/ce"], rows["mwnet_c10_symincl40_r32/ce"]
    assert wrn["step_seconds"] > 50 * r32["step_seconds"]  # the cost model sees the model size


def test_every_dataset_row_trains_one_step(suite, cells, data_root) -> None:
    for row in suite.datasets:
        result = train(_tiny(cells[f"{row}/ce"]))
        assert result["status"] == "ok" and result["timing"]["steps"] == 1, row
        assert result["data"]["noise"]["kind"] == result["config"]["data"]["noise"], row
        assert result["data"]["augment"] == "crop_flip" and len(result["data"]["mean"]) == 3


def test_lpg_cell_trains_with_bf16_and_workers(cells, data_root) -> None:
    # The GPU-path options, on the CPU: bf16 autocast, channels-last and a 1-worker DataLoader.
    cfg = _tiny(cells["ldam_c10_lt100/lpg"], amp="bf16", channels_last=True, num_workers=1,
                max_steps_per_epoch=2, epochs=2)
    result = train(cfg)
    assert result["status"] == "ok" and result["timing"]["steps"] == 4
    assert result["timing"]["amp"] == "bf16" and result["timing"]["channels_last"] is True
    assert len(result["lpg"]["trajectory"]) == 2 and len(result["lpg"]["meta_loss"]) == 2
