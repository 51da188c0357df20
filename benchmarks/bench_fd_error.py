"""Error of the ``fd`` meta-gradient against the exact ``jvp`` one, at the meta steps of a real run.

Trains a suite cell's untuned config (default ``lpg`` on ``mnist1d_lt`` and ``digits_sym`` of
``benchmarks/cpu.yaml``) with the meta backend ``--backend`` (default ``fd``: the errors along
the trajectory that ``fd`` itself takes). At every ``--every``-th meta step, before the run's own
look-ahead, the meta-gradient is computed twice at the same state, by ``jvp`` and by ``fd``
(``lookahead_meta_grad``, which leaves the model, its buffers and the RNG as they were), and
their cosine and relative error ``||g_fd - g_jvp|| / ||g_jvp||`` are recorded.

Writes ``results/bench/fd_error.json``: per row the per-step records, their summary (median,
10th percentile and minimum of the cosine; median, 90th percentile and maximum of the relative
error), the run's last-epoch test balanced accuracy and the provenance.

Usage: ``python benchmarks/bench_fd_error.py [--rows mnist1d_lt digits_sym] [--method lpg]
[--seed 0] [--every 1] [--backend fd] [--threads 1] [--out PATH]``
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.bench.cells import expand
from lpg_meta.bench.schema import load_suite
from lpg_meta.lpg import lookahead_meta_grad
from lpg_meta.methods import METHODS
from lpg_meta.results import cpu_info, git_commit, write_json_atomic
from lpg_meta.train.trainer import train

OUT = Path("results/bench/fd_error.json")


class Probe:
    """Wraps a meta method's ``look_ahead``: compares ``fd`` with ``jvp`` every ``every`` calls."""

    def __init__(self, method: str, every: int) -> None:
        self.every, self.calls, self.records = every, 0, []
        self.cls = METHODS.get(method)
        self.original = self.cls.look_ahead

    def __enter__(self) -> Probe:
        probe = self

        def look_ahead(method, model, optimizer, batch, meta_batch, virtual_loss, meta_params):
            if probe.calls % probe.every == 0:
                probe.compare(model, optimizer, batch, meta_batch, virtual_loss, meta_params)
            probe.calls += 1
            return probe.original(method, model, optimizer, batch, meta_batch, virtual_loss, meta_params)

        self.cls.look_ahead = look_ahead
        return self

    def __exit__(self, *exc: object) -> None:
        self.cls.look_ahead = self.original

    def compare(self, model, optimizer, batch, meta_batch, virtual_loss, meta_params) -> None:
        grads = {}
        for backend in ("jvp", "fd"):
            g, _ = lookahead_meta_grad(model, optimizer, batch, meta_batch, virtual_loss, meta_params, backend)
            grads[backend] = torch.cat([t.detach().reshape(-1) for t in g]).double()
        exact, fd = grads["jvp"], grads["fd"]
        norm = exact.norm().item()
        self.records.append({
            "meta_step": self.calls,
            "exact_norm": norm,
            "cosine": F.cosine_similarity(fd, exact, dim=0).item() if norm > 0 else None,
            "relative_error": (fd - exact).norm().item() / norm if norm > 0 else None,
        })


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[int(q * 10) - 1] if len(values) > 1 else values[0]


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Distribution of the cosine and of the relative error over the compared meta steps."""
    cos = [r["cosine"] for r in records if r["cosine"] is not None]
    rel = [r["relative_error"] for r in records if r["relative_error"] is not None]
    return {
        "compared_steps": len(records), "zero_gradient_steps": len(records) - len(rel),
        "cosine": {"median": statistics.median(cos), "p10": _quantile(cos, 0.1), "min": min(cos)},
        "relative_error": {"median": statistics.median(rel), "p90": _quantile(rel, 0.9), "max": max(rel)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="benchmarks/cpu.yaml")
    parser.add_argument("--rows", nargs="*", default=["mnist1d_lt", "digits_sym"])
    parser.add_argument("--method", default="lpg")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=1, help="compare at every k-th meta step")
    parser.add_argument("--backend", default="fd", help="the backend the run itself trains with")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, help="override the rows' epochs (a quick check, not the bench)")
    parser.add_argument("--meta-interval", type=int, help="override the method's meta_interval (default: its own)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    suite = load_suite(args.suite)
    rows = []
    for row in args.rows:
        (cell,) = expand(suite, only=f"{row}/{args.method}")
        cfg = cell.config(args.seed, {"backend": args.backend,
                                      **({"meta_interval": args.meta_interval} if args.meta_interval else {})})
        cfg["train"] = {**cfg["train"], "threads": args.threads, "progress": "none",
                        **({"epochs": args.epochs} if args.epochs else {})}
        with Probe(cell.raw["method"].split("+")[0], args.every) as probe:  # lpg+BASE: the lpg class
            result = train(cfg)
        rec = {"row": row, "method": args.method, "seed": args.seed, "backend": args.backend, "every": args.every,
               "dtype": str(torch.get_default_dtype()),
               "balanced_accuracy": result["metrics"]["test"]["balanced_accuracy"],
               "summary": summary(probe.records), "steps": probe.records}
        rows.append(rec)
        s = rec["summary"]
        print(f"{row}: {s['compared_steps']} meta steps compared; cosine median {s['cosine']['median']:.6f} "
              f"min {s['cosine']['min']:.6f}; relative error median {s['relative_error']['median']:.2e} "
              f"p90 {s['relative_error']['p90']:.2e} max {s['relative_error']['max']:.2e}", flush=True)
    write_json_atomic(args.out, {"rows": rows, "suite": args.suite, "cpu": cpu_info(), "torch": torch.__version__,
                                 **git_commit()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
