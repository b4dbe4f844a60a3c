"""Accuracy-only search (`--objectives accuracy`, CoLLM-NAS's protocol): contract, stop test, REA, end to end.

The end-to-end tests take `space_and_tables`, so they run on NB201 and on the tests' `chain` space.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hwnas.baselines import rea
from hwnas.cli import main
from hwnas.core.evaluation import BudgetedEvaluator
from hwnas.core.objectives import ACCURACY_LATENCY, ACCURACY_ONLY, parse_objectives
from hwnas.core.space import SearchSpace
from hwnas.core.stop import BestScoreStalled, SearchStatus, rounds_without_gain
from hwnas.core.tables import Tables
from hwnas.errors import UsageError
from hwnas.graph.context import RunSettings
from hwnas.graph.runner import run_search
from hwnas.graph.stop import best_by_round, stop_criteria
from hwnas.harness import picked_figures, run_benchmark
from hwnas.pareto import Archive
from hwnas.registry import make_estimator, make_latency_model
from hwnas.runs.store import run_info
from hwnas.spaces.nb201 import NB201
from hwnas.spaces.nb201.tables import BenchmarkTables

Case = tuple[SearchSpace, Tables]


def device_of(space: SearchSpace) -> str:
    return "fpga" if space.name == "nb201" else "dev-a"


def test_objectives_are_parsed_in_a_fixed_order_and_bad_names_are_usage_errors() -> None:
    assert parse_objectives("accuracy") == ACCURACY_ONLY
    assert parse_objectives("latency, accuracy") == ACCURACY_LATENCY
    with pytest.raises(UsageError, match="unknown objective 'energy' in --objectives; accepted: accuracy, latency"):
        parse_objectives("accuracy,energy")
    with pytest.raises(UsageError, match="must include accuracy"):
        parse_objectives("latency")
    with pytest.raises(UsageError, match="twice"):
        parse_objectives("accuracy,accuracy")
    with pytest.raises(UsageError, match="unknown objective"):
        RunSettings(objectives="acc")


def test_single_objective_archive_keeps_the_first_record_of_the_best_score() -> None:
    archive: Archive[dict[str, float]] = Archive(ACCURACY_ONLY)
    first_best = {"score": 90.0, "latency_ms": 9.0}
    for record in ({"score": 80.0, "latency_ms": 1.0}, first_best, {"score": 90.0, "latency_ms": 0.1}):
        archive.add(record)
    assert archive.front == [first_best]  # the faster tie does not enter: latency is no objective
    archive.add({"score": 95.0, "latency_ms": 50.0})
    assert [r["score"] for r in archive] == [95.0]


def test_best_score_stalled_counts_rounds_since_the_last_gain() -> None:
    assert rounds_without_gain([]) == rounds_without_gain([70.0]) == 0
    assert rounds_without_gain([70.0, 72.0]) == 0
    assert rounds_without_gain([70.0, 72.0, 72.0, 72.0]) == 2
    stalled = BestScoreStalled(window=2)

    def status(best: tuple[float, ...]) -> SearchStatus:
        return SearchStatus(10, len(best) - 1, 2, frozenset(), frozenset({0, 1}), best_by_round=best)

    assert stalled.progress(status((70.0, 72.0, 72.0))) == 0.5
    assert stalled.progress(status((70.0, 72.0, 72.0, 72.0))) == 1.0
    criteria = stop_criteria(RunSettings(objectives="accuracy", budget=100, stable_window=2))
    assert criteria.reason_to_stop(status((70.0, 72.0, 72.0, 72.0))) == "best score stopped improving"
    assert criteria.reason_to_stop(status((70.0, 71.0, 72.0, 73.0))) == ""
    # The bi-objective test has no such criterion: the same history does not stop it.
    assert stop_criteria(RunSettings(budget=100)).reason_to_stop(status((70.0, 72.0, 72.0, 72.0))) == ""
    # Unset, the window is 3 rounds with accuracy alone (2 stopped budget-100 runs early) and 2 otherwise.
    assert (RunSettings(objectives="accuracy").stable_window, RunSettings().stable_window) == (3, 2)
    by_default = stop_criteria(RunSettings(objectives="accuracy", budget=100))
    assert by_default.reason_to_stop(status((70.0, 72.0, 72.0, 72.0))) == ""
    assert by_default.reason_to_stop(status((70.0, 72.0, 72.0, 72.0, 72.0))) == "best score stopped improving"


def test_best_by_round_is_the_running_maximum_per_round() -> None:
    archive = [{"score": s, "round": r} for s, r in ((5.0, 0), (7.0, 0), (6.0, 1), (9.0, 3))]
    assert best_by_round(archive, 3) == (7.0, 7.0, 7.0, 9.0)  # type: ignore[arg-type]


def test_rea_keeps_its_population_and_sample_sizes_and_spends_the_budget(
    tables: BenchmarkTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (rea.POPULATION, rea.SAMPLE) == (10, 3)  # NAS-Bench-201's REA runs
    evaluator = BudgetedEvaluator(
        NB201, make_estimator("oracle-val", dataset="cifar10", tables=tables),
        make_latency_model("fpga", dataset="cifar10", tables=tables), 60, objectives=ACCURACY_ONLY,
    )  # fmt: skip
    parents = []
    mutate = rea.mutate

    def watched(arch, rng):  # type: ignore[no-untyped-def]
        parents.append(arch)
        return mutate(arch, rng)

    monkeypatch.setattr(rea, "mutate", watched)
    history = rea.search(evaluator, np.random.default_rng(3))
    assert len(history) == len({r.arch_str for r in history}) == 60 and evaluator.remaining == 0
    assert len(parents) >= 50  # one child per cycle after the first 10 (more when a child was seen before)
    # Each parent is the best of a sample from the 10 most recent members: never older than that.
    order = {r.arch_str: r.step for r in history}
    first_parent = str(parents[0])
    assert order[first_parent] < rea.POPULATION
    child = rea.mutate(history[0].arch, np.random.default_rng(0))
    assert len(child.edits_from(history[0].arch)) == 1


def test_picked_figures_score_the_best_by_the_estimator(tables: BenchmarkTables) -> None:
    test = tables.accuracy("cifar10", "test")
    best = int(np.argmax(test))
    worst = int(np.argmin(test))
    archs = [tables.arch_strs[worst], tables.arch_strs[best], tables.arch_strs[0]]
    figures = picked_figures(tables, "cifar10", archs, [1.0, 3.0, 3.0])  # a tie: the first evaluated wins
    assert figures["picked_step"] == 1 and figures["test_acc"] == pytest.approx(test[best])
    assert figures["found_optimum"] == 1.0
    assert picked_figures(tables, "cifar10", archs, [5.0, 3.0, 3.0])["found_optimum"] == 0.0


@pytest.mark.parametrize("method", ["rs", "rea", "tpe", "ehvi"])
def test_accuracy_only_baselines_run_on_either_space(space_and_tables: Case, baseline_on: Any, method: str) -> None:
    space, tables = space_and_tables
    dataset = space.datasets[0]
    run = baseline_on(method, objectives=ACCURACY_ONLY)
    archs = [r.arch_str for r in run.records]
    assert len(archs) == len(set(archs)) == 30
    figures = picked_figures(tables, dataset, archs, [r.score for r in run.records])
    assert figures["test_acc"] <= tables.accuracy(dataset, "test").max()


def test_agent_graph_searches_accuracy_alone_on_either_space(space_and_tables: Case, tmp_path: Path) -> None:
    space, tables = space_and_tables
    settings = RunSettings(
        space=space.name, dataset=space.datasets[0], device=device_of(space), estimator="oracle-val",
        partition_axis=space.niches().axis, budget=24, round_size=6, max_rounds=3, llm="random",
        objectives="accuracy",
    )  # fmt: skip
    summary = run_search(settings, name="acc", out=tmp_path, data=str(tables.folder), on_progress=lambda _: None)
    assert summary["front_size"] == 1  # the best architecture is the whole "front"
    assert run_info(tmp_path / "acc").best.startswith("test accuracy of the pick")  # `hwnas runs`
    assert set(summary["true"]) >= {"test_acc", "found_optimum"}
    lines = (tmp_path / "acc" / "archive.csv").read_text().splitlines()[1:]
    archs = [space.parse(line.split(",")[0]) for line in lines]
    assert summary["budget_used"] == len(archs) > 0
    assert len({a.canonical_key for a in archs}) == len(archs)
    records = [json.loads(line) for line in (tmp_path / "acc" / "trace.jsonl").read_text().splitlines()]
    prompts = [json.dumps(r["request"]["messages"]) for r in records if r["kind"] == "llm_call"]
    assert prompts and not [p for p in prompts if "latency" in p.lower()]


def test_accuracy_only_prompts_say_nothing_of_latency() -> None:
    from hwnas.agents.generator import generator_messages
    from hwnas.graph.state import Option, PartitionTask

    option = Option(
        partition=0, arch=str(NB201.at(7)), operator="ranked", parents=[], rationale="o1", predicted=0.7,
        uncertainty=0.1, latency_ms=1.5, gain=3.0,
    )  # fmt: skip
    task = PartitionTask(
        round=1, attempt=0, partition=0, slots=1, strategy="explore", note="", parents=[], heuristics=[],
        rejections=[], options=[option],
    )  # fmt: skip
    accuracy_only = " ".join(text for _, text in generator_messages(task, "p0", 1, NB201, latency=False)).lower()
    both = " ".join(text for _, text in generator_messages(task, "p0", 1, NB201)).lower()
    assert "latency" in both and " ms " in both
    assert "latency" not in accuracy_only and " ms " not in accuracy_only and "cost" not in accuracy_only
    from hwnas.prompts import render

    navigator = render(
        "navigator_accuracy", space=NB201.describe(latency=False), dataset="cifar10", budget_left=10, round=1,
        round_size=6, partitions="", history="", knowledge="",
    )  # fmt: skip
    assert "latency" not in navigator.lower() and "fast" not in navigator.lower()


def test_bench_accuracy_only_reports_the_pick(tables: BenchmarkTables, tmp_path: Path) -> None:
    report = run_benchmark(
        tables=tables, methods=["rs", "rea"], dataset="cifar10", device="fpga", budget=20, seeds=2,
        out=tmp_path, objectives=ACCURACY_ONLY,
    )  # fmt: skip
    assert {s.method for s in report.summaries} == {"rs", "rea"}
    assert all(set(r.figures) >= {"test_acc", "found_optimum"} for r in report.runs)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["settings"]["objectives"] == "accuracy" and "test_acc" in saved["runs"][0]
    assert "found the optimum" in report.markdown()


def test_unknown_objective_on_the_command_line_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    for verb in (["run", "--name", "x", "--out", str(tmp_path)], ["bench", "--methods", "rs"]):
        assert main([*verb, "--data", str(data_dir), "--objectives", "accuracy,energy"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "unknown objective 'energy'" in err


def test_accuracy_only_campaign_names_its_cells_scores_the_pick_and_shows_the_reference(
    data_dir: Path, tmp_path: Path
) -> None:
    from hwnas.campaign import (
        campaign_markdown,
        export_results,
        load_campaign,
        parse_campaign,
        run_campaign,
        summarise_campaign,
    )

    text = """
