"""Latency at matched accuracy: the cheapest architecture each bi-objective run found above accuracy levels.

PEL-NAS claims fronts with "up to 54 % lower latency at similar accuracy". This module makes such a
sentence a measurement over a campaign's archives (the architectures each run evaluated, in order):

- per group of compared cells (same dataset, device, budget and estimator) the *reference accuracy* is
  the best baseline's best test accuracy: for every baseline method the mean over its seeds of the
  highest table test accuracy among the architectures a run evaluated, and of those means the highest;
- the levels are the reference minus `DROPS` points (0.5, 1 and 2 by default);
- for every run and level, the lowest table latency among its evaluated architectures whose table test
  accuracy is at or above the level (none when no evaluated architecture reaches it);
- per method and level: the mean ± std of that latency over the seeds that reached the level, how many
  did, and the ratio of its mean to each baseline's mean (0.77 = 23 % lower latency).

Accuracy and latency always come from the tables (true test accuracy, the device's table latency),
whatever the run's estimator saw. `matched_latency(campaign, out)` computes it from a campaign folder
(committed results included); `matched_markdown` renders the BENCHMARKS.md block. The CLI is
`hwnas bench --campaign NAME --report-only --out DIR --matched-latency [--update-md BENCHMARKS.md]`.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from hwnas.campaign import Campaign, Cell, UnitPaths, export_folder, is_agent_method
from hwnas.core.tables import Tables
from hwnas.errors import UsageError
from hwnas.spaces import get_space

DROPS: Final = (0.5, 1.0, 2.0)
"""Accuracy points below the best baseline's best test accuracy at which latency is compared."""


def lowest_latency_at(accuracy: np.ndarray, latency: np.ndarray, level: float) -> float | None:
    """The lowest latency among the entries whose accuracy is at or above `level` (None if none is)."""
    reached = accuracy >= level
    return float(latency[reached].min()) if reached.any() else None


def run_archs(out: Path, cell: Cell, seed: int) -> list[str] | None:
    """The architectures one unit evaluated, in order, or None when the unit has no result.

    Exported results (`hwnas bench --export`) keep them in `OUT/<cell folder>/seed<k>.csv`; a campaign's
    own folder names the run's archive in the unit's result file. Both have an `arch_str` column.
    """
    result_path = UnitPaths(out, cell, seed).result
    if not result_path.exists():
        return None
    archive = out / export_folder(cell) / f"seed{seed}.csv"
    if not archive.exists():
        archive = Path(json.loads(result_path.read_text(encoding="utf-8"))["archive"])
    if not archive.exists():
        raise UsageError(f"{result_path}: its archive {archive} is missing; export the campaign again")
    with archive.open(encoding="utf-8", newline="") as handle:
        return [row["arch_str"] for row in csv.DictReader(handle)]


