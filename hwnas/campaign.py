"""Evaluation campaigns: every method on a grid of (dataset, device, budget, estimator) cells, over seeds.

A campaign is a TOML file in `evals/` (`load_campaign("main")`) or anywhere (`load_campaign("path.toml")`)::

    description = "..."
    seeds = 10
    [[grid]]                      # one or more blocks; the cells are the union of their products
    devices = ["fpga", "eyeriss"]
    budgets = [120]
    estimators = ["zc", "oracle-val"]
    methods = ["rs", "nsga2", "agent", "agent-top@flops-k4"]   # METHOD@AXIS[-kBINS]: its partitions
    datasets = ["cifar10"]        # optional, default cifar10

A campaign with `objectives = "accuracy"` (CoLLM-NAS's single-objective protocol, `evals/collm.toml`)
scores each unit by the test accuracy of the architecture the run picks by its estimator
(`hwnas.harness.picked_figures`); the latency of its `devices` is only recorded (NB201's `nb201_gpu` has
latency for every dataset), its cells are named `<dataset>-b<budget>-<estimator>-<method>`, and an optional
`[reference]` table holds published rows (`rows = {"name" = [one figure per dataset]}`, with `datasets`
and `source`) that its markdown table shows beside the measured ones.

`run_campaign(campaign, out=..., workers=...)` runs each (cell, seed) *unit* once (with
`execution=Execution("ray")`, as Ray tasks: `hwnas.scale.campaign`, same files): the unit's result is
`OUT/units/<cell>/seed<k>.json`, written atomically when the unit ends, and a unit whose file exists is
skipped, so a killed campaign continues where it stopped (an agent run killed mid-way also resumes from
its own checkpoint). Units run seed-major (seed 0 of every cell, then seed 1, ...), so a campaign cut
short still has balanced seeds. Every run's archive is kept under `OUT/runs/<cell>/`. Units are shared
by all campaigns using the same OUT: the agent cell of the ablations is the one of the main campaign.

`summarise_campaign` aggregates the unit files into `OUT/results-<name>.json`; `campaign_markdown` and
`write_plots` turn that into BENCHMARKS.md tables (replaced between `<!-- campaign:NAME:start -->` and
`<!-- campaign:NAME:end -->` by `update_markdown`) and PNG figures. The CLI is `hwnas bench --campaign`.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from fnmatch import fnmatchcase
from importlib import resources
from itertools import product
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Final

import numpy as np

from hwnas.baselines import SEARCHERS
from hwnas.core.objectives import is_accuracy_only, objectives_name, parse_objectives
from hwnas.core.tables import Tables
from hwnas.errors import UsageError
from hwnas.harness import indicators_for, picked_figures, run_baseline
from hwnas.pareto import true_front, true_indicators
from hwnas.partition import Partitioning, axes, make_partitioning
from hwnas.registry import ESTIMATORS, make_latency_model
from hwnas.scale import Execution
from hwnas.spaces import get_space

RECORDED_WITH: Final[dict[str, Any]] = {"representatives": "first", "score_warp": "none"}
"""Defaults changed after the methods below them were measured: the values their committed results ran
with, so that a campaign resumes and re-runs what `results/` holds (`-fastest` methods: fastest members,
raw scores; `-copula` methods: today's defaults)."""
_MEASURED_BEFORE_FASTEST: Final[dict[str, dict[str, Any]]] = {
    "agent": {},
    "agent-no-partition": {"partition_axis": "none"},
    "agent-no-knowledge": {"use_knowledge": False},
    "agent-no-navigator": {"use_navigator": False},
    "agent-no-llm": {"llm": "random"},
    "agent-ranked-labels": {"option_labels": "ranked"},
    "agent-top": {"generator_policy": "top"},
    "agent-no-llm-top": {"llm": "random", "generator_policy": "top"},
    "agent-random-picks": {"generator_policy": "random"},
    "agent-no-llm-runners-up": {"llm": "random", "option_lists": "runners-up"},
    "agent-init1-runners-up": {"init_per_partition": 1, "option_lists": "runners-up"},
    "agent-no-llm-init1-runners-up": {"llm": "random", "init_per_partition": 1, "option_lists": "runners-up"},
    "agent-no-llm-top-init1": {"llm": "random", "generator_policy": "top", "init_per_partition": 1},
    "agent-blind": {"blind_prompts": True},
    "agent-top-blind": {"generator_policy": "top", "blind_prompts": True},
}
"""The agent methods whose committed results ran before `--representatives fastest` (they keep `RECORDED_WITH`)."""
_MEASURED_BEFORE_COPULA: Final[dict[str, dict[str, Any]]] = {
    "agent-fastest": {"representatives": "fastest"},
    "agent-no-llm-top-fastest": {"llm": "random", "generator_policy": "top", "representatives": "fastest"},
}
"""The agent methods whose committed results ran with fastest members before `--score-warp copula`."""
AGENT_METHODS: Final[dict[str, dict[str, Any]]] = {
    **{
        name: {**RECORDED_WITH, **changes}
        for name, changes in {**_MEASURED_BEFORE_FASTEST, **_MEASURED_BEFORE_COPULA}.items()
    },
    "agent-copula": {},
    "agent-no-llm-top-copula": {"llm": "random", "generator_policy": "top"},
}
"""Agent-graph variants: the `RunSettings` each one changes from the defaults (LLM: embedded)."""
METHODS: Final = (*SEARCHERS, *AGENT_METHODS)
PARTITIONED_METHODS: Final = frozenset({*AGENT_METHODS, "rs-partition"})
"""Methods whose partitions a campaign may choose: `METHOD@AXIS` or `METHOD@AXIS-kBINS` (`agent-top@flops-k4`)."""


@dataclass(frozen=True)
class MethodVariant:
    """A campaign method name read apart: the method, and the partition axis and bins it overrides (if any)."""

    base: str
    axis: str | None = None
    bins: int | None = None

    @property
    def is_agent(self) -> bool:
        """Whether the method is an agent-graph variant (not a baseline)."""
        return is_agent_method(self.base)


def is_agent_method(method: str) -> bool:
    """Whether a campaign method (`agent-top`, `agent-top@random`) is an agent-graph variant, not a baseline."""
    return method.partition("@")[0] in AGENT_METHODS


def method_variant(method: str, space: str = "nb201") -> MethodVariant:
    """Read `agent-top@flops-k4` as (agent-top, flops, 4); a UsageError for an unknown method, axis or bins."""
    base, _, partition = method.partition("@")
    if base not in METHODS:
        raise UsageError(f"unknown method {base!r}; accepted: {', '.join(METHODS)}")
    if not partition:
        return MethodVariant(base)
    if base not in PARTITIONED_METHODS:
        raise UsageError(f"method {base!r} takes no partitions; only {', '.join(sorted(PARTITIONED_METHODS))} do")
    axis, _, bins = partition.partition("-k")
    accepted = axes(get_space(space))
    if axis not in accepted:
        raise UsageError(f"unknown partition axis {axis!r} in {method!r}; accepted: {', '.join(accepted)}")
    if bins and (not bins.isdigit() or int(bins) < 1):
        raise UsageError(f"{method!r}: the bins after '-k' must be a whole number of at least 1")
    return MethodVariant(base, axis, int(bins) if bins else None)


INDICATORS: Final = ("igd", "hv_b", "igd_valid", "hv_b_valid")
BIAS_AXIS: Final = "conv3"
"""Exploration bias is counted over the six `conv3` partitions, whatever partitions a method uses."""
DEGENERATE_DEVICES: Final = frozenset({"raspi4", "pixel3"})
"""Devices whose true front holds a degenerate cell: their tables also show figures without them."""
NOT_RUN: Final = "not run (time)"
DEFAULT_OUT: Final = Path("bench/campaign")
LOCAL: Final = Execution()


@dataclass(frozen=True, order=True)
class Cell:
    """One method under one (dataset, device, budget, estimator): a row of the tables."""

    dataset: str
    device: str
    budget: int
    estimator: str
    method: str
    space: str = "nb201"
    """The search space (`hwnas.spaces`); not part of the key, so NB201 cells keep their file names."""
    objectives: str = "accuracy,latency"
    """What the cell's runs optimise (`hwnas.core.objectives`)."""

    @property
    def accuracy_only(self) -> bool:
        """Whether the cell searches accuracy alone (CoLLM-NAS's protocol)."""
        return is_accuracy_only(parse_objectives(self.objectives))

    @property
    def key(self) -> str:
        """File-safe name: `cifar10-fpga-b120-zc-agent`; with accuracy alone `cifar10-b100-oracle-val-rea`."""
        if self.accuracy_only:
            return f"{self.dataset}-b{self.budget}-{self.estimator}-{self.method}"
        return f"{self.dataset}-{self.device}-b{self.budget}-{self.estimator}-{self.method}"

    @property
    def group(self) -> tuple[str, str, int, str]:
        """The cells compared with each other: same dataset, device, budget and estimator."""
        return (self.dataset, self.device, self.budget, self.estimator)


@dataclass(frozen=True)
class Campaign:
    """A named set of cells and how many seeds each should get."""

    name: str
    cells: tuple[Cell, ...]
    seeds: int
    description: str = ""
    reference: dict[str, Any] = field(default_factory=dict)
    """Published figures shown beside the measured ones (the TOML's `[reference]` table), or empty."""

    def select(self, only: str | None) -> Campaign:
        """Keep the cells whose key matches one of the comma-separated globs (plain text: a substring)."""
        if not only:
            return self
        patterns = [p.strip() for p in only.split(",") if p.strip()]
        kept = tuple(c for c in self.cells if any(_matches(c.key, p) for p in patterns))
        if not kept:
            raise UsageError(f"--only {only!r} matches no cell of campaign {self.name!r} (e.g. {self.cells[0].key})")
        return replace(self, cells=kept)


def _matches(key: str, pattern: str) -> bool:
    return fnmatchcase(key, pattern) if any(ch in pattern for ch in "*?[") else pattern in key


def _as_list(block: dict[str, Any], name: str, default: list[Any] | None, where: str) -> list[Any]:
    value = block.get(name, default)
    if not isinstance(value, list) or not value:
        raise UsageError(f"{where}: [[grid]] needs a non-empty list {name!r}")
    return value


def parse_campaign(name: str, text: str, *, where: str = "campaign") -> Campaign:
    """Build a campaign from TOML text (see the module docstring for the format)."""
    try:
        payload = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{where} is not valid TOML: {error}") from None
    cells: dict[Cell, None] = {}
    space = str(payload.get("space", "nb201"))
    get_space(space)  # an unknown space fails here, naming the known ones
    objectives = objectives_name(parse_objectives(str(payload.get("objectives", "accuracy,latency"))))
    for block in payload.get("grid", []):
        lists = [
            _as_list(block, "datasets", ["cifar10"], where),
            _as_list(block, "devices", None, where),
            _as_list(block, "budgets", None, where),
            _as_list(block, "estimators", None, where),
            _as_list(block, "methods", None, where),
        ]
        for dataset, device, budget, estimator, method in product(*lists):
            try:
                method_variant(method, space)
            except UsageError as error:
                raise UsageError(f"{where}: {error}") from None
            if "," in device:
                raise UsageError(
                    f"{where}: device {device!r}: a campaign cell takes one device; a fleet is measured by "
                    "`hwnas bench --device A,B` or evals/fleet_eval.py"
                )
            if estimator not in ESTIMATORS:
                raise UsageError(f"{where}: unknown estimator {estimator!r}; accepted: {', '.join(ESTIMATORS)}")
            cells[Cell(dataset, device, int(budget), estimator, method, space, objectives)] = None
    if not cells:
        raise UsageError(f"{where} defines no cell: add a [[grid]] block")
    seeds = int(payload.get("seeds", 10))
    if seeds < 1:
        raise UsageError(f"{where}: seeds must be at least 1, got {seeds}")
    reference = payload.get("reference", {})
    if not isinstance(reference, dict):
        raise UsageError(f"{where}: [reference] must be a table")
    return Campaign(name, tuple(cells), seeds, str(payload.get("description", "")).strip(), reference)


def available_campaigns() -> list[str]:
    """Names of the campaigns shipped in `evals/`."""
    folder = resources.files("hwnas.evals")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_campaign(name: str) -> Campaign:
    """The campaign `evals/<name>.toml`, or the TOML file at path `name`."""
    path = Path(name)
    if name.endswith(".toml") and path.is_file():
        return parse_campaign(path.stem, path.read_text(encoding="utf-8"), where=str(path))
    resource = resources.files("hwnas.evals") / f"{name}.toml"
    if not resource.is_file():
        raise UsageError(f"unknown campaign {name!r}; shipped: {', '.join(available_campaigns())}, or a .toml path")
    return parse_campaign(name, resource.read_text(encoding="utf-8"), where=f"evals/{name}.toml")


def _tables(space: str, data: str | None) -> Tables:
    """The benchmark tables of `space` (every campaign scores its units against the true front)."""
    tables = get_space(space).load_tables(data)
    assert tables is not None  # required: a space without tables raises
    return tables


# ---- one unit of work ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnitPaths:
    """Where one (cell, seed) keeps its result and its run."""

    out: Path
    cell: Cell
    seed: int

    @property
    def result(self) -> Path:
        """The unit's result JSON; its existence means the unit is done."""
        return self.out / "units" / self.cell.key / f"seed{self.seed}.json"

    @property
    def runs(self) -> Path:
        """The cell's run folder: baseline archives `seed<k>.csv`, agent runs `seed<k>/`."""
        return self.out / "runs" / self.cell.key


def write_json_atomically(path: Path, payload: Any) -> None:
    """Write JSON to a temporary sibling and rename it: readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


EXPORT_COLUMNS: Final = ("step", "arch_str", "score", "latency_ms")


def export_folder(cell: Cell) -> str:
    """A cell's folder of exported archives: `<device>-b<budget>-<estimator>-<method>`.

    The dataset goes first when it is not CIFAR-10; an accuracy-only cell's folder is its key.
    """
    if cell.accuracy_only:
        return cell.key
    folder = f"{cell.device}-b{cell.budget}-{cell.estimator}-{cell.method}"
    return folder if cell.dataset == "cifar10" else f"{cell.dataset}-{folder}"


def export_results(campaign: Campaign, out: Path, dest: Path) -> int:
    """Copy every finished unit of `campaign` into `dest`, compactly, so figures can be re-scored without runs.

    `dest/<device>-b<budget>-<estimator>-<method>/seed<k>.csv` holds the evaluated architectures in
    evaluation order (`EXPORT_COLUMNS`; the dataset prefixes the folder when it is not CIFAR-10), and
    `dest/units/` the unit result files, so `--report-only --out dest` rebuilds the tables. Returns the
    number of units exported.
    """
    exported = 0
    for cell in campaign.cells:
        for seed in range(campaign.seeds):
            unit = UnitPaths(out, cell, seed).result
            if not unit.exists():
                continue
            result = json.loads(unit.read_text(encoding="utf-8"))
            with Path(result["archive"]).open(encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            target = dest / export_folder(cell) / f"seed{seed}.csv"
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(EXPORT_COLUMNS)
                for step, row in enumerate(rows):
                    writer.writerow([step, row["arch_str"], row["score"], row["latency_ms"]])
            write_json_atomically(UnitPaths(dest, cell, seed).result, {**result, "archive": str(target)})
            exported += 1
    return exported


def exploration_bias(tables: Tables, cell: Cell, archs: Sequence[str]) -> dict[str, Any]:
    """Share of the evaluations per `conv3` partition, and the share of the true front's latency range covered.

    Coverage is the length of [min, max] of the evaluated latencies intersected with the true front's
    latency range, divided by that range's length.
    """
    partitioning = make_partitioning(tables.space, BIAS_AXIS, dataset=cell.dataset, tables=tables, device=cell.device)
    counts = np.zeros(len(partitioning), dtype=np.int64)
    for arch in archs:
        counts[partitioning.assign(tables.space.parse(arch))] += 1
    latency = tables.latency_ms(cell.dataset, cell.device)
    front = latency[true_front(tables, cell.dataset, cell.device).rows]
    evaluated = latency[tables.rows(list(archs))]
    low, high = max(evaluated.min(), front.min()), min(evaluated.max(), front.max())
    span = float(front.max() - front.min())
    return {
        "partition_share": (counts / max(len(archs), 1)).tolist(),
        "latency_coverage": max(0.0, float(high - low)) / span if span > 0 else 1.0,
    }


def _partitioning(cell: Cell, seed: int, tables: Tables) -> Partitioning:
    """The partitions of a baseline's run: the method's `@AXIS-kBINS` if it names them, else the space's niches."""
    variant = method_variant(cell.method, cell.space)
    return make_partitioning(
        tables.space, variant.axis or tables.space.niches().axis, bins=variant.bins or 6, dataset=cell.dataset,
        tables=tables, device=cell.device, seed=seed,
    )  # fmt: skip


def _run_baseline(cell: Cell, seed: int, paths: UnitPaths, tables: Tables) -> dict[str, Any]:
    space = tables.space
    archive = paths.runs / f"seed{seed}.csv"
    run = run_baseline(
        method_variant(cell.method, cell.space).base, seed, tables=tables, dataset=cell.dataset,
        estimator=cell.estimator,
        latency_model=make_latency_model(cell.device, space=space, dataset=cell.dataset, tables=tables),
        budget=cell.budget,
        partitioning=_partitioning(cell, seed, tables),
        archive_csv=archive, objectives=parse_objectives(cell.objectives),
    )  # fmt: skip
    archs = [r.arch_str for r in run.records]
    scores = [r.score for r in run.records]
    return {"archs": archs, "scores": scores, "wall_s": run.wall_s, "archive": str(archive), **run.usage}


def _run_agent(cell: Cell, seed: int, paths: UnitPaths, data: str | None, chat_model: Any) -> dict[str, Any]:
    from hwnas.graph.context import RunSettings
    from hwnas.graph.runner import run_search

    variant = method_variant(cell.method, cell.space)
    partitions: dict[str, Any] = {"partition_axis": variant.axis} if variant.axis else {}
    if variant.bins:
        partitions["partition_bins"] = variant.bins
    settings = RunSettings(
        space=cell.space,
        dataset=cell.dataset,
        device=cell.device,
        estimator=cell.estimator,
        budget=cell.budget,
        seed=seed,
        objectives=cell.objectives,
        **{**AGENT_METHODS[variant.base], **partitions},
    )
    model = chat_model if settings.llm != "random" else None
    run_dir = paths.runs / f"seed{seed}"
    # A run finished earlier (e.g. started by `hwnas run` with the same settings) keeps its own wall time:
    # run_search only times the session that calls it. A run killed mid-way is timed from its resumption.
    earlier = run_dir / "summary.json"
    earlier_wall_s = json.loads(earlier.read_text())["wall_s"] if earlier.exists() else None
    resumed = (run_dir / "settings.json").exists()
    summary = run_search(settings, name=f"seed{seed}", out=paths.runs, data=data, chat_model=model,
                         on_progress=lambda _line: None)  # fmt: skip
    with (run_dir / "archive.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    archs, scores = [row["arch_str"] for row in rows], [float(row["score"]) for row in rows]
    keys = ("llm_calls", "tokens_in", "tokens_out", "rounds", "stop_reason")
    wall_s = summary["wall_s"] if earlier_wall_s is None else earlier_wall_s
    return {"archs": archs, "scores": scores, "wall_s": wall_s, "archive": str(run_dir / "archive.csv"),
            "resumed": resumed,
            **{k: summary.get(k) for k in keys}}  # fmt: skip


def run_unit(cell: Cell, seed: int, out: Path, data: str | None = None, chat_model: Any = None) -> dict[str, Any]:
    """Run one (cell, seed), score it against the true front, and write its result file; return the result."""
    tables = _tables(cell.space, data)
    paths = UnitPaths(out, cell, seed)
    if method_variant(cell.method, cell.space).is_agent:
        run = _run_agent(cell, seed, paths, data, chat_model)
    else:
        run = _run_baseline(cell, seed, paths, tables)
    archs, scores = run.pop("archs"), run.pop("scores")
    if cell.accuracy_only:
        figures = picked_figures(tables, cell.dataset, archs, scores)
    else:
        figures = true_indicators(tables, cell.dataset, cell.device, archs)
    result = {
        "cell": asdict(cell),
        "seed": seed,
        "evaluated": len(archs),
        **figures,
        **exploration_bias(tables, cell, archs),
        **run,
    }
    write_json_atomically(paths.result, result)
    return result


# ---- running a campaign -------------------------------------------------------------------------------
@dataclass
class CampaignProgress:
    """What `run_campaign` did: units run now, units found done, units that failed (with the error)."""

    ran: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, int, str]] = field(default_factory=list)


