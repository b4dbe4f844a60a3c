"""Multi-device search (`--device fpga,raspi4`): per-device latencies, k-objective fronts and indicators, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymoo.indicators.hv import HV
from pymoo.indicators.igd import IGD

from hwnas.cli import main
from hwnas.core.evaluation import BudgetedEvaluator
from hwnas.core.objectives import ACCURACY_LATENCY, fleet_objectives
from hwnas.errors import UsageError
from hwnas.harness import run_benchmark
from hwnas.pareto import Archive, hv_b, igd, non_dominated_mask, reference_point, true_front
from hwnas.registry import make_estimator, make_latency_model
from hwnas.spaces.nb201 import NB201
from hwnas.spaces.nb201.tables import BenchmarkTables


def test_three_objective_indicators_equal_pymoo_on_a_hand_built_front() -> None:
    front = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.5, 0.5, 0.5]])
    points = np.array([[0.2, 1.0, 1.0], [1.0, 0.3, 1.0], [0.6, 0.6, 0.6], [0.7, 0.7, 0.7]])  # the last is dominated
    kept = points[:3]
    assert non_dominated_mask(points).tolist() == [True, True, True, False]
    assert igd(points, front) == pytest.approx(IGD(front)(kept))
    reference = reference_point(front)
    assert reference == pytest.approx([1.1, 1.1, 1.1])
    assert hv_b(points, front) == pytest.approx(HV(ref_point=reference)(kept) / HV(ref_point=reference)(front))
    assert hv_b(front, front) == pytest.approx(1.0) and igd(front, front) == pytest.approx(0.0)


def test_fleet_latencies_are_looked_up_per_device(tables: BenchmarkTables) -> None:
    model = make_latency_model("fpga,raspi4", dataset="cifar10", tables=tables)
    evaluator = BudgetedEvaluator(
        NB201, make_estimator("oracle-val", dataset="cifar10", tables=tables), model, 5,
        objectives=fleet_objectives(("fpga", "raspi4")),
    )  # fmt: skip
    archs = [NB201.at(i) for i in (5, 900, 12000)]
    records = evaluator.evaluate_many(archs)
    rows = tables.rows(archs)
    for device, column in (("fpga", 0), ("raspi4", 1)):
        assert [r.latencies[column] for r in records] == pytest.approx(tables.latency_ms("cifar10", device)[rows])
    assert [r.latency_ms for r in records] == [r.latencies[0] for r in records]
    archive: Archive[object] = Archive(fleet_objectives(("fpga", "raspi4")))
    assert archive.minimised(records[0]).tolist() == [-records[0].score, *records[0].latencies]
    assert fleet_objectives(("fpga",)) == ACCURACY_LATENCY


def test_fleet_true_front_has_one_latency_objective_per_device(tables: BenchmarkTables) -> None:
    fleet = true_front(tables, "cifar10", "fpga,raspi4")
    assert fleet.objectives_all.shape == (NB201.size, 3)
    # A point of a single device's front can only be dominated on the fleet's by a tie in accuracy and that
    # device's latency, so every single-device trade-off is attained by a point of the fleet's front.
    for column, device in enumerate(("fpga", "raspi4"), start=1):
        single = true_front(tables, "cifar10", device)
        attained = {tuple(p) for p in fleet.points[:, [0, column]].round(12)}
        assert {tuple(p) for p in single.points.round(12)} <= attained
    assert non_dominated_mask(fleet.points).all()


def test_joint_search_scores_in_the_fleet_objectives(tables: BenchmarkTables) -> None:
    report = run_benchmark(
        tables=tables, methods=["rs", "nsga2"], dataset="cifar10", device="fpga,raspi4", budget=30, seeds=1
    )
    assert report.settings["device"] == "fpga,raspi4"
    assert all(0 < r.figures["hv_b"] <= 1 for r in report.runs)


@pytest.mark.parametrize(
    ("device", "dataset", "message"),
    [
        ("fpga,fpga", "cifar10", "names 'fpga' twice"),
        ("fpga,abacus", "cifar10", "no latency for device 'abacus' on cifar10"),
        ("fpga,raspi4", "cifar100", "no latency for device 'fpga' on cifar100"),
        ("fpga,", "cifar10", "empty device"),
    ],
)
def test_bad_fleets_are_usage_errors(tables: BenchmarkTables, device: str, dataset: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make_latency_model(device, dataset=dataset, tables=tables)


def test_bad_fleet_on_the_command_line_exits_2_with_one_line(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--data", str(data_dir), "--methods", "rs", "--device", "fpga,fpga"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'fpga' twice" in err
    assert main(["bench", "--data", str(data_dir), "--methods", "ehvi", "--device", "fpga,raspi4,pixel3"]) == 2
    assert "ranks fleets of at most 2 devices" in capsys.readouterr().err
    run = ["run", "--data", str(data_dir), "--llm", "random", "--out", str(tmp_path), "--budget", "20"]
    assert main([*run, "--device", "fpga,raspi4,pixel3"]) == 2
    assert "fleets of at most 2 devices" in capsys.readouterr().err
    assert main([*run, "--device", "fpga,raspi4", "--partition-axis", "latency"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a fleet" in err


def test_the_agent_graph_refuses_a_fleet_of_three() -> None:
    from hwnas.graph.context import RunSettings

    with pytest.raises(UsageError, match="the agent graph ranks fleets of at most 2 devices"):
        RunSettings(device="fpga,raspi4,pixel3")
    assert RunSettings(device="fpga,raspi4").devices == ("fpga", "raspi4")


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A finished agent run on the fleet fpga + raspi4 (offline random model, oracle-val, budget 40)."""
    from hwnas.graph.context import RunSettings
    from hwnas.graph.runner import run_search

    out = tmp_path_factory.mktemp("fleet")
    settings = RunSettings(device="fpga,raspi4", llm="random", estimator="oracle-val", budget=40, round_size=12)
    run_search(settings, name="fleet", out=out, data=str(data_dir), on_progress=lambda _: None)
    return out / "fleet"


