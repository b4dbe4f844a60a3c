"""The campaign runner: resume after an interruption, aggregation, and the regenerated tables and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hwnas.campaign import (
    NOT_RUN,
    Cell,
    campaign_markdown,
    export_results,
    load_campaign,
    parse_campaign,
    pending_units,
    run_campaign,
    summarise_campaign,
    update_markdown,
    write_plots,
)
from hwnas.cli import main
from hwnas.errors import UsageError

ONE_CELL = 'seeds = 1\n[[grid]]\ndevices=["fpga"]\nbudgets=[14]\nestimators=["oracle-val"]\nmethods=["{}"]\n'
"""A campaign file of one fpga cell, budget 14, one seed; `format` names its method."""


class StopAfter(Exception):
    """Raised from the unit callback: a campaign killed after k units."""


def _indicators(out: Path) -> dict[tuple[str, int], tuple[float, ...]]:
    figures = {}
    for path in sorted((out / "units").glob("*/seed*.json")):
        result = json.loads(path.read_text())
        key = (path.parent.name, result["seed"])
        figures[key] = (result["igd"], result["hv_b"], result["evaluated"], *result["partition_share"])
    return figures


def test_tiny_campaign_defines_baselines_and_the_no_llm_agent() -> None:
    campaign = load_campaign("tiny")
    assert [c.method for c in campaign.cells] == ["rs", "rs-partition", "nsga2", "ls", "agent-no-llm"]
    assert campaign.cells[0].key == "cifar10-fpga-b24-oracle-val-rs"
    assert [c.method for c in campaign.select("*-rs,agent").cells] == ["rs", "agent-no-llm"]
    with pytest.raises(UsageError, match="matches no cell"):
        campaign.select("eyeriss")
    with pytest.raises(UsageError, match="unknown campaign"):
        load_campaign("no-such-campaign")
    with pytest.raises(UsageError, match="unknown method"):
        parse_campaign("x", '[[grid]]\ndevices=["fpga"]\nbudgets=[5]\nestimators=["zc"]\nmethods=["magic"]')


def test_interrupted_campaign_resumes_and_equals_an_uninterrupted_one(data_dir: Path, tmp_path: Path) -> None:
    campaign = load_campaign("tiny")
    interrupted, straight = tmp_path / "interrupted", tmp_path / "straight"
    seen: list[tuple[str, int]] = []

    def kill_after_three(cell: Cell, seed: int, result: dict[str, Any]) -> None:
        seen.append((cell.key, seed))
        if len(seen) == 3:
            raise StopAfter

    with pytest.raises(StopAfter):
        run_campaign(campaign, out=interrupted, data=str(data_dir), on_unit=kill_after_three)
    assert len(pending_units(campaign, interrupted)) == 2 * 5 - 3
    assert not list(interrupted.rglob("*.tmp")), "a unit's result is written atomically"

    resumed = run_campaign(campaign, out=interrupted, data=str(data_dir))
    assert sorted(resumed.skipped) == sorted(seen) and len(resumed.ran) == 7 and not resumed.failed
    assert pending_units(campaign, interrupted) == []
    again = run_campaign(campaign, out=interrupted, data=str(data_dir))
    assert again.ran == [] and len(again.skipped) == 10

    run_campaign(campaign, out=straight, data=str(data_dir))
    assert _indicators(interrupted) == _indicators(straight)
    agent_run = interrupted / "runs" / "cifar10-fpga-b24-oracle-val-agent-no-llm" / "seed1"
    assert (agent_run / "archive.csv").exists() and (agent_run / "trace.jsonl").exists()
    assert (interrupted / "runs" / "cifar10-fpga-b24-oracle-val-nsga2" / "seed0.csv").exists()


def test_tables_and_plots_are_regenerated_from_results(data_dir: Path, tmp_path: Path) -> None:
    campaign = load_campaign("tiny")
    out = tmp_path / "bench"
    run_campaign(campaign.select("*-rs,*-nsga2,agent-no-llm"), out=out, data=str(data_dir), seeds=2)
    results = summarise_campaign(campaign, out, data=str(data_dir))
    assert json.loads((out / "results-tiny.json").read_text()) == results
    methods = results["groups"][0]["methods"]
    assert methods["rs"]["seeds"] == 2 and methods["ls"]["seeds"] == 0 and methods["ls"]["status"] == NOT_RUN
    assert sum(methods[m]["wins"]["hv_b"] for m in ("rs", "nsga2", "agent-no-llm")) >= 2
    assert methods["agent-no-llm"]["llm_calls"] > 0 and abs(sum(methods["rs"]["partition_share"]) - 1) < 1e-3
    assert 0 < methods["rs"]["latency_coverage"]["mean"] <= 1

    # The compact export rebuilds the same results on its own, from one CSV per unit in evaluation order.
    exported = tmp_path / "results" / "tiny"
    assert export_results(campaign, out, exported) == 6
    rows = (exported / "fpga-b24-oracle-val-nsga2" / "seed1.csv").read_text().splitlines()
    assert rows[0] == "step,arch_str,score,latency_ms" and len(rows) == 25
    assert summarise_campaign(campaign, exported, data=str(data_dir))["groups"] == results["groups"]

    plots = write_plots(results, tmp_path / "plots")
    assert [p.name for p in plots] == ["tiny-hv_b.png", "tiny-igd.png", "tiny-bias.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in plots)

    body = campaign_markdown(results, command="hwnas bench --campaign tiny", plots=["plots/tiny-hv_b.png"])
    assert f"| fpga | 24 | oracle-val | ls | 0 | {NOT_RUN} |" in body
    assert "| fpga | 24 | oracle-val | rs | 2 |" in body and "![tiny-hv_b](plots/tiny-hv_b.png)" in body
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\nbefore\n")
    update_markdown(page, "tiny", body)
    update_markdown(page, "tiny", body.replace("| rs | 2 |", "| rs | 9 |"))
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nbefore\n") and text.count("<!-- campaign:tiny:start -->") == 1
    assert "| rs | 9 |" in text and "| rs | 2 |" not in text


def test_cli_runs_a_filtered_campaign_and_updates_the_markdown(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "B.md"
    args = ["bench", "--campaign", "tiny", "--data", str(data_dir), "--out", str(tmp_path / "c"), "--seeds", "1"]
    assert main([*args, "--only", "*-rs", "--update-md", str(page), "--plots", str(tmp_path / "png")]) == 0
    output = capsys.readouterr().out
    assert "1 units run, 0 already done, 0 failed" in output
    assert "| fpga | 24 | oracle-val | rs | 1 |" in page.read_text() and NOT_RUN in page.read_text()
    assert (tmp_path / "png" / "tiny-bias.png").exists()


def test_a_campaign_file_edited_during_the_run_does_not_fail_its_report(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hwnas.campaign

    path, out = tmp_path / "c.toml", tmp_path / "c"
    path.write_text(ONE_CELL.format("rs"))
    real_run = hwnas.campaign.run_campaign

    def run_then_edit(*args: Any, **kwargs: Any) -> Any:
        done = real_run(*args, **kwargs)
        path.write_text(ONE_CELL.format("a-method-added-later"))  # as a user editing the file mid-run
        return done

    monkeypatch.setattr(hwnas.campaign, "run_campaign", run_then_edit)
    assert main(["bench", "--campaign", str(path), "--data", str(data_dir), "--out", str(out)]) == 0
    assert "| fpga | 14 | oracle-val | rs | 1 |" in capsys.readouterr().out


def test_methods_may_name_their_partitions_and_bad_ones_exit_2(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hwnas.campaign import method_variant

    assert method_variant("agent-top@flops-k4") == method_variant("agent-top@flops-k4", "nb201")
    assert (method_variant("agent-top@flops-k4").axis, method_variant("agent-top@flops-k4").bins) == ("flops", 4)
    assert method_variant("rs-partition@random").is_agent is False and method_variant("agent@random").is_agent
    for bad, reason in [
        ("agent@depth", "unknown partition axis 'depth'"),
        ("nsga2@flops", "takes no partitions"),
        ("agent@flops-kx", "whole number"),
        ("magic@flops", "unknown method"),
    ]:
        with pytest.raises(UsageError, match=reason):
            method_variant(bad)
    path, out = tmp_path / "p.toml", tmp_path / "c"
    path.write_text(ONE_CELL.format("rs-partition@random"))
    assert main(["bench", "--campaign", str(path), "--data", str(data_dir), "--out", str(out)]) == 0
    unit = json.loads((out / "units" / "cifar10-fpga-b14-oracle-val-rs-partition@random" / "seed0.json").read_text())
    assert unit["evaluated"] == 14
    path.write_text(ONE_CELL.format("agent-no-llm@depth"))
    capsys.readouterr()
    assert main(["bench", "--campaign", str(path), "--data", str(data_dir), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert "unknown partition axis 'depth'" in error and len(error.splitlines()) == 1