def _mean_std(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def group_matched_latency(
    tables: Tables, dataset: str, device: str, runs: dict[str, list[list[str]]], drops: Sequence[float] = DROPS
) -> dict[str, Any]:
    """Matched-latency figures of one group: `runs` maps each method to its runs' evaluated architectures.

    Methods that are not agent-graph variants are the baselines that set the reference accuracy and the ratios.
    """
    accuracy = tables.accuracy(dataset, "test")
    latency = tables.latency_ms(dataset, device)
    baselines = [m for m, archives in runs.items() if not is_agent_method(m) and archives]
    if not baselines:
        raise UsageError(f"{dataset}/{device}: no baseline has a finished run; matched latency needs one")
    per_run: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {
        method: [(accuracy[rows], latency[rows]) for rows in (tables.rows(archs) for archs in archives)]
        for method, archives in runs.items()
    }
    best = {m: statistics.fmean(float(acc.max()) for acc, _ in runs_of) for m, runs_of in per_run.items() if runs_of}
    reference_method = max(baselines, key=lambda m: (best[m], m))
    reference = best[reference_method]
    levels = []
    for drop in drops:
        level = reference - drop
        methods: dict[str, Any] = {}
        for method, evaluated in per_run.items():
            found = [lowest_latency_at(acc, lat, level) for acc, lat in evaluated]
            reached = [value for value in found if value is not None]
            methods[method] = {"seeds": len(found), "reached": len(reached), "latency_ms": _mean_std(reached)}
        for summary in methods.values():
            mine = summary["latency_ms"]
            summary["ratio_to"] = {
                baseline: (mine["mean"] / theirs["mean"])
                if mine is not None and (theirs := methods[baseline]["latency_ms"]) is not None
                else None
                for baseline in baselines
            }
        levels.append({"drop": drop, "accuracy": level, "methods": methods})
    return {
        "reference_method": reference_method,
        "reference_accuracy": reference,
        "best_accuracy": best,
        "baselines": baselines,
        "levels": levels,
    }


def matched_latency(
    campaign: Campaign, out: Path, *, data: str | None = None, drops: Sequence[float] = DROPS
) -> dict[str, Any]:
    """Matched-latency figures of every group of `campaign` from the finished units under `out`."""
    if not drops or any(drop < 0 for drop in drops):
        raise UsageError(f"accuracy drops must be non-negative points, got {list(drops)}")
    tables = get_space(campaign.cells[0].space).load_tables(data)
    assert tables is not None  # required: a space without tables raises
    groups: dict[tuple[str, str, int, str], list[Cell]] = {}
    for cell in campaign.cells:
        groups.setdefault(cell.group, []).append(cell)
    payload = []
    for (dataset, device, budget, estimator), cells in groups.items():
        runs = {
            cell.method: [a for a in (run_archs(out, cell, seed) for seed in range(campaign.seeds)) if a is not None]
            for cell in cells
        }
        if not any(runs[c.method] for c in cells if not is_agent_method(c.method)):
            continue  # nothing to compare against in this group yet
        figures = group_matched_latency(tables, dataset, device, runs, drops)
        payload.append({"dataset": dataset, "device": device, "budget": budget, "estimator": estimator, **figures})
    return {"campaign": campaign.name, "drops": list(drops), "groups": payload}


def _ratio(value: float | None) -> str:
    if value is None:
        return "–"
    change = (value - 1.0) * 100
    return f"{value:.2f} ({change:+.0f} %)"


def matched_markdown(results: dict[str, Any], *, command: str) -> str:
    """The BENCHMARKS.md block: per group and level, each method's latency and its ratio to each baseline."""
    lines = [
        f"Regenerate (reads the committed archives, runs nothing): `{command}`",
        "",
        "Per group, the reference is the best baseline's best test accuracy (mean over its seeds of each run's "
        "best evaluated test accuracy); at each level (reference minus "
        f"{' / '.join(f'{d:g}' for d in results['drops'])} points) a run's figure is the lowest table latency "
        "among its evaluated architectures at or above the level. `latency ms` is the mean ± std over the "
        "seeds that reached the level (`reached` of `seeds`); `vs X` is that mean divided by baseline X's "
        "(below 1: lower latency than X at the same accuracy level).",
    ]
    lines += _headline(results)
    lines += ["", "<details><summary>Every method against every baseline</summary>"]
    for group in results["groups"]:
        baselines = group["baselines"]
        lines += [
            "",
            f"**{group['dataset']} / {group['device']}, budget {group['budget']}, {group['estimator']}**: reference "
            f"{group['reference_accuracy']:.2f} % (`{group['reference_method']}`).",
            "",
            "| level (test acc ≥) | method | reached | latency ms | " + " | ".join(f"vs {b}" for b in baselines) + " |",
            "|---|---|---|---|" + "---|" * len(baselines),
        ]
        for level in group["levels"]:
            for method, summary in level["methods"].items():
                if not summary["seeds"]:
                    continue
                stats = summary["latency_ms"]
                shown = "–" if stats is None else f"{stats['mean']:.3f} ± {stats['std']:.3f}"
                ratios = " | ".join(_ratio(summary["ratio_to"][b]) for b in baselines)
                lines.append(
                    f"| {level['accuracy']:.2f} (−{level['drop']:g}) | {method} | {summary['reached']}/"
                    f"{summary['seeds']} | {shown} | {ratios} |"
                )
    lines += ["", "</details>"]
    return "\n".join(lines)


def _headline(results: dict[str, Any]) -> list[str]:
    """Per group with agent runs and per level: each agent variant against the lowest- and highest-latency baseline."""
    lines = [
        "",
        "Agent variants against the baselines with the lowest and the highest mean latency at each level "
        "(groups with agent runs only):",
        "",
        "| device | estimator | level (test acc ≥) | method | reached | latency ms | lowest baseline | ratio "
        "| highest baseline | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for group in results["groups"]:
        for level in group["levels"]:
            methods = level["methods"]
            baselines = set(group["baselines"])
            ranked = sorted(
                (b for b in group["baselines"] if methods[b]["latency_ms"] is not None),
                key=lambda b: methods[b]["latency_ms"]["mean"],
            )
            for method, summary in methods.items():
                if method in baselines or not summary["seeds"] or not ranked:
                    continue
                stats = summary["latency_ms"]
                shown = "–" if stats is None else f"{stats['mean']:.3f}"
                low, high = ranked[0], ranked[-1]
                lines.append(
                    f"| {group['device']} | {group['estimator']} | {level['accuracy']:.2f} (−{level['drop']:g}) "
                    f"| {method} | {summary['reached']}/{summary['seeds']} | {shown} "
                    f"| {low} {methods[low]['latency_ms']['mean']:.3f} | {_ratio(summary['ratio_to'][low])} "
                    f"| {high} {methods[high]['latency_ms']['mean']:.3f} | {_ratio(summary['ratio_to'][high])} |"
                )
    return lines
