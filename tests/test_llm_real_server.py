"""A real OpenAI-compatible server: llama-cpp-python's own, serving the embedded GGUF on 127.0.0.1.

The same model reached in-process (`--llm embedded`) and through HTTP (`--llm openai-compatible:smollm2`)
must negotiate a mode that applies the schema, give schema-valid replies and finish the same search.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hwnas.cli import main
from hwnas.llm.embedded import DEFAULT_N_CTX, embedded_model_path
from hwnas.trace import read_trace

pytestmark = pytest.mark.slow
ALIAS = "smollm2"
START_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` on the embedded GGUF, one thread, as the README tells users to start it."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(embedded_model_path()),
        "--model_alias",
        ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        "1",
        "--n_ctx",
        str(DEFAULT_N_CTX),
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_llm_check_finds_the_mode_the_server_applies(server_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llm", "check", "--llm", f"openai-compatible:{ALIAS}", "--base-url", server_url]) == 0
    out = capsys.readouterr().out
    outcomes = {line.split()[2]: line for line in out.splitlines() if line.startswith("json mode ")}
    assert "rejected (HTTP 500" in outcomes["json_schema"] and "response_format" in outcomes["json_schema"]
    assert "accepted, schema followed" in outcomes["json_object"]  # a grammar built from the schema
    assert "accepted, schema not followed" in outcomes["guided"]  # an unknown field, ignored
    assert "using json mode json_object" in out and "valid" in out.splitlines()[-2]


def test_a_model_the_server_does_not_serve_is_named_with_those_it_serves(
    server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["llm", "check", "--llm", "openai-compatible:gpt-4o", "--base-url", server_url]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"it serves: {ALIAS}" in error


def test_a_search_forcing_json_schema_on_this_server_exits_2_at_once(
    server_url: str, tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "run",
        "--llm",
        f"openai-compatible:{ALIAS}",
        "--base-url",
        server_url,
        "--json-mode",
        "json_schema",
        "--budget",
        "24",
        "--name",
        "forced",
        "--out",
        str(tmp_path),
        "--data",
        str(data_dir),
    ]
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("hwnas: error")]
    assert len(errors) == 1 and "rejects --json-mode json_schema (HTTP 500" in errors[0]
    calls = llm_calls(tmp_path / "forced" / "trace.jsonl")
    assert calls == []  # a mode problem is not a failed call, and it is not retried


def llm_calls(trace: Path) -> list[dict[str, Any]]:
    return [r for r in read_trace(trace) if r["kind"] == "llm_call"]


def test_a_search_through_the_server_matches_the_embedded_model(
    server_url: str, tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One round of two slots after the random start: a Navigator, a Generator and a memory call each.
    common = [
        "--budget",
        "14",
        "--round-size",
        "2",
        "--seed",
        "0",
        "--out",
        str(tmp_path),
        "--data",
        str(data_dir),
        "--json",
    ]
    assert main(["run", "--llm", f"openai-compatible:{ALIAS}", "--base-url", server_url, "--name", "srv", *common]) == 0
    served = json.loads(capsys.readouterr().out)
    assert main(["run", "--llm", "embedded", "--name", "emb", *common]) == 0
    embedded = json.loads(capsys.readouterr().out)
    assert served["budget_used"] == embedded["budget_used"] == 14
    [mode] = [r for r in read_trace(tmp_path / "srv" / "trace.jsonl") if r["kind"] == "llm_mode"]
    assert (mode["mode"], mode["schema_enforced"]) == ("json_object", True)
    for run in ("srv", "emb"):
        calls = llm_calls(tmp_path / run / "trace.jsonl")
        assert calls and all(c["reply"] is not None for c in calls)  # every call answered
        assert sum(c["parsed"] is not None for c in calls) / len(calls) >= 0.5
    # The same model, the same prompt: the first Navigator request is the same request either way.
    first = {
        run: next(c for c in llm_calls(tmp_path / run / "trace.jsonl") if c["agent"] == "navigator")
        for run in ("srv", "emb")
    }
    assert first["srv"]["request_key"] == first["emb"]["request_key"]
    assert first["srv"]["request"]["messages"] == first["emb"]["request"]["messages"]
