"""Nothing lost, nothing leaked: real `hwnas` processes killed with SIGKILL, resumed, and fed bad input.

The kill points are exact: a small wrapper (`_KILLER`) runs the CLI in a child process and sends that
process SIGKILL right after the k-th checkpoint write (`put`: a super-step boundary), the k-th write of a
finished task (`put_writes`: inside a step, e.g. a Generator branch of the fan-out), or the k-th trace
record of a kind (e.g. a Generator's LLM call, before its branch's writes are saved).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from openai_payloads import chat_completion, send_json

from hwnas.cli import main

_KILLER = """
import os, signal, sys
target, count = sys.argv[1], int(sys.argv[2])
seen = 0

def after(owner, method, matches):
    original = getattr(owner, method)
    def wrapper(self, *args, **kwargs):
        global seen
        result = original(self, *args, **kwargs)
        if matches(args, kwargs):
            seen += 1
            if seen == count:
                os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(owner, method, wrapper)

if target in ("put", "put_writes"):
    from langgraph.checkpoint.sqlite import SqliteSaver
    after(SqliteSaver, target, lambda args, kwargs: True)
else:  # "KIND:AGENT": a trace record
    from hwnas.trace import TraceWriter
    kind, agent = target.split(":")
    after(TraceWriter, "write", lambda args, kwargs: args[0] == kind and kwargs.get("agent") == agent)
from hwnas.cli import main
sys.exit(main(sys.argv[3:]))
"""

RUN_FLAGS = [
    "--llm",
    "random",
    "--budget",
    "24",
    "--round-size",
    "8",
    "--estimator",
    "oracle-val",
    "--seed",
    "3",
    "--json",
]
"""A small seeded run: 12 random starts, then two rounds of Generator branches (6 and 4 of them)."""


def hwnas(
    *args: str, data_dir: Path, kill_at: tuple[str, int] | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process; `kill_at=(point, k)` has it SIGKILLed at the k-th such point."""
    prefix = ["-c", _KILLER, kill_at[0], str(kill_at[1])] if kill_at else ["-m", "hwnas.cli"]
    environment = {**os.environ, "HWNAS_DATA": str(data_dir), **(env or {})}
    return subprocess.run(
        [sys.executable, *prefix, *args], capture_output=True, text=True, env=environment, timeout=300, check=False
    )


def outputs(run: Path) -> dict[str, object]:
    """What must not depend on how many times the run was killed."""
    summary = json.loads((run / "summary.json").read_text())
    return {
        "archive": (run / "archive.csv").read_text(),
        "front": (run / "front.csv").read_text(),
        "knowledge": (run / "knowledge_base.json").read_text(),
        **{key: summary[key] for key in ("budget_used", "rounds", "stop_reason", "front_size", "llm_calls")},
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, object]:
    out = tmp_path_factory.mktemp("straight")
    finished = hwnas("run", *RUN_FLAGS, "--name", "k", "--out", str(out), data_dir=data_dir)
    assert finished.returncode == 0, finished.stderr
    return outputs(out / "k")


KILL_POINTS = [
    ("put", 1),  # the input saved, nothing run
    ("put_writes", 2),  # the random start evaluated, its step not yet saved
    ("put_writes", 5),  # first Generator branch of round 1 done, five pending
    ("put_writes", 10),  # every Generator branch of round 1 done, the step not yet saved
    ("llm_call:generator", 9),  # inside round 2's fan-out, before that branch's writes are saved
    ("put", 7),  # a round boundary (after round 1's stop test)
    ("put_writes", 21),  # the final stop test done, its step not yet saved
]
"""Where the suite kills the run; `HWNAS_EVERY_KILL_POINT=1` tries every one the run has (45; 7-20 min here):
its 14 checkpoint writes, its 21 task writes and its 10 Generator calls."""
if os.environ.get("HWNAS_EVERY_KILL_POINT"):
    KILL_POINTS = [
        *(("put", k) for k in range(1, 15)),
        *(("put_writes", k) for k in range(1, 22)),
        *(("llm_call:generator", k) for k in range(1, 11)),
    ]


