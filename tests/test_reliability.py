"""Nothing lost, nothing leaked: real `hwnas` processes killed with SIGKILL, resumed, and fed bad input.

The kill points are exact: a small wrapper (`_KILLER`) runs the CLI in a child process and sends that
process SIGKILL right after the k-th checkpoint write (`put`: a super-step boundary), the k-th write of a
finished task (`put_writes`: inside a step, e.g. a Generator branch of the fan-out), or the k-th trace
record of a kind (e.g. a Generator's LLM call, before its branch's writes are saved).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

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

RUN_FLAGS = ["--llm", "random", "--budget", "24", "--round-size", "8", "--estimator", "oracle-val", "--seed", "3",
             "--json"]
"""A small seeded run: 12 random starts, then two rounds of Generator branches (6 and 4 of them)."""


def hwnas(
    *args: str, data_dir: Path, kill_at: tuple[str, int] | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process; `kill_at=(point, k)` has it SIGKILLed at the k-th such point."""
    prefix = ["-c", _KILLER, kill_at[0], str(kill_at[1])] if kill_at else ["-m", "hwnas.cli"]
    environment = {**os.environ, "HWNAS_DATA": str(data_dir), **(env or {})}
    return subprocess.run([sys.executable, *prefix, *args], capture_output=True, text=True, env=environment,
                          timeout=300, check=False)


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


@pytest.mark.parametrize(
    "kill_at",
    [
        ("put", 1),  # the input saved, nothing run
        ("put_writes", 2),  # the random start evaluated, its step not yet saved
        ("put_writes", 5),  # first Generator branch of round 1 done, five pending
        ("put_writes", 10),  # every Generator branch of round 1 done, the step not yet saved
        ("llm_call:generator", 9),  # inside round 2's fan-out, before that branch's writes are saved
        ("put", 7),  # a round boundary (after round 1's stop test)
        ("put_writes", 21),  # the final stop test done, its step not yet saved
    ],
    ids=lambda point: f"{point[0]}#{point[1]}" if isinstance(point, tuple) else str(point),
)
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

    def __init__(self, echo_auth: bool = False) -> None:
        import numpy as np

        from hwnas.llm.random_model import random_instance

        rng = np.random.default_rng(0)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                schema = body["response_format"]["json_schema"]["schema"]
                reply = random_instance(schema, schema.get("$defs", {}), rng)
                if echo_auth:
                    reply = _fill_text(reply, self.headers.get("Authorization", ""))
                data = json.dumps({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": json.dumps(reply)}}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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
    llm = ["--llm", "random"] if provider == "random" else [
        "--llm", "openai-compatible:agent-server", "--base-url", agent_server.base_url]
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
    flags = ["--budget", "6", "--partition-axis", "none", "--round-size", "3", "--max-rounds", "1",
             "--estimator", "oracle-val", "--no-knowledge"]
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
    exported = hwnas("export", str(run), "--format", "json", "--out", str(tmp_path / "r.json"), data_dir=data_dir,
                     env=env_key)
    reported = hwnas("report", str(run), "--out", str(tmp_path / "r.html"), data_dir=data_dir, env=env_key)
    assert exported.returncode == 0 and reported.returncode == 0, exported.stderr + reported.stderr
    written = [*run.iterdir(), tmp_path / "r.json", tmp_path / "r.html"]
    assert {p.name for p in written} >= {"checkpoints.sqlite", "knowledge_base.json", "trace.jsonl", "summary.json"}
    leaking = [p.name for p in written if key.encode() in p.read_bytes()]
    assert leaking == []