def pending_units(campaign: Campaign, out: Path, seeds: int | None = None) -> list[tuple[Cell, int]]:
    """The (cell, seed) units without a result file, seed-major."""
    count = campaign.seeds if seeds is None else seeds
    return [
        (cell, seed)
        for seed in range(count)
        for cell in campaign.cells
        if not UnitPaths(out, cell, seed).result.exists()
    ]


def run_campaign(
    campaign: Campaign,
    *,
    out: Path = DEFAULT_OUT,
    data: str | None = None,
    workers: int = 1,
    seeds: int | None = None,
    chat_model: Any = None,
    on_unit: Callable[[Cell, int, dict[str, Any]], None] | None = None,
    execution: Execution = LOCAL,
    on_counts: Callable[[int, int, int], None] | None = None,
) -> CampaignProgress:
    """Run every unit that has no result yet (`seeds` overrides the campaign's count).

    With `workers` > 1 units run in that many spawned processes (`chat_model`, a test double, needs
    workers == 1); with `execution` on Ray, as Ray tasks (`hwnas.scale.campaign`). A unit that raises is
    reported in `failed` and the others go on; an exception raised by `on_unit` stops the campaign (the
    units finished so far stay done). `on_counts(done, running, failed)` hears of every change.
    """
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if seeds is not None and seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {seeds}")
    if chat_model is not None and (workers > 1 or execution.on_ray):
        raise UsageError("a chat_model object cannot be sent to worker processes; use workers=1")
    if execution.on_ray and workers > 1:
        raise UsageError("--workers is for the local executor; under --executor ray the cluster's CPUs set it")
    for space in {c.space for c in campaign.cells}:
        _tables(space, data)  # fail fast on a bad --data
    count = campaign.seeds if seeds is None else seeds
    todo = pending_units(campaign, out, count)
    progress = CampaignProgress()
    waiting = set(todo)
    progress.skipped = [(c.key, s) for s in range(count) for c in campaign.cells if (c, s) not in waiting]

    def finished(cell: Cell, seed: int, result: dict[str, Any] | None, error: BaseException | None) -> None:
        if error is not None:
            progress.failed.append((cell.key, seed, f"{type(error).__name__}: {error}"))
            return
        assert result is not None
        progress.ran.append((cell.key, seed))
        if on_unit is not None:
            on_unit(cell, seed, result)

    def counts(running: int) -> None:
        if on_counts is not None:
            on_counts(len(progress.ran), running, len(progress.failed))

    if execution.on_ray:
        from hwnas.scale.campaign import run_units_on_ray

        run_units_on_ray(todo, out=out, data=data, address=execution.address, resources=execution.resources,
                         finished=finished, on_counts=on_counts)  # fmt: skip
        return progress
    if workers == 1:
        for cell, seed in todo:
            counts(1)
            try:
                result = run_unit(cell, seed, out, data, chat_model)
            except Exception as error:  # one failed unit must not stop the campaign
                finished(cell, seed, None, error)
                continue
            finished(cell, seed, result, None)
        counts(0)
        return progress
    queue = list(todo)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        running: dict[Future[dict[str, Any]], tuple[Cell, int]] = {}
        try:
            while queue or running:
                while queue and len(running) < workers:
                    cell, seed = queue.pop(0)
                    running[pool.submit(run_unit, cell, seed, out, data)] = (cell, seed)
                counts(len(running))
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    cell, seed = running.pop(future)
                    failure = future.exception()
                    finished(cell, seed, None if failure else future.result(), failure)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    counts(0)
    return progress


