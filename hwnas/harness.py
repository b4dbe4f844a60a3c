"""The evaluation harness: run searchers over seeds on one (dataset, device) and score them per EVAL.md.

`run_benchmark(...)` runs each method once per seed with a fresh `BudgetedEvaluator`, scores the
evaluated set against the true front (IGD, HV_B, with and without degenerate cells), and optionally
writes one archive CSV per run (`<out>/<method>/seed<k>.csv`: one row per evaluated architecture, in
evaluation order) and `<out>/results.json`. The CLI verb is `hwnas bench`.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.baselines import SEARCHERS, get_searcher
from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord, LatencyModel, check_budget
from hwnas.core.tables import Tables
from hwnas.errors import UsageError
from hwnas.pareto import true_front
from hwnas.partition import Partitioning, make_partitioning
from hwnas.registry import make_estimator, make_latency_model
from hwnas.runs.schema import write_bench_csv

INDICATORS = ("igd", "hv_b", "igd_valid", "hv_b_valid")
"""Per-run figures: IGD and HV_B with all cells, and with degenerate cells left out (`_valid`)."""


@dataclass(frozen=True)
class RunResult:
    """One method on one seed."""

    method: str
    seed: int
    igd: float
    hv_b: float
    igd_valid: float
    hv_b_valid: float
    evaluated: int
    wall_s: float


@dataclass(frozen=True)
class MethodSummary:
    """Mean and (sample) standard deviation over seeds of each indicator, and mean wall time."""

    method: str
    seeds: int
    mean: dict[str, float]
    std: dict[str, float]
    wall_s: float


@dataclass(frozen=True)
class BenchmarkReport:
    """Everything `hwnas bench` measured."""

    settings: dict[str, Any]
    front_size: int
    front_size_valid: int
    runs: list[RunResult]
    summaries: list[MethodSummary]

    def to_json(self) -> dict[str, Any]:
        """Return the report as plain JSON data (results.json)."""
        return {
            "settings": self.settings,
            "true_front_size": self.front_size,
            "true_front_size_valid": self.front_size_valid,
            "methods": {s.method: asdict(s) for s in self.summaries},
            "runs": [asdict(r) for r in self.runs],
        }

    def markdown(self) -> str:
        """Return a markdown table: one row per method, mean ± std of each indicator."""
        header = "| method | seeds | IGD | HV_B | IGD (no degenerate) | HV_B (no degenerate) | wall s/run |"
        lines = [header, "|---|---|---|---|---|---|---|"]
        for s in self.summaries:
            cells = [f"{s.mean[k]:.4f} ± {s.std[k]:.4f}" for k in INDICATORS]
            lines.append(f"| {s.method} | {s.seeds} | {' | '.join(cells)} | {s.wall_s:.3f} |")
        return "\n".join(lines)


@dataclass(frozen=True)
class BaselineRun:
    """One baseline on one seed: its records in evaluation order, wall time and estimator usage."""

    records: list[EvaluationRecord]
    wall_s: float
    usage: dict[str, Any]


def run_baseline(
    method: str,
    seed: int,
    *,
    tables: Tables,
    dataset: str,
    estimator: str,
    latency_model: LatencyModel,
    budget: int,
    partitioning: Partitioning,
    archive_csv: Path | None = None,
) -> BaselineRun:
    """Run `method` once with a fresh budgeted evaluator: the one baseline path of `bench` and campaigns.

    With `archive_csv`, the records are written there with their true test accuracy.
    """
    searcher = get_searcher(method, dataset=dataset, partitioning=partitioning)
    scorer = make_estimator(estimator, space=tables.space, dataset=dataset, tables=tables, seed=seed)
    evaluator = BudgetedEvaluator(tables.space, scorer, latency_model, budget)
    started = time.perf_counter()
    records = searcher(evaluator, np.random.default_rng(seed))
    wall_s = time.perf_counter() - started
    if archive_csv is not None:
        test_acc = tables.accuracy(dataset, "test")[tables.rows([r.arch for r in records])]
        write_bench_csv(archive_csv, records, test_acc)
    usage: dict[str, Any] = {"llm_calls": 0, "tokens_in": 0, "tokens_out": 0}
    stats = getattr(scorer, "stats", None)
    if stats is not None:  # zero-cost: how much of the wall time was torch work (cache misses)
        usage |= {"zc_computed": stats.computed, "zc_torch_s": round(stats.torch_seconds, 3)}
    return BaselineRun(records, wall_s, usage)


def _summarise(method: str, runs: list[RunResult]) -> MethodSummary:
    mean, std = {}, {}
    for key in INDICATORS:
        values = [getattr(r, key) for r in runs]
        mean[key] = statistics.fmean(values)
        std[key] = statistics.stdev(values) if len(values) > 1 else 0.0
    return MethodSummary(method, len(runs), mean, std, statistics.fmean(r.wall_s for r in runs))


def run_benchmark(
    *,
    tables: Tables,
    methods: Sequence[str],
    dataset: str,
    device: str,
    budget: int,
    seeds: int,
    estimator: str = "oracle-val",
    partition_axis: str = "conv3",
    bins: int = 6,
    out: Path | None = None,
    on_run: Callable[[RunResult], None] | None = None,
) -> BenchmarkReport:
    """Run every method on seeds 0..seeds-1 and score each run; write CSVs and results.json to `out`.

    `partition_axis` and `bins` choose the partitions of `rs-partition`. Every argument is checked
    before the first run, so bad input fails fast with a UsageError. `on_run` hears of each finished run.
    """
    space = tables.space
    space.check_dataset(dataset)
    if not methods:
        raise UsageError(f"no method given; accepted: {', '.join(SEARCHERS)}")
    for name in methods:
        get_searcher(name)  # an unknown name fails before anything is loaded
    if seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {seeds}")
    latency_model = make_latency_model(device, space=space, dataset=dataset, tables=tables)
    make_estimator(estimator, space=space, dataset=dataset, tables=tables)  # a bad name fails before any run
    check_budget(space, budget)
    partitioning = make_partitioning(space, partition_axis, bins=bins, dataset=dataset, tables=tables, device=device)
    full = true_front(tables, dataset, device)
    valid = true_front(tables, dataset, device, exclude_degenerate=True)
    runs: list[RunResult] = []
    summaries: list[MethodSummary] = []
    for method in methods:
        method_runs = []
        for seed in range(seeds):
            run = run_baseline(
                method, seed, tables=tables, dataset=dataset, estimator=estimator, latency_model=latency_model,
                budget=budget, partitioning=_for_seed(partitioning, seed, dataset),
                archive_csv=None if out is None else out / method / f"seed{seed}.csv",
            )  # fmt: skip
            archs = [r.arch for r in run.records]
            scores = {"igd": full.igd(archs), "hv_b": full.hv_b(archs)}
            scores |= {"igd_valid": valid.igd(archs), "hv_b_valid": valid.hv_b(archs)}
            method_runs.append(RunResult(method, seed, **scores, evaluated=len(archs), wall_s=run.wall_s))
            if on_run is not None:
                on_run(method_runs[-1])
        runs += method_runs
        summaries.append(_summarise(method, method_runs))
    settings = {
        "methods": list(methods), "dataset": dataset, "device": device, "budget": budget, "seeds": seeds,
        "estimator": estimator, "partition_axis": partition_axis, "bins": bins,
    }  # fmt: skip
    report = BenchmarkReport(settings, len(full.rows), len(valid.rows), runs, summaries)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report


def _for_seed(partitioning: Partitioning, seed: int, dataset: str) -> Partitioning:
    """The partitioning a run of `seed` uses: a `random` split is drawn anew per seed, the others are fixed."""
    if partitioning.axis != "random":
        return partitioning
    return make_partitioning(partitioning.space, "random", dataset=dataset, seed=seed)
