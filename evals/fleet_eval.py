"""Measure a joint search over a fleet of devices against one search per device at the same total budget.

For each method and seed: the joint run spends the whole budget on accuracy plus each device's latency
(`--device fpga,raspi4`); the split runs spend an equal share of it on each device alone (accuracy and that
device's latency; seed `seed + SPLIT_SEED_STRIDE * i` for device i, so uniform samplers do not draw the same
architectures twice). Both evaluated sets are scored against the true front in the fleet's 1 + k objectives
(IGD and HV_B, with and without degenerate cells), and the script prints a markdown table (mean ± std over
seeds, and on how many seeds the joint search's HV_B is at least the split searches')::

    python -m hwnas.evals.fleet_eval cifar10 fpga,raspi4 120 10 rs,nsga2,tpe,ls

A method may also be an agent-graph variant of the campaigns (`agent`: the embedded model; `agent-no-llm`:
random answers; `agent-top`), run with `hwnas.graph.runner.run_search` in a scratch folder.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hwnas.campaign import AGENT_METHODS
from hwnas.core.objectives import ACCURACY_LATENCY, fleet_objectives, parse_fleet
from hwnas.harness import run_baseline
from hwnas.partition import make_partitioning
from hwnas.registry import make_latency_model
from hwnas.spaces.nb201 import NB201
from hwnas.spaces.nb201.tables import load_tables

SPLIT_SEED_STRIDE = 10_000
"""Seed offset between the split runs of different devices."""


def compare(dataset: str, fleet: str, budget: int, seeds: int, methods: Sequence[str]) -> list[str]:
    """The markdown lines of the comparison."""
    from hwnas.pareto import true_front

    tables = load_tables()
    devices = parse_fleet(fleet)
    joint_model = make_latency_model(fleet, dataset=dataset, tables=tables)
    single_models = [make_latency_model(d, dataset=dataset, tables=tables) for d in devices]
    partitioning = make_partitioning(NB201, NB201.niches().axis, dataset=dataset, tables=tables)
    share = budget // len(devices)
    fronts = {"": true_front(tables, dataset, fleet), " (no degenerate)": true_front(tables, dataset, fleet,
              exclude_degenerate=True)}  # fmt: skip
    lines = [
        f"{dataset}, fleet {fleet}, total budget {budget} (split: {share} per device), estimator oracle-val, "
        f"{seeds} seeds; true front {len(fronts[''].rows)} points in {1 + len(devices)} objectives",
        "",
        "| method | search | HV_B | IGD | HV_B (no degenerate) | IGD (no degenerate) | joint HV_B >= split |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        figures: dict[str, dict[str, list[float]]] = {"joint": {}, "split": {}}
        for seed in range(seeds):
            if method in AGENT_METHODS:
                joint_archs = agent_archs(method, dataset, fleet, budget, seed)
                split = [a for i, d in enumerate(devices) for a in
                         agent_archs(method, dataset, d, share, seed + SPLIT_SEED_STRIDE * i)]  # fmt: skip
            else:
                joint = run_baseline(
                    method, seed, tables=tables, dataset=dataset, estimator="oracle-val", latency_model=joint_model,
                    budget=budget, partitioning=partitioning, objectives=fleet_objectives(devices),
                )  # fmt: skip
                joint_archs = [r.arch_str for r in joint.records]
                split = []
                for index, model in enumerate(single_models):
                    run = run_baseline(
                        method, seed + SPLIT_SEED_STRIDE * index, tables=tables, dataset=dataset,
                        estimator="oracle-val", latency_model=model, budget=share, partitioning=partitioning,
                        objectives=ACCURACY_LATENCY,
                    )  # fmt: skip
                    split += [r.arch_str for r in run.records]
            for name, archs in (("joint", joint_archs), ("split", split)):
                for suffix, front in fronts.items():
                    figures[name].setdefault(f"hv_b{suffix}", []).append(front.hv_b(archs))
                    figures[name].setdefault(f"igd{suffix}", []).append(front.igd(archs))
        wins = sum(j >= s for j, s in zip(figures["joint"]["hv_b"], figures["split"]["hv_b"], strict=True))
        for name in ("joint", "split"):
            cells = [_pm(figures[name][key]) for key in ("hv_b", "igd", "hv_b (no degenerate)", "igd (no degenerate)")]
            tail = f"{wins}/{seeds}" if name == "joint" else ""
            lines.append(f"| {method} | {name} | {' | '.join(cells)} | {tail} |")
    return lines


def agent_archs(method: str, dataset: str, device: str, budget: int, seed: int) -> list[str]:
    """The architectures one agent-graph run (`AGENT_METHODS[method]`, oracle-val) evaluated, in order."""
    from hwnas.graph.context import RunSettings
    from hwnas.graph.runner import run_search
    from hwnas.runs.schema import read_archive_csv

    settings = RunSettings(dataset=dataset, device=device, estimator="oracle-val", budget=budget, seed=seed,
                           **AGENT_METHODS[method])  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        run_search(settings, name="unit", out=Path(scratch), on_progress=lambda _line: None)
        return [row.arch for row in read_archive_csv(Path(scratch) / "unit" / "archive.csv")]


def _pm(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {spread:.4f}"


if __name__ == "__main__":
    dataset_arg, fleet_arg, budget_arg, seeds_arg, methods_arg = sys.argv[1:6]
    print("\n".join(compare(dataset_arg, fleet_arg, int(budget_arg), int(seeds_arg), methods_arg.split(","))))
