"""Check the claims' decision rules by simulation: false verdicts under the null, power under an effect.

A simulated suite keeps a real suite's structure (its data set rows and protocols, its method
rows, each cell's seeds, the cells whose runs repeat another's bit for bit) and draws each
seed's metric as the row's mean plus normal noise whose sd is the row's own: half the median
variance of the real paired differences of the claims' comparisons on that row (so that a
simulated paired difference has the real median spread). Under the null every method of a row
has the same mean; under the alternative every LPG row (a method whose name starts with
``lpg``) gains ``effect`` (raw units) on every row. The simulated results go through the real
``claims.summarize``, so what is checked is the report's own rule.

Replication (``replication_agreement``): every cell centred on its real mean instead, two suites
drawn independently per trial, and the share of their counted comparison verdicts (and protocol
verdicts) that agree: how often a second run of the same design, whose trajectories part from the
first (another CPU, another kernel), would print the same verdict, if the real means were true.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from lpg_meta.catalog.methods import PROPOSED
from lpg_meta.report.claim_specs import ClaimSpec
from lpg_meta.report.claims import ALL_ROWS, summarize
from lpg_meta.report.identical import identical_cells
from lpg_meta.report.layout import Layout, method_family
from lpg_meta.report.tidy import Results

NON_NULL = ("supported", "contradicted")


@dataclass(frozen=True)
class Structure:
    """What a simulated suite keeps of a real one."""

    layout: Layout
    seeds: dict[tuple[str, str], list[int]]  # seeds with a value, per cell
    row_sd: dict[str, float]  # per-method noise sd of each row, raw units
    same: dict[str, dict[str, str]]  # per row: method -> the earlier method it repeats
    metric: str


def structure(results: Results, metric: str = "balanced_accuracy", split: str = "test") -> Structure:
    """The structure of ``results`` (cells, seeds, repeats) and each row's noise sd."""
    claims = [c for s in summarize(results, metric, split, bayes_samples=0) if s.protocol != ALL_ROWS
              for c in s.comparisons]
    row_sd = {}
    for ds in results.layout.datasets:
        sds = [c.result.sd for c in claims if c.dataset == ds and c.result.sd and c.same_as is None]
        if sds:
            row_sd[ds] = float(np.sqrt(np.median(np.square(sds)) / 2.0))
    seeds = {(ds, m): sorted(results.get(ds, m, metric, split)) for ds, m in results.present()
             if ds in row_sd and results.get(ds, m, metric, split)}
    same = {ds: identical_cells(results, ds) for ds in row_sd}
    return Structure(results.layout, seeds, row_sd, same, metric)


def simulate(shape: Structure, rng: np.random.Generator, effect: float = 0.0, split: str = "test",
             means: dict[tuple[str, str], float] | None = None) -> Results:
    """One simulated suite: every cell's seeds drawn around its row's mean (``effect`` added to LPG rows),
    or around the cell's own entry of ``means``."""
    values: dict[tuple[str, str, str, str], dict[int, float]] = {}
    for (ds, m), seeds in shape.seeds.items():
        if m in shape.same.get(ds, {}):
            continue  # a repeat copies its first below
        method = shape.layout.method_of(m)
        centre = means[(ds, m)] if means is not None else 0.7 + (effect if method_family(method) == PROPOSED else 0.0)
        draws = centre + shape.row_sd[ds] * rng.standard_normal(len(seeds))
        values[(ds, m, split, shape.metric)] = dict(zip(seeds, draws.tolist(), strict=True))
    for ds, repeats in shape.same.items():
        for m, first in repeats.items():
            if (ds, m) in shape.seeds:
                values[(ds, m, split, shape.metric)] = dict(values[(ds, first, split, shape.metric)])
    return Results(shape.layout, values, {cell: list(s) for cell, s in shape.seeds.items()})


def verdict_rates(shape: Structure, suites: int, seed: int = 0, effect: float = 0.0,
                  specs: tuple[ClaimSpec, ...] | None = None) -> dict[str, object]:
    """Over ``suites`` simulated suites: per (protocol, claim) the share of families with any non-null
    comparison verdict, of non-null protocol verdicts, and of 'supported' protocol verdicts."""
    rng = np.random.default_rng(seed)
    counts: dict[str, dict[str, int]] = {}
    for _ in range(suites):
        for s in summarize(simulate(shape, rng, effect), shape.metric, specs=specs, bayes_samples=0):
            key = f"{s.protocol}/{s.spec.name}"
            tally = counts.setdefault(key, {"family_any": 0, "protocol_non_null": 0, "protocol_supported": 0,
                                            "comparisons": 0, "comparisons_non_null": 0, "comparisons_supported": 0})
            counted = s.counted
            if s.protocol != ALL_ROWS:
                tally["family_any"] += any(c.verdict in NON_NULL for c in counted)
                tally["comparisons"] += len(counted)
                tally["comparisons_non_null"] += sum(c.verdict in NON_NULL for c in counted)
                tally["comparisons_supported"] += sum(c.verdict == "supported" for c in counted)
            tally["protocol_non_null"] += s.across.verdict in NON_NULL
            tally["protocol_supported"] += s.across.verdict == "supported"
    rates: dict[str, object] = {}
    for key, tally in counts.items():
        rates[key] = {"family_any_non_null": tally["family_any"] / suites,
                      "protocol_non_null": tally["protocol_non_null"] / suites,
                      "protocol_supported": tally["protocol_supported"] / suites,
                      "comparison_non_null": tally["comparisons_non_null"] / max(tally["comparisons"], 1),
                      "comparison_supported": tally["comparisons_supported"] / max(tally["comparisons"], 1)}
    return rates


def cell_means(results: Results, shape: Structure, split: str = "test") -> dict[tuple[str, str], float]:
    """Each simulated cell's real mean over its seeds."""
    return {cell: float(np.mean(list(results.get(*cell, shape.metric, split).values()))) for cell in shape.seeds}


def with_seeds(shape: Structure, n: int) -> Structure:
    """``shape`` with every cell on seeds 0 .. n-1 (a design with another number of seeds)."""
    return dataclasses.replace(shape, seeds={cell: list(range(n)) for cell in shape.seeds})


def replication_agreement(shape: Structure, means: dict[tuple[str, str], float], trials: int,
                          seed: int = 0) -> dict[str, float]:
    """Over ``trials`` pairs of independent suites centred on ``means``: the mean share of counted comparison
    verdicts that agree between the two, its 5th and 95th percentiles, and the share of protocol verdicts
    that agree."""
    rng = np.random.default_rng(seed)
    shares, protocol_same, protocols = [], 0, 0
    for _ in range(trials):
        first, second = ({(s.protocol, s.spec.name): s for s in
                          summarize(simulate(shape, rng, means=means), shape.metric, bayes_samples=0)}
                         for _ in range(2))
        same = total = 0
        for key, s in first.items():
            protocols += 1
            protocol_same += s.across.verdict == second[key].across.verdict
            if key[0] == ALL_ROWS:
                continue
            other = {(c.dataset, c.method, c.baseline): c.verdict for c in second[key].counted}
            for c in s.counted:
                total += 1
                same += c.verdict == other.get((c.dataset, c.method, c.baseline))
        shares.append(same / total)
    return {"comparisons_same": float(np.mean(shares)), "comparisons_same_p05": float(np.quantile(shares, 0.05)),
            "comparisons_same_p95": float(np.quantile(shares, 0.95)), "protocols_same": protocol_same / protocols}
