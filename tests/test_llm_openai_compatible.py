"""The remote path (real langchain-openai client) against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from hwnas.cli import main
from hwnas.errors import UsageError
from hwnas.llm import (
    LLMClient,
    LLMRateLimited,
    LLMReplyError,
    LLMUnreachable,
    PriceTable,
    make_llm,
)
from hwnas.space import OpName
from hwnas.trace import TraceWriter, read_trace


class Cell(BaseModel):
    ops: list[OpName] = Field(min_length=6, max_length=6)
    rationale: str = Field(max_length=80)


VALID = json.dumps({"ops": ["nor_conv_3x3", "skip_connect", "none", "nor_conv_1x1", "avg_pool_3x3", "none"],
                    "rationale": "mixed"})
MESSAGES = [("system", "You design cells."), ("user", "Propose one cell.")]


class FakeOpenAIServer:
    """Answers POST /v1/chat/completions from a script of steps; records every request it got.

    Steps: ("reply", text), ("status", code), ("hang", seconds), ("echo_auth",) — the last replies with
    the Authorization header it received inside the rationale.
    """

    def __init__(self) -> None:
        self.script: list[tuple[Any, ...]] = []
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.auth_headers.append(self.headers.get("Authorization", ""))
                step = server.script.pop(0) if server.script else ("status", 500)
                if step[0] == "hang":
                    server.release.wait(step[1])
                    return
                if step[0] == "status":
                    payload = {"error": {"message": f"scripted {step[1]}", "type": "server_error"}}
                    self._send(step[1], payload)
                    return
                text = step[1] if step[0] == "reply" else json.dumps(
                    {"ops": ["none"] * 6, "rationale": self.headers.get("Authorization", "")[:80]})
                self._send(200, {
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                })

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer()
    yield fake
    fake.close()


@pytest.fixture
def fake(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.script.clear()
    server.requests.clear()
    server.auth_headers.clear()
    return server


def compatible(fake: FakeOpenAIServer, tmp_path: Path, **kwargs: Any) -> LLMClient:
    settings: dict[str, Any] = {"backoff_s": 0.01, "trace": TraceWriter(tmp_path / "trace.jsonl"), **kwargs}
    return make_llm("openai-compatible:fake-model", base_url=fake.base_url, **settings)


def llm_records(tmp_path: Path) -> list[dict[str, Any]]:
    return [r for r in read_trace(tmp_path / "trace.jsonl") if r["kind"] == "llm_call"]


def test_reply_is_parsed_validated_priced_and_recorded(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.script = [("reply", VALID)]
    llm = compatible(fake, tmp_path, prices=PriceTable({"fake-model": (1.0, 2.0)}))
    cell = llm.structured(agent="generator", messages=MESSAGES, schema=Cell, context={"round": 3, "partition": 1})
    assert cell.ops[0] == "nor_conv_3x3"
    request = fake.requests[0]
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["schema"] == Cell.model_json_schema()
    assert request["model"] == "fake-model" and "seed" in request
    [record] = llm_records(tmp_path)
    assert (record["agent"], record["round"], record["partition"]) == ("generator", 3, 1)
    assert (record["tokens_in"], record["tokens_out"]) == (11, 7)
    assert record["cost_usd"] == pytest.approx((11 * 1.0 + 7 * 2.0) / 1e6)
    assert record["reply"] == VALID and record["parsed"]["rationale"] == "mixed" and record["error"] is None
    assert record["request"]["schema_name"] == "Cell"
    assert llm.usage.calls == 1 and llm.usage.tokens_out == 7


def test_malformed_json_is_repaired_with_the_error_fed_back(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.script = [("reply", '{"ops": ["none", '), ("reply", "Sure! " + VALID)]
    llm = compatible(fake, tmp_path)
    cell = llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    assert cell.rationale == "mixed"
    repair_prompt = fake.requests[1]["messages"][-1]["content"]
    assert "invalid" in repair_prompt and "not valid JSON" in repair_prompt
    first, second = llm_records(tmp_path)
    assert first["error"] and first["parsed"] is None and second["parsed"] and second["repair_round"] == 1
    assert llm.usage.repairs == 1


def test_invalid_values_past_the_repair_rounds_raise_reply_error(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    wrong_op = json.dumps({"ops": ["conv_5x5"] * 6, "rationale": "x"})
    fake.script = [("reply", wrong_op)] * 3
    llm = compatible(fake, tmp_path)
    with pytest.raises(LLMReplyError, match="3 tries"):
        llm.structured(agent="generator", messages=MESSAGES, schema=Cell, repair_rounds=2)
    assert len(fake.requests) == 3
    assert "ops.0" in fake.requests[2]["messages"][-1]["content"]


def test_rate_limit_is_retried_then_succeeds(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.script = [("status", 429), ("reply", VALID)]
    llm = compatible(fake, tmp_path)
    assert llm.structured(agent="generator", messages=MESSAGES, schema=Cell).rationale == "mixed"
    assert len(fake.requests) == 2 and llm.usage.retries == 1


def test_rate_limit_past_the_cap_raises_rate_limited(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.script = [("status", 429)] * 3
    llm = compatible(fake, tmp_path, max_retries=2)
    with pytest.raises(LLMRateLimited):
        llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    assert len(fake.requests) == 3


def test_server_errors_past_the_retry_cap_raise_unreachable(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.script = [("status", 500)] * 4
    llm = compatible(fake, tmp_path, max_retries=2)
    with pytest.raises(LLMUnreachable, match="HTTP 500"):
        llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    assert len(fake.requests) == 3
    [record] = llm_records(tmp_path)
    assert record["error_type"] == "LLMUnreachable" and record["reply"] is None


def test_a_hang_past_the_timeout_raises_unreachable(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.script = [("hang", 5.0), ("hang", 5.0)]
    llm = compatible(fake, tmp_path, timeout_s=0.3, max_retries=1)
    start = time.perf_counter()
    with pytest.raises(LLMUnreachable, match="unreachable"):
        llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    assert time.perf_counter() - start < 4.0
    assert len(fake.requests) == 2


def test_a_server_without_json_schema_support_gets_the_schema_in_the_prompt_only(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake.script = [("status", 400), ("reply", VALID), ("reply", VALID)]
    llm = compatible(fake, tmp_path)
    for _ in range(2):
        assert llm.structured(agent="generator", messages=MESSAGES, schema=Cell).rationale == "mixed"
    assert ["response_format" in r for r in fake.requests] == [True, False, False]
    assert '"enum":["none","skip_connect"' in fake.requests[2]["messages"][0]["content"]


def test_the_api_key_never_reaches_the_trace(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    fake.script = [("echo_auth",)]
    trace_path = tmp_path / "trace.jsonl"
    llm = make_llm("openai:fake-model", base_url=fake.base_url, trace=TraceWriter(trace_path))
    cell = llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    assert fake.auth_headers == [f"Bearer {secret}"]
    # The server echoed it back into the reply; the agent gets the reply redacted (so no checkpoint, export
    # or report can hold it, and a replay sees the same prompts), and the trace does not hold it either.
    assert cell.rationale == "Bearer <redacted>"
    assert secret not in trace_path.read_text()
    assert "<redacted>" in trace_path.read_text()


def test_openai_without_a_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        make_llm("openai:gpt-4o-mini")


def test_llm_check_against_the_server_then_replayed_from_its_trace(
    fake: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script = [("reply", VALID)]
    trace_path = tmp_path / "check.jsonl"
    argv = ["llm", "check", "--llm", "openai-compatible:fake-model", "--base-url", fake.base_url]
    assert main([*argv, "--trace", str(trace_path)]) == 0
    live = capsys.readouterr().out
    assert "provider openai-compatible, model fake-model" in live and "tokens/s" in live
    assert "|nor_conv_3x3~0|+|skip_connect~0|none~1|" in live
    assert main(["llm", "check", "--llm", f"replay:{trace_path}"]) == 0
    replayed = capsys.readouterr().out
    assert "provider replay, model fake-model" in replayed
    assert live.splitlines()[-1] == replayed.splitlines()[-1]  # the same proposal, with no server call
    assert len(fake.requests) == 1


def test_llm_check_on_an_unreachable_base_url_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["llm", "check", "--llm", "openai-compatible:m", "--base-url", f"http://127.0.0.1:{port}/v1"])
    error = capsys.readouterr().err
    assert code == 2
    assert error.count("\n") == 1 and "unreachable" in error and "--base-url" in error


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--llm", "nosuchprovider:model"], "unknown LLM provider"),
        (["--llm", "gpt-4o"], "unknown LLM spec"),
        (["--llm", "openai-compatible:m"], "--base-url"),
        (["--llm", "replay:/no/such/trace.jsonl"], "not found"),
    ],
)
def test_bad_llm_specs_exit_2_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["llm", "check", *argv]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and needle in error


@pytest.mark.skipif(importlib.util.find_spec("langchain_anthropic") is not None, reason="langchain-anthropic installed")
def test_a_provider_without_its_package_names_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llm", "check", "--llm", "anthropic:claude-x"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pip install langchain-anthropic" in error
