"""The evaluation harness: run searchers over seeds on one (dataset, device) and score them per EVAL.md.

`run_benchmark(...)` runs each method once per seed with a fresh `BudgetedEvaluator`, scores the
evaluated set against the true front (IGD, HV_B, with and without degenerate cells) or, with accuracy as
the only objective, scores the architecture the search picks (CoLLM-NAS's protocol: `picked_figures`), and optionally
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

from hwnas.baselines import SEARCHERS, SMALL_FLEETS_ONLY, get_searcher
from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord, LatencyModel, check_budget
from hwnas.core.objectives import ACCURACY_LATENCY, Objective, is_accuracy_only, objectives_name, search_objectives
from hwnas.core.space import Architecture
from hwnas.core.tables import Tables
from hwnas.errors import UsageError
from hwnas.pareto import true_front
from hwnas.partition import Partitioning, make_partitioning
from hwnas.registry import make_estimator, make_latency_model
from hwnas.runs.schema import write_bench_csv
from hwnas.tools.ranking import MAX_FLEET

INDICATORS = ("igd", "hv_b", "igd_valid", "hv_b_valid")
"""Per-run figures: IGD and HV_B with all cells, and with degenerate cells left out (`_valid`)."""
ACCURACY_INDICATORS = ("test_acc", "found_optimum", "best_evaluated_test_acc")
"""Per-run figures with accuracy alone: the picked architecture's test accuracy (%), whether it is the
space's best test accuracy (1 or 0; its mean over seeds is how often the optimum was found), and, as a
diagnostic only (a search cannot know it), the best test accuracy among everything the run evaluated."""
OPTIMUM_TOLERANCE = 1e-6
"""Test accuracies this close to the space's best count as the optimum (isomorphic cells share a value)."""


def indicators_for(objectives: Sequence[Objective]) -> tuple[str, ...]:
    """The per-run figures of a search over `objectives`."""
    return ACCURACY_INDICATORS if is_accuracy_only(objectives) else INDICATORS


def picked_figures(
    tables: Tables, dataset: str, archs: Sequence[Architecture | str], scores: Sequence[float]
) -> dict[str, float]:
    """CoLLM-NAS's figures of a single-objective run: what the architecture it would pick really scores.

    `archs` are the evaluated architectures in evaluation order and `scores` their estimator scores. The
    pick is the best by the search's own estimator (the first evaluated on ties); `test_acc` is its true
    test accuracy, `found_optimum` 1.0 when that equals the best test accuracy of the whole space.
    `best_evaluated_test_acc` is the best true test accuracy among all of `archs` (what a report that peeks
    at test accuracy would show; not what the search picks).
    """
    if not archs:
        raise ValueError("no evaluated architecture to pick from")
    test = tables.accuracy(dataset, "test")
    step = int(np.argmax(np.asarray(scores, dtype=np.float64)))  # argmax: the first of equal maxima
    test_acc = float(test[tables.rows([archs[step]])[0]])
    return {
        "test_acc": test_acc,
        "best_evaluated_test_acc": float(test[tables.rows(list(archs))].max()),
        "found_optimum": float(test_acc >= float(test.max()) - OPTIMUM_TOLERANCE),
        "picked_score": float(scores[step]),
        "picked_step": float(step),
    }


@dataclass(frozen=True)
class RunResult:
    """One method on one seed: its figures (`indicators_for` the objectives) and cost."""

    method: str
    seed: int
    figures: dict[str, float]
    evaluated: int
    wall_s: float

    def to_json(self) -> dict[str, Any]:
        """Flat JSON data: method, seed, each figure, evaluated, wall_s."""
        return {"method": self.method, "seed": self.seed, **self.figures, "evaluated": self.evaluated,
                "wall_s": self.wall_s}  # fmt: skip

    def line(self) -> str:
        """One progress line of figures: `IGD 0.0312 HV_B 0.9012` or `test 94.37 (optimum)`."""
        if "test_acc" in self.figures:
            return f"test {self.figures['test_acc']:.2f}" + (" (optimum)" if self.figures["found_optimum"] else "")
        return f"IGD {self.figures['igd']:.4f} HV_B {self.figures['hv_b']:.4f}"


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
            "runs": [r.to_json() for r in self.runs],
        }

    def markdown(self) -> str:
        """Return a markdown table: one row per method, mean ± std of each indicator."""
        if self.settings.get("objectives") == "accuracy":
            lines = [
                "| method | seeds | test acc. of the pick (%) | found the optimum | wall s/run |",
                "|---|---|---|---|---|",
            ]
            for s in self.summaries:
                found = round(s.mean["found_optimum"] * s.seeds)
                lines.append(
                    f"| {s.method} | {s.seeds} | {s.mean['test_acc']:.2f} ± {s.std['test_acc']:.2f} | "
                    f"{found}/{s.seeds} | {s.wall_s:.3f} |"
                )
            return "\n".join(lines)
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
    objectives: Sequence[Objective] = ACCURACY_LATENCY,
) -> BaselineRun:
    """Run `method` once with a fresh budgeted evaluator: the one baseline path of `bench` and campaigns.

    With `archive_csv`, the records are written there with their true test accuracy.
    """
    searcher = get_searcher(method, dataset=dataset, partitioning=partitioning)
    scorer = make_estimator(estimator, space=tables.space, dataset=dataset, tables=tables, seed=seed)
    evaluator = BudgetedEvaluator(tables.space, scorer, latency_model, budget, objectives=objectives)
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
    for key in runs[0].figures:
        values = [r.figures[key] for r in runs]
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
    objectives: Sequence[Objective] = ACCURACY_LATENCY,
) -> BenchmarkReport:
    """Run every method on seeds 0..seeds-1 and score each run; write CSVs and results.json to `out`.

    With `objectives` = accuracy alone each run is scored by `picked_figures` instead of IGD and HV_B.
    A fleet `device` (`fpga,raspi4`) searches accuracy and each device's latency (`fleet_objectives`) and
    scores IGD and HV_B against the true front in those 1 + k dimensions.

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
    if not is_accuracy_only(objectives):
        objectives = search_objectives("accuracy,latency", device)
        small_only = [m for m in methods if m in SMALL_FLEETS_ONLY]
        if len(objectives) - 1 > MAX_FLEET and small_only:
            raise UsageError(f"method {small_only[0]!r} ranks fleets of at most {MAX_FLEET} devices, got {device!r}")
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
                archive_csv=None if out is None else out / method / f"seed{seed}.csv", objectives=objectives,
            )  # fmt: skip
            archs = [r.arch for r in run.records]
            if is_accuracy_only(objectives):
                scores = picked_figures(tables, dataset, archs, [r.score for r in run.records])
            else:
                scores = {"igd": full.igd(archs), "hv_b": full.hv_b(archs)}
                scores |= {"igd_valid": valid.igd(archs), "hv_b_valid": valid.hv_b(archs)}
            method_runs.append(RunResult(method, seed, scores, evaluated=len(archs), wall_s=run.wall_s))
            if on_run is not None:
                on_run(method_runs[-1])
        runs += method_runs
        summaries.append(_summarise(method, method_runs))
    settings = {
        "methods": list(methods), "dataset": dataset, "device": device, "budget": budget, "seeds": seeds,
        "estimator": estimator, "partition_axis": partition_axis, "bins": bins,
    }  # fmt: skip
    if is_accuracy_only(objectives):
        settings["objectives"] = objectives_name(objectives)  # bi-objective results.json files stay as they were
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
