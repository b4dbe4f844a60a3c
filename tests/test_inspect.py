"""Inspecting recorded runs: `hwnas runs`, `hwnas trace`, `hwnas export`, and their bad-input answers."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hwnas.cli import main
from hwnas.harness import run_benchmark
from hwnas.pareto import non_dominated_records
from hwnas.runs import RUNNING_WINDOW_S, Run, TraceFilter, list_runs, read_records, run_lock
from hwnas.trace import TRACE_VERSION, TraceWriter, read_trace


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stored(run: Path) -> list[dict]:
    return list(read_trace(run / "trace.jsonl"))


def unfinished_copy(run: Path, name: str) -> Path:
    """The recorded run as a killed run leaves it: settings and trace, no outputs."""
    copy = run.parent / name
    copy.mkdir()
    for kept in ("settings.json", "trace.jsonl"):
        shutil.copy(run / kept, copy / kept)
    return copy


def test_runs_lists_status_budget_and_figures(recorded_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = recorded_run.parent
    live = unfinished_copy(recorded_run, "live")
    unfinished_copy(recorded_run, "failed")
    killed = unfinished_copy(recorded_run, "killed")
    remote = unfinished_copy(recorded_run, "remote")
    with run_lock(live):
        (killed / "run.lock").write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname()}))
        (remote / "run.lock").write_text(json.dumps({"pid": os.getpid(), "host": "another-machine"}))
        status = {info.name: info.status for info in list_runs(folder)}
        assert status == {
            "rec": "finished",
            "live": "running",
            "failed": "interrupted",
            "killed": "interrupted",
            "remote": "running",
        }
        # A process on another machine cannot be checked: its trace must have been written lately.
        assert Run(remote).status(now=time.time() + RUNNING_WINDOW_S + 1) == "interrupted"
        code, out, _ = cli(capsys, "runs", "--dir", str(folder))
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("rec "))
    assert "finished" in line and "18/20" in line and "IGD 0.0500 HV_B 0.8500" in line
    assert not (live / "run.lock").exists()


def test_a_second_process_cannot_take_a_held_run(recorded_run: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (recorded_run / "run.lock").write_text(json.dumps({"pid": child.pid, "host": socket.gethostname()}))
        assert Run(recorded_run).status() == "running"
        with pytest.raises(Exception, match="already running"), run_lock(recorded_run):
            pass
    finally:
        child.kill()
        child.wait()
    assert Run(recorded_run).status() == "finished"  # the holder died: its lock no longer counts


def test_runs_lists_bench_results(tables, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_benchmark(
        tables=tables,
        methods=["rs", "ls"],
        dataset="cifar10",
        device="fpga",
        budget=10,
        seeds=2,
        out=tmp_path / "runs" / "bench-fpga",
    )
    code, out, _ = cli(capsys, "runs", "--dir", str(tmp_path / "runs"))
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("bench-fpga"))
    assert "bench" in line and "finished" in line and "HV_B" in line


def test_trace_filters_by_agent_round_and_partition(recorded_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = stored(recorded_run)
    code, out, _ = cli(
        capsys, "trace", "rec", "--dir", str(recorded_run.parent), "--agent", "generator", "--round", "2", "--json"
    )
    assert code == 0
    chosen = [json.loads(line) for line in out.splitlines()]
    assert chosen and all(r["agent"] == "generator" and r["round"] == 2 for r in chosen)
    assert chosen == [r for r in records if r.get("agent") == "generator" and r.get("round") == 2]

    rejected_in = next(r for r in records if r.get("rejected") and isinstance(r["rejected"], dict))
    partition = int(next(iter(rejected_in["rejected"])))
    by_partition = TraceFilter(partition=partition).apply(records)
    assert rejected_in in by_partition
    assert all(r.get("partition") == partition or str(partition) in json.dumps(r) for r in by_partition)
    assert not any(r.get("partition") not in (None, partition) for r in by_partition)


def test_trace_text_shows_decisions_rejections_overrides_and_costs(
    recorded_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "trace", str(recorded_run))
    assert code == 0
    for expected in (
        "navigator llm call",
        "prompt: round 1 state",
        'reply: {"summary": "spread"}',
        "tokens 100 in / 20 out, 0.50 s, $0.0010",
        "cost unknown",
        "plan: spread 1",
        "override: partition 5 got no slot",
        "duplicate: computes the same function",
        "added #1 any -> nor_conv_3x3 on any edge",
        "evidence 4",
        "stop: budget spent",
        "rejected add #0: evidence 1 case(s)",
        "tool lookup_latency+score_proxy: 6 result(s)",
        "... 1 more (--full shows all)",
    ):
        assert expected in out, expected
    code, full, _ = cli(capsys, "trace", str(recorded_run), "--full", "--agent", "navigator", "--round", "1")
    assert "system:\n" in full and "    plan\n" in full and "... 1 more" not in full


def test_json_output_round_trips_every_stored_record(recorded_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "trace", str(recorded_run), "--json")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == stored(recorded_run)


def test_truncated_trace_is_read_up_to_its_last_complete_record(
    recorded_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    complete = stored(recorded_run)
    with (recorded_run / "trace.jsonl").open("a") as handle:
        handle.write('{"v": 1, "ts": 17.0, "kind": "decision", "agent": "gen')  # the writer was killed here
    records = read_records(recorded_run / "trace.jsonl")
    assert records[:-1] == complete
    assert records[-1]["kind"] == "note" and "incomplete record at line" in records[-1]["text"]
    code, out, _ = cli(capsys, "trace", str(recorded_run))
    assert code == 0 and "incomplete record at line" in out.splitlines()[-1]
    code, out, err = cli(capsys, "trace", str(recorded_run), "--json")
    assert code == 0 and len(out.splitlines()) == len(complete) and "incomplete record" in err


def test_export_json_and_csv(recorded_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "export", str(recorded_run), "--format", "json")
    assert code == 0
    document = json.loads(out)
    archive = Run(recorded_run).archive()
    assert [r["arch_str"] for r in document["archive"]] == [r.arch for r in archive]
    assert [r["arch_str"] for r in document["front"]] == [r.arch for r in non_dominated_records(archive)]
    assert document["summary"]["status"] == "finished" and document["knowledge_base"]["version"] == 2

    code, out, _ = cli(capsys, "export", str(recorded_run), "--format", "csv", "--out", str(tmp_path / "csv"))
    assert code == 0
    names = {Path(line.removeprefix("exported ")).name for line in out.splitlines()}
    assert names == {"archive.csv", "front.csv", "knowledge_base.csv", "knowledge_history.csv", "summary.csv"}
    with (tmp_path / "csv" / "archive.csv").open() as handle:
        assert [row["arch_str"] for row in csv.DictReader(handle)] == [r.arch for r in archive]
    with (tmp_path / "csv" / "knowledge_history.csv").open() as handle:
        assert [row["change"] for row in csv.DictReader(handle)] == ["added", "rejected"]
    with (tmp_path / "csv" / "summary.csv").open() as handle:
        summary = {row["key"]: row["value"] for row in csv.DictReader(handle)}
    assert summary["true.hv_b"] == "0.85" and summary["settings.device"] == "fpga"


@pytest.mark.parametrize("verb", [["trace"], ["export", "--format", "json"], ["report"]])
def test_a_missing_run_is_one_line_and_exit_2(
    verb: list[str], recorded_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, verb[0], "nope", "--dir", str(recorded_run.parent), *verb[1:])
    assert code == 2 and err.count("\n") == 1 and "no run 'nope'" in err and "rec" in err
    code, _, err = cli(capsys, verb[0], "nope", "--dir", str(recorded_run / "missing"), *verb[1:])
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err
    code, _, err = cli(capsys, "runs", "--dir", str(recorded_run / "missing"))
    assert code == 2 and err.count("\n") == 1


def test_a_trace_of_a_newer_format_is_refused(recorded_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (recorded_run / "trace.jsonl").open("a") as handle:
        handle.write(json.dumps({"v": TRACE_VERSION + 1, "ts": 1.0, "kind": "note", "text": "from the future"}) + "\n")
    code, out, err = cli(capsys, "trace", str(recorded_run))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"format version {TRACE_VERSION + 1}" in err and "upgrade hwnas" in err


@pytest.mark.parametrize(
    ("damage", "complaint"),
    [
        (lambda text: text.replace(",mutation,", ",mutation,extra,", 1), "archive"),
        (lambda text: text.replace(text.splitlines()[3].split(",")[2], "fast", 1), "archive"),
        (lambda text: "arch,score\n" + text, "archive"),
    ],
)
def test_a_damaged_archive_is_one_line_and_exit_2(
    damage, complaint: str, recorded_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = recorded_run / "archive.csv"
    archive.write_text(damage(archive.read_text()))
    for argv in (["export", str(recorded_run), "--format", "json"], ["report", str(recorded_run)]):
        code, _, err = cli(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and complaint in err and "damaged" in err, (argv, err)


def test_a_damaged_trace_line_in_the_middle_is_refused(recorded_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = (recorded_run / "trace.jsonl").read_text().splitlines(keepends=True)
    lines[3] = lines[3][:20] + "\n"
    (recorded_run / "trace.jsonl").write_text("".join(lines))
    code, _, err = cli(capsys, "trace", str(recorded_run))
    assert code == 2 and err.count("\n") == 1 and "damaged after record 3" in err


def test_secrets_never_reach_any_output(
    recorded_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    trace = TraceWriter(recorded_run / "trace.jsonl")
    trace.write(
        "llm_call",
        agent="navigator",
        round=3,
        provider="openai",
        model="gpt-x",
        request={
            "messages": [["user", f"my key is {secret}"]],
            "params": {"api_key": secret},
            "schema_name": "S",
            "schema": {},
        },
        reply=f"echo {secret}",
        parsed=None,
        error=None,
        tokens_in=1,
        tokens_out=1,
        wall_s=0.1,
        cost_usd=0.0,
        headers={"Authorization": "Bearer abc"},
    )
    outputs = []
    for argv in (
        ["trace", str(recorded_run), "--full"],
        ["trace", str(recorded_run), "--json"],
        ["export", str(recorded_run), "--format", "json"],
        ["runs", "--dir", str(recorded_run.parent)],
        ["report", str(recorded_run), "--out", str(tmp_path / "r.html")],
    ):
        code, out, err = cli(capsys, *argv)
        assert code == 0
        outputs += [out, err]
    outputs += [(tmp_path / "r.html").read_text(), (recorded_run / "trace.jsonl").read_text()]
    assert "<redacted>" in outputs[0]
    assert not any(secret in text or "Bearer abc" in text for text in outputs)


def test_a_real_run_is_listed_traced_and_exported(
    agent_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = shutil.copytree(agent_run, tmp_path / "runs" / "real")
    summary = json.loads((run / "summary.json").read_text())
    code, out, _ = cli(capsys, "runs", "--dir", str(run.parent))
    assert code == 0 and "finished  " in out and f"{summary['budget_used']}/30" in out
    assert f"HV_B {summary['true']['hv_b']:.4f}" in out

    code, out, _ = cli(capsys, "trace", "real", "--dir", str(run.parent), "--json")
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == stored(run)
    code, out, _ = cli(capsys, "trace", "real", "--dir", str(run.parent), "--agent", "coordinator", "--round", "1")
    assert code == 0 and "accepted" in out and "budget used" in out and "decision (stop_test)" in out
    code, out, _ = cli(capsys, "export", "real", "--dir", str(run.parent), "--format", "json")
    document = json.loads(out)
    with (run / "archive.csv").open() as handle:
        assert [r["arch_str"] for r in document["archive"]] == [row["arch_str"] for row in csv.DictReader(handle)]
    with (run / "front.csv").open() as handle:
        assert [r["arch_str"] for r in document["front"]] == [row["arch_str"] for row in csv.DictReader(handle)]


def test_a_killed_real_run_is_read_from_its_checkpoint_until_resumed(
    agent_run: Path, scripted_model: Any, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hwnas.graph.context import RunSettings
    from hwnas.graph.runner import run_search

    settings = RunSettings(**json.loads((agent_run / "settings.json").read_text()))
    runs = tmp_path / "runs"
    dying = scripted_model(die_after=8)
    with pytest.raises(KeyboardInterrupt):
        run_search(settings, name="k", out=runs, data=str(data_dir), chat_model=dying, on_progress=lambda _: None)
    run = Run(runs / "k")
    assert run.status() == "interrupted" and not (runs / "k" / "run.lock").exists()
    checkpoint_archive = run.archive()
    assert len(checkpoint_archive) > 12  # past the random start, from the checkpoint
    info = list_runs(runs)[0]
    assert (info.status, info.budget_used) == ("interrupted", len(checkpoint_archive))
    code, out, _ = cli(capsys, "export", str(runs / "k"), "--format", "json")
    assert code == 0 and json.loads(out)["summary"]["status"] == "interrupted"
    assert main(["report", str(runs / "k"), "--data", str(data_dir)]) == 0

    run_search(
        settings, name="k", out=runs, data=str(data_dir), chat_model=scripted_model(), on_progress=lambda _: None
    )
    assert run.status() == "finished"
    assert [r.arch for r in run.archive()][: len(checkpoint_archive)] == [r.arch for r in checkpoint_archive]


def test_a_closed_pipe_ends_the_listing_quietly(agent_run: Path) -> None:
    """`hwnas trace RUN --full | head -1`: no traceback once the reader has gone."""
    command = [sys.executable, "-m", "hwnas.cli", "trace", str(agent_run), "--full"]
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.readline().strip()
    reader.stdout.close()
    assert reader.wait(timeout=120) == 0
    assert reader.stderr.read() == b""