# ---- aggregation ----------------------------------------------------------------------------------------
def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _load_results(out: Path, cell: Cell, seeds: int) -> list[dict[str, Any]]:
    results = []
    for seed in range(seeds):
        path = UnitPaths(out, cell, seed).result
        if path.exists():
            results.append(json.loads(path.read_text(encoding="utf-8")))
    return results


def summarise_cell(results: Sequence[dict[str, Any]], indicators: Sequence[str] = INDICATORS) -> dict[str, Any]:
    """Mean ± std of each indicator, mean cost figures and mean exploration bias over a cell's seeds."""
    if not results:
        return {"seeds": 0, "status": NOT_RUN}
    summary: dict[str, Any] = {"seeds": len(results), "status": "run", "seed_list": [r["seed"] for r in results]}
    for key in (*indicators, "latency_coverage"):
        summary[key] = dict(zip(("mean", "std"), _mean_std([r[key] for r in results]), strict=True))
    for key in ("wall_s", "llm_calls", "tokens_in", "tokens_out", "zc_torch_s", "evaluated"):
        values = [r[key] for r in results if r.get(key) is not None]
        if values:
            summary[key] = statistics.fmean(values)
    summary["partition_share"] = np.mean([r["partition_share"] for r in results], axis=0).round(4).tolist()
    return summary


