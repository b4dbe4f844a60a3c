"""Recorded runs still replay: the committed campaign archives come out again, architecture by architecture.

`results/search/` holds the evaluation order of every campaign unit. Re-running a few of them with today's
code must give the same architectures in the same order with the same scores: refactors of the space,
the evaluator or the baselines may not move a figure. `tests/recorded/` holds two agent runs (random
answers, `oracle-val`) made with the code before the contracts refactor (commit c04a5a0); today's
graph must write the same `archive.csv`, byte for byte. Settings whose default changed since are set to
what the recordings ran with (`hwnas.campaign.RECORDED_WITH`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hwnas.campaign import RECORDED_WITH
from hwnas.harness import run_baseline
from hwnas.partition import make_partitioning
from hwnas.registry import make_latency_model
from hwnas.spaces.nb201.tables import BenchmarkTables

RESULTS = Path(__file__).resolve().parents[1] / "results" / "search"


def recorded(cell: str, seed: int) -> list[tuple[str, float]]:
    with (RESULTS / cell / f"seed{seed}.csv").open(newline="") as handle:
        return [(row["arch_str"], float(row["score"])) for row in csv.DictReader(handle)]


@pytest.mark.parametrize("method", ["rs", "rs-partition", "nsga2", "ls", "ehvi"])
def test_baseline_reproduces_its_recorded_archive(method: str, tables: BenchmarkTables) -> None:
    space = tables.space
    run = run_baseline(
        method, 1, tables=tables, dataset="cifar10", estimator="oracle-val",
        latency_model=make_latency_model("eyeriss", space=space, dataset="cifar10", tables=tables),
        budget=120, partitioning=make_partitioning(space, "conv3"),
    )  # fmt: skip
    again = [(r.arch_str, r.score) for r in run.records]
    expected = recorded(f"eyeriss-b120-oracle-val-{method}", 1)
    assert [a for a, _ in again] == [a for a, _ in expected]
    assert [s for _, s in again] == pytest.approx([s for _, s in expected], abs=1e-6)


def test_agent_graph_reproduces_its_recorded_archive(tmp_path: Path, data_dir: Path) -> None:
    """The whole graph (Navigator, Generators, memory answering at random; GP surrogate; table scores).

    Table scores, not zero-cost ones: torch's kernels differ in the last digits between CPUs (an AMD EPYC
    gave a proxy ensemble score of 0.5551 where the recording, made on another CPU, has 0.5389), and one
    flipped rank changes every later pick. `tests/test_zero_cost.py` checks the proxies themselves.
    """
    from hwnas.graph.context import RunSettings
    from hwnas.graph.runner import run_search

    settings = RunSettings(estimator="oracle-val", budget=120, seed=0, llm="random", **RECORDED_WITH)
    run_search(settings, name="again", out=tmp_path, data=str(data_dir), on_progress=lambda _: None)
    with (tmp_path / "again" / "archive.csv").open(newline="") as handle:
        again = [(row["arch_str"], float(row["score"])) for row in csv.DictReader(handle)]
    expected = recorded("fpga-b120-oracle-val-agent-no-llm", 0)
    assert [a for a, _ in again] == [a for a, _ in expected]
    assert [s for _, s in again] == pytest.approx([s for _, s in expected], rel=1e-6)


@pytest.mark.parametrize(("device", "seed"), [("fpga", 0), ("eyeriss", 1)])
def test_agent_run_writes_the_archive_recorded_before_the_refactor(
    device: str, seed: int, tmp_path: Path, data_dir: Path
) -> None:
    from hwnas.graph.context import RunSettings
    from hwnas.graph.runner import run_search

    settings = RunSettings(
        device=device, estimator="oracle-val", budget=120, llm="random", seed=seed, option_labels="ranked",
        **RECORDED_WITH,
    )  # fmt: skip
    run_search(settings, name="again", out=tmp_path, data=str(data_dir), on_progress=lambda _: None)
    recorded_file = Path(__file__).parent / "recorded" / f"agent-random-oracle-val-{device}-seed{seed}.csv"
    assert (tmp_path / "again" / "archive.csv").read_bytes() == recorded_file.read_bytes()
