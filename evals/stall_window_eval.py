"""Measure the accuracy-only stop test's window: how many rounds without a rise of the best score end a run.

Runs the agent graph with random answers in place of the LLM (`agent-no-llm`, seconds per run) under
CoLLM-NAS's protocol (`oracle-val`, budget 100, NB201's GPU latency recorded only) for each window and
seed, prints per dataset and window the picked architecture's test accuracy (mean ± std) and the
evaluations spent, and writes one row per run to a CSV (BENCHMARKS.md reads `results/stall_window.csv`)::

    python -m hwnas.evals.stall_window_eval cifar10,cifar100,imagenet16 2,3,4,100 10 bench/stall-window \
        results/stall_window.csv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from hwnas.graph.context import RunSettings
from hwnas.graph.runner import run_search
from hwnas.harness import picked_figures
from hwnas.runs import read_archive_csv
from hwnas.spaces import get_space


def main(datasets: list[str], windows: list[int], seeds: int, out: Path, table: Path) -> None:
    """Print one line per (dataset, window); runs go to `out` (an existing run is resumed, not redone)."""
    tables = get_space("nb201").load_tables(None)
    assert tables is not None  # required: a missing data folder has already raised
    per_run: list[dict[str, object]] = []
    for dataset in datasets:
        for window in windows:
            accuracies, spent = [], []
            for seed in range(seeds):
                settings = RunSettings(
                    dataset=dataset, device="nb201_gpu", estimator="oracle-val", budget=100, seed=seed,
                    objectives="accuracy", llm="random", stable_window=window,
                )  # fmt: skip
                name = f"{dataset}-w{window}-seed{seed}"
                run_search(settings, name=name, out=out, chat_model=None, on_progress=lambda _line: None)
                rows = read_archive_csv(out / name / "archive.csv")
                archs, scores = [r.arch for r in rows], [r.score for r in rows]
                accuracies.append(picked_figures(tables, dataset, archs, scores)["test_acc"])
                spent.append(len(rows))
                per_run.append(
                    {"dataset": dataset, "window": window, "seed": seed, "test_acc": accuracies[-1],
                     "evaluated": spent[-1]}
                )  # fmt: skip
            print(
                f"{dataset} window {window}: test accuracy of the pick {np.mean(accuracies):.2f} ± "
                f"{np.std(accuracies, ddof=1):.2f}, evaluated {np.mean(spent):.1f} (min {min(spent)})",
                flush=True,
            )
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(per_run[0]))
        writer.writeheader()
        writer.writerows(per_run)


if __name__ == "__main__":
    main(
        sys.argv[1].split(","),
        [int(w) for w in sys.argv[2].split(",")],
        int(sys.argv[3]),
        Path(sys.argv[4]),
        Path(sys.argv[5]),
    )