def _wins(
    cells: Sequence[Cell], per_cell: dict[Cell, list[dict[str, Any]]], indicators: Sequence[str] = INDICATORS
) -> dict[str, dict[str, int]]:
    """Per method, on the seeds every run method of the group shares (`of`): how often it had the best of each.

    Best: the lowest IGD, the highest of the other indicators.
    """
    ran = [c for c in cells if per_cell[c]]
    wins = {c.method: {**dict.fromkeys(indicators, 0), "of": 0} for c in cells}
    if len(ran) < 2:
        return wins
    by_seed = {c: {r["seed"]: r for r in per_cell[c]} for c in ran}
    common = set.intersection(*(set(s) for s in by_seed.values()))
    for c in cells:
        wins[c.method]["of"] = len(common)
    for seed in sorted(common):
        for key in indicators:
            values = [by_seed[c][seed][key] for c in ran]
            best = min(values) if key.startswith("igd") else max(values)
            for c, value in zip(ran, values, strict=True):
                wins[c.method][key] += int(value == best)
    return wins


def summarise_campaign(campaign: Campaign, out: Path, *, data: str | None = None) -> dict[str, Any]:
    """Aggregate the unit files of `campaign` into the results dict (also written to OUT/results-NAME.json)."""
    tables = _tables(campaign.cells[0].space, data)
    per_cell = {c: _load_results(out, c, campaign.seeds) for c in campaign.cells}
    groups: dict[tuple[str, str, int, str], list[Cell]] = {}
    for cell in campaign.cells:
        groups.setdefault(cell.group, []).append(cell)
    payload_groups = []
    for (dataset, device, budget, estimator), cells in groups.items():
        indicators = indicators_for(parse_objectives(cells[0].objectives))
        wins = _wins(cells, per_cell, indicators)
        if cells[0].accuracy_only:
            test, val = tables.accuracy(dataset, "test"), tables.accuracy(dataset, "val")
            payload_groups.append({
                "dataset": dataset, "device": device, "budget": budget, "estimator": estimator,
                "optimum_test_acc": float(test.max()), "best_by_val_test_acc": float(test[int(np.argmax(val))]),
                "methods": {c.method: {**summarise_cell(per_cell[c], indicators), "wins": wins[c.method]}
                            for c in cells},
            })  # fmt: skip
            continue
        front = true_front(tables, dataset, device)
        payload_groups.append({
            "dataset": dataset, "device": device, "budget": budget, "estimator": estimator,
            "true_front_size": len(front.rows),
            "true_front_size_valid": len(true_front(tables, dataset, device, exclude_degenerate=True).rows),
            "methods": {c.method: {**summarise_cell(per_cell[c]), "wins": wins[c.method]} for c in cells},
        })  # fmt: skip
    bias_partitions = make_partitioning(tables.space, BIAS_AXIS, dataset="cifar10", tables=tables).partitions
    payload = {
        "campaign": campaign.name,
        "description": campaign.description,
        "objectives": campaign.cells[0].objectives,
        "reference": campaign.reference,
        "seeds_planned": campaign.seeds,
        "partition_axis_for_bias": BIAS_AXIS,
        "partition_names": [p.name for p in bias_partitions],
        "groups": payload_groups,
    }
    write_json_atomically(out / f"results-{campaign.name}.json", payload)
    return payload