def test_an_agent_run_on_a_fleet_records_and_scores_every_device(fleet_run: Path, tables: BenchmarkTables) -> None:
    from hwnas.pareto import true_indicators
    from hwnas.runs.schema import read_archive_csv

    archive = read_archive_csv(fleet_run / "archive.csv")
    assert len(archive) == 40 and len({r.arch for r in archive}) == 40
    rows = tables.rows([r.arch for r in archive])
    for column, device in enumerate(("fpga", "raspi4")):
        assert [r.latencies[column] for r in archive] == pytest.approx(tables.latency_ms("cifar10", device)[rows])
    summary = json.loads((fleet_run / "summary.json").read_text())
    expected = true_indicators(tables, "cifar10", "fpga,raspi4", [r.arch for r in archive])
    assert summary["true"] == pytest.approx(expected)
    front = read_archive_csv(fleet_run / "front.csv")
    points = np.array([[-r.score, *r.latencies] for r in archive])
    assert {r.arch for r in front} == {archive[i].arch for i in np.flatnonzero(non_dominated_mask(points))}


def test_a_fleet_run_shows_each_device_to_its_agents(fleet_run: Path) -> None:
    from hwnas.trace import read_trace

    records = list(read_trace(fleet_run / "trace.jsonl"))
    prompts = {r["agent"]: r["request"] for r in records if r["kind"] == "llm_call"}
    generator = json.dumps(prompts["generator"])
    assert "latency ms on fpga/raspi4" in generator
    assert re.search(r"\| [0-9.]+/[0-9.]+ ms \|", generator)  # each option: one latency per device
    assert "fast on fpga and raspi4" in json.dumps(prompts["navigator"])


def test_a_fleet_run_resumes_to_the_uninterrupted_archive(
    fleet_run: Path, data_dir: Path, tmp_path: Path, scripted_model: Any
) -> None:
    from hwnas.graph.context import RunSettings
    from hwnas.graph.runner import run_search

    settings = RunSettings(device="fpga,raspi4", llm="random", estimator="oracle-val", budget=40, round_size=12)
    with pytest.raises(KeyboardInterrupt):
        run_search(settings, name="fleet", out=tmp_path, data=str(data_dir), chat_model=scripted_model(die_after=9),
                   on_progress=lambda _: None)  # fmt: skip
    run_search(settings, name="fleet", out=tmp_path, data=str(data_dir), on_progress=lambda _: None)
    assert (tmp_path / "fleet" / "archive.csv").read_text() == (fleet_run / "archive.csv").read_text()


def test_a_fleet_report_draws_one_projection_per_device(
    fleet_run: Path, tables: BenchmarkTables, tmp_path: Path
) -> None:
    from hwnas.report import write_report
    from hwnas.runs.export import export_csv
    from hwnas.runs.store import resolve_run

    run = resolve_run("fleet", fleet_run.parent)
    html = write_report(run, out=tmp_path / "report.html", tables=tables).read_text()
    assert "fpga / raspi4 latency" in html and "one projection per device" in html
    export_csv(run, tmp_path / "export")
    header = (tmp_path / "export" / "front.csv").read_text().splitlines()[0]
    assert header.endswith(",latencies")


def test_ehvi_ranks_a_fleet_of_two_within_the_budget(tables: BenchmarkTables) -> None:
    report = run_benchmark(tables=tables, methods=["ehvi"], dataset="cifar10", device="fpga,raspi4", budget=30, seeds=1)
    run = report.runs[0]
    assert run.evaluated == 30 and 0 < run.figures["hv_b"] <= 1


def test_a_campaign_cell_takes_one_device() -> None:
    from hwnas.campaign import parse_campaign

    text = '[[grid]]\ndevices = ["fpga,raspi4"]\nbudgets = [20]\nestimators = ["oracle-val"]\nmethods = ["rs"]\n'
    with pytest.raises(UsageError, match="a campaign cell takes one device"):
        parse_campaign("fleet", text)