@pytest.mark.parametrize("kill_at", KILL_POINTS, ids=lambda point: f"{point[0]}#{point[1]}")
def test_a_run_killed_at_any_point_resumes_to_the_uninterrupted_result(
    kill_at: tuple[str, int], uninterrupted: dict[str, object], data_dir: Path, tmp_path: Path
) -> None:
    killed = hwnas("run", *RUN_FLAGS, "--name", "k", "--out", str(tmp_path), data_dir=data_dir, kill_at=kill_at)
    assert killed.returncode == -9, killed.stderr  # the kill point was reached
    assert not (tmp_path / "k" / "summary.json").exists()
    resumed = hwnas("run", *RUN_FLAGS, "--name", "k", "--out", str(tmp_path), data_dir=data_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert outputs(tmp_path / "k") == uninterrupted


class AgentServer:
    """An OpenAI-compatible server on 127.0.0.1 that answers every agent with a random valid reply.

    It reads the JSON schema from the request's `response_format`; with `echo_auth`, every free-text
    field carries the Authorization header it received, as a careless or hostile server might.
    """

    def __init__(self, echo_auth: bool = False, fail_every: int = 0) -> None:
        import numpy as np

        from hwnas.llm.random_model import random_instance

        rng = np.random.default_rng(0)
        served = iter(range(1, 10**9))

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if fail_every and next(served) % fail_every == 0:  # a failure retrying cannot fix
                    status, payload = 422, {"error": {"message": "scripted failure", "type": "invalid_request"}}
                else:
                    schema = body["response_format"]["json_schema"]["schema"]
                    reply = random_instance(schema, schema.get("$defs", {}), rng)
                    if echo_auth:
                        reply = _fill_text(reply, self.headers.get("Authorization", ""))
                    status, payload = 200, chat_completion(body["model"], json.dumps(reply))
                send_json(self, status, payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _fill_text(value: Any, text: str) -> Any:
    """`value` with every free-text string (the random model writes "random") replaced by `text`."""
    if isinstance(value, dict):
        return {k: _fill_text(v, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_text(v, text) for v in value]
    return text if value == "random" else value


@pytest.fixture
def agent_server() -> Iterator[AgentServer]:
    server = AgentServer()
    yield server
    server.close()


SMALL_FLAGS = ["--budget", "14", "--round-size", "4", "--max-rounds", "2", "--estimator", "oracle-val", "--seed", "1"]


@pytest.mark.parametrize("provider", ["random", "openai-compatible"])
def test_a_recorded_run_replays_to_the_same_archive(
    provider: str, agent_server: AgentServer, data_dir: Path, tmp_path: Path
) -> None:
    llm = (
        ["--llm", "random"]
        if provider == "random"
        else ["--llm", "openai-compatible:agent-server", "--base-url", agent_server.base_url]
    )
    recorded = hwnas("run", *llm, *SMALL_FLAGS, "--name", "rec", "--out", str(tmp_path), data_dir=data_dir)
    assert recorded.returncode == 0, recorded.stderr
    replay = ["--llm", f"replay:{tmp_path / 'rec' / 'trace.jsonl'}"]
    replayed = hwnas("run", *replay, *SMALL_FLAGS, "--name", "again", "--out", str(tmp_path), data_dir=data_dir)
    assert replayed.returncode == 0, replayed.stderr
    assert (tmp_path / "again" / "archive.csv").read_text() == (tmp_path / "rec" / "archive.csv").read_text()
    calls = [json.loads(line) for line in (tmp_path / "again" / "trace.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "llm_call" and r["reply"] for r in calls)


@pytest.mark.slow
def test_a_run_of_the_embedded_model_replays_to_the_same_archive(data_dir: Path, tmp_path: Path) -> None:
    """The embedded model's prompt says a grammar enforces the schema; a replay pastes it: same requests."""
    flags = [
        "--budget",
        "6",
        "--partition-axis",
        "none",
        "--round-size",
        "3",
        "--max-rounds",
        "1",
        "--estimator",
        "oracle-val",
        "--no-knowledge",
    ]
    recorded = hwnas("run", "--llm", "embedded", *flags, "--name", "rec", "--out", str(tmp_path), data_dir=data_dir)
    assert recorded.returncode == 0, recorded.stderr
    replay = f"replay:{tmp_path / 'rec' / 'trace.jsonl'}"
    replayed = hwnas("run", "--llm", replay, *flags, "--name", "again", "--out", str(tmp_path), data_dir=data_dir)
    assert replayed.returncode == 0, replayed.stderr
    assert (tmp_path / "again" / "archive.csv").read_text() == (tmp_path / "rec" / "archive.csv").read_text()
    summaries = [json.loads((tmp_path / name / "summary.json").read_text()) for name in ("rec", "again")]
    assert summaries[0]["llm_calls"] == summaries[1]["llm_calls"] >= 2


def test_a_run_that_made_no_llm_call_is_a_recording(data_dir: Path, tmp_path: Path) -> None:
    flags = ["--budget", "6", "--estimator", "oracle-val"]  # six partitions: the random start spends it
    recorded = hwnas("run", "--llm", "random", *flags, "--name", "rec", "--out", str(tmp_path), data_dir=data_dir)
    assert recorded.returncode == 0, recorded.stderr
    assert json.loads((tmp_path / "rec" / "summary.json").read_text())["llm_calls"] == 0
    replay = f"replay:{tmp_path / 'rec' / 'trace.jsonl'}"
    replayed = hwnas("run", "--llm", replay, *flags, "--name", "again", "--out", str(tmp_path), data_dir=data_dir)
    assert replayed.returncode == 0, replayed.stderr
    assert (tmp_path / "again" / "archive.csv").read_text() == (tmp_path / "rec" / "archive.csv").read_text()


def test_a_key_echoed_by_the_server_is_in_no_file_the_run_writes(data_dir: Path, tmp_path: Path) -> None:
    key = "sk-test-0123456789abcdefghij"
    server = AgentServer(echo_auth=True)
    try:
        env_key = {"OPENAI_API_KEY": key}
        flags = ["--llm", "openai-compatible:agent-server", "--base-url", server.base_url, *SMALL_FLAGS]
        finished = hwnas("run", *flags, "--name", "r", "--out", str(tmp_path), data_dir=data_dir, env=env_key)
    finally:
        server.close()
    assert finished.returncode == 0, finished.stderr
    run = tmp_path / "r"
    navigator = [json.loads(line) for line in (run / "trace.jsonl").read_text().splitlines()]
    assert any("Bearer <redacted>" in str(r.get("reply")) for r in navigator)  # the server did echo it
    exported = hwnas(
        "export", str(run), "--format", "json", "--out", str(tmp_path / "r.json"), data_dir=data_dir, env=env_key
    )
    reported = hwnas("report", str(run), "--out", str(tmp_path / "r.html"), data_dir=data_dir, env=env_key)
    assert exported.returncode == 0 and reported.returncode == 0, exported.stderr + reported.stderr
    written = [*run.iterdir(), tmp_path / "r.json", tmp_path / "r.html"]
    assert {p.name for p in written} >= {"checkpoints.sqlite", "knowledge_base.json", "trace.jsonl", "summary.json"}
    leaking = [p.name for p in written if key.encode() in p.read_bytes()]
    assert leaking == []


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error line of a refused command (exit code 2, one line on stderr, no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("hwnas"), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A finished small random-LLM run, to copy and damage."""
    out = tmp_path_factory.mktemp("finished")
    done = hwnas("run", "--llm", "random", *SMALL_FLAGS, "--name", "r", "--out", str(out), data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    return out / "r"


def unfinished_copy(run: Path, out: Path) -> Path:
    """`run` as a kill leaves it: settings, checkpoint and trace, no outputs."""
    import shutil

    copy = out / run.name
    copy.mkdir(parents=True)
    for kept in ("settings.json", "checkpoints.sqlite", "trace.jsonl"):
        shutil.copy(run / kept, copy / kept)
    return copy


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (("settings.json", b'{"budget": 14, '), "settings.json is damaged"),
        (("settings.json", b"[1, 2]"), "settings.json is damaged"),
        (("checkpoints.sqlite", b"not a database at all, just text" * 100), "checkpoints.sqlite is damaged"),
        (("trace.jsonl", b'{"v": 1, "kind": "note"}\nnot json\n{"v": 1, "kind": "note"}\n'), "trace"),
    ],
    ids=["settings-torn", "settings-not-an-object", "checkpoint", "trace"],
)
def test_resuming_a_damaged_run_is_one_line(
    damage: tuple[str, bytes], needle: str, finished_run: Path, data_dir: Path, tmp_path: Path
) -> None:
    run = unfinished_copy(finished_run, tmp_path)
    (run / damage[0]).write_bytes(damage[1])
    resumed = hwnas("run", "--llm", "random", *SMALL_FLAGS, "--name", "r", "--out", str(tmp_path), data_dir=data_dir)
    assert needle in one_line_error(resumed)


def test_a_torn_trace_line_is_cut_and_the_run_resumes(finished_run: Path, data_dir: Path, tmp_path: Path) -> None:
    run = unfinished_copy(finished_run, tmp_path)
    with (run / "trace.jsonl").open("a") as handle:
        handle.write('{"v": 1, "ts": 1.0, "kind": "decision", "agent": "gen')  # the writer was killed here
    resumed = hwnas("run", "--llm", "random", *SMALL_FLAGS, "--name", "r", "--out", str(tmp_path), data_dir=data_dir)
    assert resumed.returncode == 0, resumed.stderr
    for line in (run / "trace.jsonl").read_text().splitlines():
        json.loads(line)  # every line whole again
    assert (run / "archive.csv").read_text() == (finished_run / "archive.csv").read_text()


def test_a_settings_file_without_a_newer_setting_still_resumes(
    finished_run: Path, data_dir: Path, tmp_path: Path
) -> None:
    """A run saved before `use_navigator` existed ran with its default; adding a setting must not strand it."""
    run = unfinished_copy(finished_run, tmp_path)
    older = json.loads((run / "settings.json").read_text())
    del older["use_navigator"]
    (run / "settings.json").write_text(json.dumps(older))
    resumed = hwnas("run", "--llm", "random", *SMALL_FLAGS, "--name", "r", "--out", str(tmp_path), data_dir=data_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "archive.csv").read_text() == (finished_run / "archive.csv").read_text()
    other = hwnas(
        "run",
        "--llm",
        "random",
        *SMALL_FLAGS,
        "--no-navigator",
        "--name",
        "r",
        "--out",
        str(tmp_path),
        data_dir=data_dir,
    )
    assert "use_navigator: True -> False" in one_line_error(other)


def test_a_failed_start_leaves_nothing_and_an_empty_run_does_not_block_its_name(data_dir: Path, tmp_path: Path) -> None:
    typo = hwnas(
        "run", "--llm", "opnai:gpt-4o-mini", "--budget", "12", "--name", "t", "--out", str(tmp_path), data_dir=data_dir
    )
    assert "opnai" in one_line_error(typo) and not (tmp_path / "t").exists()
    # A folder from an older hwnas that failed after writing its settings, before evaluating anything:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "settings.json").write_text(json.dumps({"llm": "opnai:gpt-4o-mini", "budget": 12}))

    def run_t(budget: str) -> subprocess.CompletedProcess[str]:
        common = ("--llm", "random", "--estimator", "oracle-val", "--name", "t", "--out", str(tmp_path))
        return hwnas("run", *common, "--budget", budget, data_dir=data_dir)

    fixed = run_t("12")
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads((tmp_path / "t" / "settings.json").read_text())["llm"] == "random"
    other = run_t("13")
    assert "budget: 12 -> 13" in one_line_error(other)  # a run that evaluated something keeps its name


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--name", "../escape"], "--name '../escape' is not a run name"),
        (["run", "--name", ""], "--name '' is not a run name"),
        (["run", "--name", "a/b"], "is not a run name"),
        (["run", "--name", ".."], "is not a run name"),
        (["run", "--seed", "-1"], "--seed must be at least 0"),
        (["run", "--eps", "nan"], "--eps must be a non-negative number"),
        (["run", "--budget", "99999999"], "--budget must be at most 15625"),
        (["run", "--window", "0"], "--window must be at least 1"),
        (["run", "--init-per-partition", "0"], "--init-per-partition must be at least 1"),
        (["run", "--option-lists", "near"], "unknown --option-lists 'near'; accepted: dealt, runners-up"),
        (["run", "--representatives", "last"], "unknown --representatives 'last'; accepted: fastest, first"),
        (["run", "--score-warp", "rank"], "unknown --score-warp 'rank'; accepted: copula, none"),
        (["run", "--base-url", "http://127.0.0.1:9/v1"], "random does not use it"),
        (["bench", "--methods", "rs", "--seeds", "1", "--out", "{tmp}/a-file"], "--out"),
        (["bench", "--methods", "rs", "--seeds", "1", "--out", "{tmp}/a-file/below"], "--out"),
        (
            ["bench", "--campaign", "tiny", "--report-only", "--out", "{tmp}/c", "--update-md", "{tmp}/a-file/x.md"],
            "--update-md",
        ),
        (["llm", "check", "--llm", "random", "--trace", "{tmp}/a-file/t.jsonl"], "--trace"),
    ],
)
def test_bad_input_is_refused_in_one_line_and_creates_nothing(
    args: list[str],
    needle: str,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In this process (a child per case would triple the time): the same CLI code, real files."""
    monkeypatch.setenv("HWNAS_DATA", str(data_dir))
    (tmp_path / "a-file").write_text("")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if argv[0] == "run":
        argv += ["--llm", "random", "--out", str(tmp_path / "runs")]
    code = main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and needle in lines[0], lines
    assert not (tmp_path / "runs").exists() and not (tmp_path / "escape").exists()


def test_version_and_help_name_what_they_should(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("hwnas ")
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "random (no LLM" in capsys.readouterr().out


def test_runs_lists_a_damaged_run_and_goes_on(finished_run: Path, data_dir: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(finished_run, tmp_path / "good")
    shutil.copytree(finished_run, tmp_path / "bad")
    (tmp_path / "bad" / "summary.json").write_text("{torn")
    (tmp_path / "bad" / "settings.json").write_text("{torn")
    listed = hwnas("runs", "--dir", str(tmp_path), "--json", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    status = {info["name"]: info["status"] for info in json.loads(listed.stdout)}
    assert status == {"good": "finished", "bad": "damaged"}
    exported = hwnas("export", str(tmp_path / "bad"), "--format", "json", data_dir=data_dir)
    assert "settings.json is damaged" in one_line_error(exported)


def test_a_resumed_run_counts_repeated_work_once_and_all_its_time(data_dir: Path, tmp_path: Path) -> None:
    """Killed right after the Navigator's guardrail record: the resume repeats the Navigator's step."""
    from hwnas.graph.runner import session_wall_s
    from hwnas.runs import read_records

    flags = ["run", *RUN_FLAGS, "--name", "k", "--out", str(tmp_path)]
    killed = hwnas(*flags, data_dir=data_dir, kill_at=("guardrail:navigator", 1))
    assert killed.returncode == -9, killed.stderr
    first_session_s = session_wall_s(read_records(tmp_path / "k" / "trace.jsonl"))
    assert hwnas(*flags, data_dir=data_dir).returncode == 0
    records = read_records(tmp_path / "k" / "trace.jsonl")
    guardrails = [r for r in records if r["kind"] == "guardrail"]
    assert len(guardrails) > len({r["round"] for r in guardrails})  # the repeated step wrote its line again
    summary = json.loads((tmp_path / "k" / "summary.json").read_text())
    calls = [r for r in records if r["kind"] == "llm_call"]
    assert summary["llm_calls"] == len(calls) - 1  # the repeated Navigator call counts once
    assert summary["wall_s"] >= round(first_session_s, 2)  # the killed session's time is not lost

    report = tmp_path / "k.html"
    assert hwnas("report", str(tmp_path / "k"), "--out", str(report), data_dir=data_dir).returncode == 0
    page = report.read_text()
    for line in guardrails[0]["overrides"]:
        assert page.count(line) == 1
    assert "Without degenerate cells: degenerate cells are" in page
    assert "No token counts" in page  # the random model reports none
    wall = page.split("wall time</td><td>", 1)[1].split("</td>", 1)[0]
    assert re.fullmatch(r"\d+(\.\d)? s|\d+ min \d\d s", wall), wall  # not 0.4213


def test_the_report_fills_knowledge_ids_and_evidence_and_labels_the_totals(data_dir: Path, tmp_path: Path) -> None:
    from hwnas.report import _knowledge_rows, coverage_figure
    from hwnas.runs import Run

    # Long enough for memory to act; with this seed, these labels and raw scores it also refuses an addition.
    flags = ["--llm", "random", "--budget", "48", "--estimator", "oracle-val", "--option-labels", "ranked"]
    flags += ["--score-warp", "none"]
    assert hwnas("run", *flags, "--name", "r", "--out", str(tmp_path), data_dir=data_dir).returncode == 0
    run = Run(tmp_path / "r")
    rows = _knowledge_rows(run.knowledge())
    stated = [row for row in rows if row[3]]  # an edit with directions (not "retire #3: no such heuristic")
    assert stated and all(row[2] != "" and isinstance(row[5], int) for row in stated)
    assert any(row[2] == "new" for row in stated if row[1] == "rejected")
    archive = run.archive()
    totals = coverage_figure(archive, {}).axes[1]
    labels = sorted(int(t.get_text()) for t in totals.texts)
    assert sum(labels) == len(archive) and labels


def test_progress_and_summary_count_failed_llm_calls_alike(data_dir: Path, tmp_path: Path) -> None:
    server = AgentServer(fail_every=3)
    try:
        flags = ["--llm", "openai-compatible:agent-server", "--base-url", server.base_url, *SMALL_FLAGS, "--json"]
        finished = hwnas("run", *flags, "--name", "r", "--out", str(tmp_path), data_dir=data_dir)
    finally:
        server.close()
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout)
    calls = [json.loads(line) for line in (tmp_path / "r" / "trace.jsonl").read_text().splitlines()]
    failed = [r for r in calls if r["kind"] == "llm_call" and r.get("error_type")]
    assert failed and summary["llm_calls"] == sum(r["kind"] == "llm_call" for r in calls)
    last_progress = [line for line in finished.stderr.splitlines() if "llm calls" in line][-1]
    assert last_progress.endswith(f"llm calls {summary['llm_calls']}")