# ---- tables and plots -----------------------------------------------------------------------------------
def _pm(stats: dict[str, float]) -> str:
    return f"{stats['mean']:.4f} ± {stats['std']:.4f}"


def _number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def campaign_markdown(results: dict[str, Any], *, command: str, plots: Iterable[str] = ()) -> str:
    """The campaign's tables: quality per group and method, then exploration bias; unrun cells say so."""
    if is_accuracy_only(parse_objectives(results.get("objectives", "accuracy,latency"))):
        return accuracy_markdown(results, command=command)
    lines = [f"Regenerate (runs only the units that have no result yet, then rewrites this block): `{command}`", ""]
    seeds_planned = results["seeds_planned"]
    lines += [
        f"Seeds planned per cell: {seeds_planned}; the `seeds` column says how many ran. Wins: on the seeds "
        "every run method of the group shares, how often the method had the best IGD / HV_B (ties count for each).",
        "",
        "| device | budget | estimator | method | seeds | IGD | HV_B | IGD (no degenerate) | HV_B (no degenerate) "
        "| wins IGD/HV_B (of seeds) | evaluated | LLM calls | tokens in/out | wall s/run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for group in results["groups"]:
        degenerate = group["device"] in DEGENERATE_DEVICES
        for method, s in group["methods"].items():
            head = f"| {group['device']} | {group['budget']} | {group['estimator']} | {method} "
            if s["seeds"] == 0:
                lines.append(head + f"| 0 | {NOT_RUN} | | | | | | | | |")
                continue
            valid = [_pm(s["igd_valid"]), _pm(s["hv_b_valid"])] if degenerate else ["same", "same"]
            wins = s["wins"]
            tokens = f"{_number(s.get('tokens_in'))} / {_number(s.get('tokens_out'))}"
            lines.append(
                head + f"| {s['seeds']} | {_pm(s['igd'])} | {_pm(s['hv_b'])} | {valid[0]} | {valid[1]} "
                f"| {wins['igd']}/{wins['hv_b']} of {wins['of']} | {_number(s.get('evaluated'), 1)} "
                f"| {_number(s.get('llm_calls'), 1)} "
                f"| {tokens} "
                f"| {_number(s.get('wall_s'), 2)} |"
            )
    names = results["partition_names"]
    lines += [
        "",
        f"Exploration bias (smallest budget of the campaign): mean share of the evaluations in each "
        f"`{results['partition_axis_for_bias']}` partition, and the share of the true front's latency range "
        "that the evaluated latencies span.",
        "",
        f"| device | budget | estimator | method | {' | '.join(names)} | latency range covered |",
        "|---|---|---|---|" + "---|" * len(names) + "---|",
    ]
    smallest = min(g["budget"] for g in results["groups"])
    for group in results["groups"]:
        if group["budget"] != smallest:
            continue
        for method, s in group["methods"].items():
            head = f"| {group['device']} | {group['budget']} | {group['estimator']} | {method} "
            if s["seeds"] == 0:
                lines.append(head + f"| {NOT_RUN} " + "| " * len(names) + "|")
                continue
            shares = " | ".join(f"{share:.2f}" for share in s["partition_share"])
            lines.append(head + f"| {shares} | {_pm(s['latency_coverage'])} |")
    for plot in plots:
        lines += ["", f"![{Path(plot).stem}]({plot})"]
    return "\n".join(lines)


def update_markdown(path: Path, name: str, body: str, *, title: str | None = None) -> None:
    """Replace the text between the campaign's marker comments in `path` (append a section if absent)."""
    start, end = f"<!-- campaign:{name}:start -->", f"<!-- campaign:{name}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        heading = f"### {title or f'Campaign `{name}`'}\n\n"
        text = text.rstrip() + ("\n\n" if text else "") + heading + block + "\n"
    path.write_text(text, encoding="utf-8")


def write_plots(results: dict[str, Any], folder: Path) -> list[Path]:
    """HV_B and IGD per method (mean ± std) for every group, and the exploration bias; return the PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    name = results["campaign"]
    groups = [g for g in results["groups"] if any(s["seeds"] for s in g["methods"].values())]
    written: list[Path] = []
    if not groups or is_accuracy_only(parse_objectives(results.get("objectives", "accuracy,latency"))):
        return written  # an accuracy-only campaign is one table (`accuracy_markdown`)
    for key, label in (("hv_b", "HV_B (higher is better)"), ("igd", "IGD (lower is better)")):
        columns = min(4, len(groups))
        rows = -(-len(groups) // columns)
        figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.9 * rows), squeeze=False)
        for axis, group in zip(axes.flat, groups, strict=False):
            methods = [m for m, s in group["methods"].items() if s["seeds"]]
            means = [group["methods"][m][key]["mean"] for m in methods]
            stds = [group["methods"][m][key]["std"] for m in methods]
            colours = ["tab:red" if m.startswith("agent") else "tab:blue" for m in methods]
            axis.bar(range(len(methods)), means, yerr=stds, color=colours, capsize=2)
            axis.set_xticks(range(len(methods)), methods, rotation=60, ha="right", fontsize=7)
            axis.set_title(f"{group['device']} N={group['budget']} {group['estimator']}", fontsize=8)
            if key == "hv_b":
                axis.set_ylim(max(0.0, min(m - s for m, s in zip(means, stds, strict=True)) - 0.05), 1.0)
        for axis in axes.flat[len(groups) :]:
            axis.axis("off")
        figure.suptitle(f"campaign {name}: {label}, mean ± std over seeds", fontsize=10)
        figure.tight_layout()
        path = folder / f"{name}-{key}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(path)
    smallest = min(g["budget"] for g in groups)
    bars = [(g, m, s) for g in groups if g["budget"] == smallest for m, s in g["methods"].items() if s["seeds"]]
    figure, axis = plt.subplots(figsize=(max(6.0, 0.35 * len(bars) + 2), 4))
    bottom = np.zeros(len(bars))
    for index, partition in enumerate(results["partition_names"]):
        shares = np.array([s["partition_share"][index] for _, _, s in bars])
        axis.bar(range(len(bars)), shares, bottom=bottom, label=partition)
        bottom += shares
    coverage = [s["latency_coverage"]["mean"] for _, _, s in bars]
    axis.plot(range(len(bars)), coverage, "k*", label="latency range covered")
    labels = [f"{g['device']}/{g['estimator']}/{m}" for g, m, _ in bars]
    axis.set_xticks(range(len(bars)), labels, rotation=75, ha="right", fontsize=6)
    axis.set_ylabel("share of evaluations")
    axis.set_title(f"campaign {name}: evaluations per conv3 partition (N={smallest})", fontsize=10)
    axis.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    path = folder / f"{name}-bias.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    written.append(path)
    return written


def accuracy_markdown(results: dict[str, Any], *, command: str) -> str:
    """An accuracy-only campaign's table, with the `[reference]` rows beside the measured ones.

    Per method and dataset: the test accuracy of the picked architecture (mean ± std over seeds) and how
    often it was the optimum.
    """
    groups = results["groups"]
    budgets, estimators = sorted({g["budget"] for g in groups}), sorted({g["estimator"] for g in groups})
    datasets = list(dict.fromkeys(g["dataset"] for g in groups))
    lines = [f"Regenerate (runs only the units that have no result yet, then rewrites this block): `{command}`", ""]
    lines += [
        f"Seeds planned per cell: {results['seeds_planned']}; `n` says how many ran. Each cell: mean ± std over "
        "seeds of the test accuracy (%) of the architecture the run picks (the best by its estimator), then "
        "how many runs picked an architecture of the space's best test accuracy.",
        "",
        "| source | budget | estimator | method | " + " | ".join(datasets) + " |",
        "|---|---|---|---|" + "---|" * len(datasets),
    ]
    by_key = {(g["budget"], g["estimator"], g["dataset"]): g for g in groups}

    def methods_of(budget: int, estimator: str) -> list[str]:
        pairs = [g for g in groups if (g["budget"], g["estimator"]) == (budget, estimator)]
        return list(dict.fromkeys(m for g in pairs for m in g["methods"]))

    first = {d: next(g for g in groups if g["dataset"] == d) for d in datasets}
    lines.append(
        "| tables | | | optimum (best test accuracy) | "
        + " | ".join(f"{first[d]['optimum_test_acc']:.2f}" for d in datasets)
        + " |"
    )
    lines.append(
        "| tables | | | best by validation accuracy, its test accuracy | "
        + " | ".join(f"{first[d]['best_by_val_test_acc']:.2f}" for d in datasets)
        + " |"
    )
    reference = results.get("reference") or {}
    if reference:
        published = dict(zip(reference.get("datasets", []), range(len(datasets)), strict=False))
        for name, row in reference.get("rows", {}).items():
            cells = [f"{row[published[d]]:.2f}" if d in published else "–" for d in datasets]
            lines.append(
                f"| {reference.get('source', 'published')} | {reference.get('budget', '')} | "
                f"{reference.get('estimator', '')} | {name} | " + " | ".join(cells) + " |"
            )

    def rows(cell: Callable[[dict[str, Any]], str]) -> Iterator[tuple[int, str, str, list[str]]]:
        """(budget, estimator, method, one cell per dataset: `cell(summary)`, or NOT_RUN) per table row."""
        for budget in budgets:
            for estimator in estimators:
                for method in methods_of(budget, estimator):
                    summaries = [
                        (by_key.get((budget, estimator, d)) or {"methods": {}})["methods"].get(method) for d in datasets
                    ]
                    cells = [cell(s) if s and s["seeds"] else NOT_RUN for s in summaries]
                    yield budget, estimator, method, cells

    def picked(s: dict[str, Any]) -> str:
        found, acc = round(s["found_optimum"]["mean"] * s["seeds"]), s["test_acc"]
        return f"{acc['mean']:.2f} ± {acc['std']:.2f} (opt. {found}/{s['seeds']}, n={s['seeds']})"

    def best_evaluated(s: dict[str, Any]) -> str:
        best = s.get("best_evaluated_test_acc")
        return f"{best['mean']:.2f} ± {best['std']:.2f}" if best else NOT_RUN

    for budget, estimator, method, cells in rows(picked):
        lines.append(f"| hwnas | {budget} | {estimator} | {method} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Diagnostic only, not the protocol: the best *test* accuracy among all the architectures each run "
        "evaluated (mean ± std), which no search can know; reported because published tables sometimes "
        "show it.",
        "",
        "| budget | estimator | method | " + " | ".join(datasets) + " |",
        "|---|---|---|" + "---|" * len(datasets),
    ]
    for budget, estimator, method, cells in rows(best_evaluated):
        lines.append(f"| {budget} | {estimator} | {method} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| budget | estimator | method | dataset | evaluated | LLM calls | tokens in/out | wall s/run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for group in groups:
        for method, s in group["methods"].items():
            if s["seeds"] == 0:
                continue
            tokens = f"{_number(s.get('tokens_in'))} / {_number(s.get('tokens_out'))}"
            lines.append(
                f"| {group['budget']} | {group['estimator']} | {method} | {group['dataset']} "
                f"| {_number(s.get('evaluated'), 1)} | {_number(s.get('llm_calls'), 1)} | {tokens} "
                f"| {_number(s.get('wall_s'), 2)} |"
            )
    return "\n".join(lines)