objectives = "accuracy"
seeds = 2
[[grid]]
datasets = ["cifar100"]
devices = ["nb201_gpu"]
budgets = [20]
estimators = ["oracle-val"]
methods = ["rs", "rea"]
[reference]
source = "paper"
datasets = ["cifar100"]
rows = { "EA" = [72.82] }
"""
    campaign = parse_campaign("acc", text)
    assert [c.key for c in campaign.cells] == ["cifar100-b20-oracle-val-rs", "cifar100-b20-oracle-val-rea"]
    done = run_campaign(campaign, out=tmp_path / "out", data=str(data_dir))
    assert not done.failed and len(done.ran) == 4
    results = summarise_campaign(campaign, tmp_path / "out", data=str(data_dir))
    rea_cell = results["groups"][0]["methods"]["rea"]
    assert rea_cell["seeds"] == 2 and 0 <= rea_cell["found_optimum"]["mean"] <= 1
    assert rea_cell["test_acc"]["mean"] <= results["groups"][0]["optimum_test_acc"]
    table = campaign_markdown(results, command="hwnas bench --campaign acc")
    assert "| paper |  |  | EA | 72.82 |" in table and "| hwnas | 20 | oracle-val | rea | " in table
    assert export_results(campaign, tmp_path / "out", tmp_path / "results") == 4
    exported = (tmp_path / "results" / "cifar100-b20-oracle-val-rea" / "seed1.csv").read_text().splitlines()
    assert exported[0].startswith("step,arch_str") and len(exported) == 21
    assert {c.method for c in load_campaign("collm").cells} >= {"rs", "rea", "tpe", "ehvi", "agent"}
