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
from openai_payloads import chat_completion, send_json
from pydantic import BaseModel, Field

from hwnas.cli import main
from hwnas.errors import UsageError
from hwnas.llm import (
    JsonModeUnavailable,
    LLMClient,
    LLMError,
    LLMProviderFailed,
    LLMRateLimited,
    LLMReplyError,
    LLMUnreachable,
    PriceTable,
    make_llm,
)
from hwnas.llm.modes import PROBE_MESSAGES, PROBE_VALUE
from hwnas.spaces.nb201.space import OpName
from hwnas.trace import TraceWriter, read_trace


class Cell(BaseModel):
    ops: list[OpName] = Field(min_length=6, max_length=6)
    rationale: str = Field(max_length=80)


def is_probe(request: dict[str, Any]) -> bool:
    return [[m["role"], m["content"]] for m in request["messages"]] == [list(m) for m in PROBE_MESSAGES]


# What llama-cpp-python's server (0.3.x) answers a json_schema response_format with, measured on it.
LLAMA_CPP_REJECTION = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}"
)
VALID = json.dumps(
    {"ops": ["nor_conv_3x3", "skip_connect", "none", "nor_conv_1x1", "avg_pool_3x3", "none"], "rationale": "mixed"}
)
MESSAGES = [("system", "You design cells."), ("user", "Propose one cell.")]


def mode_of(request: dict[str, Any]) -> str:
    """The structured-output mode a request was sent in."""
    if "guided_json" in request:
        return "guided"
    return str(request.get("response_format", {}).get("type", "prompt"))


class FakeOpenAIServer:
    """Answers POST /v1/chat/completions from a script of steps; records every request it got.

    Like llama-cpp-python's server by default: it rejects `response_format` json_schema with HTTP 500
    (its message, as that server words it), applies a `json_object` schema and ignores `guided_json`;
    `rejects` and `follows` change that. Structured-output probes are answered from that table and kept
    apart (`probes`); other requests get the script's steps: ("reply", text), ("status", code),
    ("hang", seconds), ("mode_error",) (HTTP 500 naming response_format), ("echo_auth",) (replies with
    the Authorization header it received inside the rationale). GET /v1/models lists `served`.
    """

    def __init__(self) -> None:
        self.script: list[tuple[Any, ...]] = []
        self.requests: list[dict[str, Any]] = []
        self.probes: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self.rejects: set[str] = set()
        self.follows: set[str] = set()
        self.served = ["fake-model"]
        self.release = threading.Event()
        self.reset()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": name, "object": "model", "owned_by": "me"} for name in server.served],
                    },
                )

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                mode = mode_of(body)
                if mode in server.rejects:
                    payload = {
                        "error": {
                            "message": LLAMA_CPP_REJECTION if mode != "prompt" else "unsupported",
                            "type": "internal_server_error",
                        }
                    }
                    (server.probes if is_probe(body) else server.requests).append(body)
                    self._send(500, payload)
                    return
                if is_probe(body):
                    server.probes.append(body)
                    answer = {"probe": PROBE_VALUE} if mode in server.follows else {"answer": "here"}
                    self._reply(body, json.dumps(answer))
                    return
                server.requests.append(body)
                server.auth_headers.append(self.headers.get("Authorization", ""))
                step = server.script.pop(0) if server.script else ("status", 500)
                if step[0] == "mode_error":
                    self._send(500, {"error": {"message": LLAMA_CPP_REJECTION, "type": "internal_server_error"}})
                    return
                if step[0] == "hang":
                    server.release.wait(step[1])
                    return
                if step[0] == "status":
                    payload = {"error": {"message": f"scripted {step[1]}", "type": "server_error"}}
                    self._send(step[1], payload)
                    return
                text = (
                    step[1]
                    if step[0] == "reply"
                    else json.dumps({"ops": ["none"] * 6, "rationale": self.headers.get("Authorization", "")[:80]})
                )
                self._reply(body, text)

            def _reply(self, body: dict[str, Any], text: str) -> None:
                self._send(200, chat_completion(body["model"], text))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                send_json(self, status, payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        """Back to an empty script and llama-cpp-python's modes."""
        self.script.clear()
        self.requests.clear()
        self.probes.clear()
        self.auth_headers.clear()
        self.rejects = {"json_schema"}
        self.follows = {"json_object"}
        self.served = ["fake-model"]

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
    server.reset()
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
    assert request["response_format"] == {"type": "json_object", "schema": Cell.model_json_schema()}
    assert '"enum"' not in request["messages"][0]["content"]  # the server applies the schema: not in the prompt
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


def answered(llm: LLMClient) -> LLMClient:
    """The client after one answered call: a provider that has answered once may fail a few calls."""
    llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    return llm


def test_rate_limit_past_the_cap_raises_rate_limited(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.script = [("reply", VALID)] + [("status", 429)] * 3
    llm = answered(compatible(fake, tmp_path, max_retries=2))
    with pytest.raises(LLMRateLimited):
        llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    assert len(fake.requests) == 4


def test_server_errors_past_the_retry_cap_raise_unreachable(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.script = [("reply", VALID)] + [("status", 500)] * 4
    llm = answered(compatible(fake, tmp_path, max_retries=2))
    with pytest.raises(LLMUnreachable, match="HTTP 500"):
        llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    assert len(fake.requests) == 4
    record = llm_records(tmp_path)[-1]
    assert record["error_type"] == "LLMUnreachable" and record["reply"] is None


def test_a_hang_past_the_timeout_stops_a_provider_that_never_answered(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.script = [("hang", 5.0), ("hang", 5.0)]
    llm = compatible(fake, tmp_path, timeout_s=0.3, max_retries=1)
    start = time.perf_counter()
    never_answered = r"1 LLM call\(s\) failed in a row and none was answered; the last: .* unreachable"
    with pytest.raises(LLMProviderFailed, match=never_answered):
        llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    assert time.perf_counter() - start < 4.0
    assert len(fake.requests) == 2


def test_failures_in_a_row_stop_a_provider_that_answered_before(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.script = [("reply", VALID), ("status", 503), ("reply", VALID)] + [("status", 503)] * 3
    llm = answered(compatible(fake, tmp_path, max_retries=0))
    with pytest.raises(LLMUnreachable):
        llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    answered(llm)  # an answer between failures resets the count
    for _ in range(2):
        with pytest.raises(LLMUnreachable):
            llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    with pytest.raises(LLMProviderFailed, match=r"3 LLM call\(s\) failed in a row; the last: .*HTTP 503"):
        llm.structured(agent="generator", messages=MESSAGES, schema=Cell)


def test_auto_mode_probes_once_and_picks_the_first_mode_the_server_applies(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake.script = [("reply", VALID), ("reply", VALID)]
    llm = compatible(fake, tmp_path)
    for _ in range(2):
        assert llm.structured(agent="generator", messages=MESSAGES, schema=Cell).rationale == "mixed"
    assert [mode_of(p) for p in fake.probes] == ["json_schema", "json_object"]  # once per client, in order
    assert [mode_of(r) for r in fake.requests] == ["json_object", "json_object"]
    [record] = [r for r in read_trace(tmp_path / "trace.jsonl") if r["kind"] == "llm_mode"]
    assert (record["mode"], record["schema_enforced"]) == ("json_object", True)
    assert [(t["mode"], t["outcome"]) for t in record["trials"]] == [
        ("json_schema", "rejected"),
        ("json_object", "followed"),
    ]
    assert "HTTP 500" in record["trials"][0]["detail"] and "followed" in record["reason"]


def test_a_server_that_applies_no_schema_gets_it_in_the_prompt_too(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.follows = set()
    fake.script = [("reply", VALID)]
    llm = compatible(fake, tmp_path)
    assert llm.structured(agent="generator", messages=MESSAGES, schema=Cell).rationale == "mixed"
    assert [mode_of(p) for p in fake.probes] == ["json_schema", "json_object", "guided", "prompt"]
    assert mode_of(fake.requests[0]) == "json_object"  # the first mode accepted
    assert '"enum":["none","skip_connect"' in fake.requests[0]["messages"][0]["content"]


def test_a_mode_rejected_in_a_call_switches_auto_to_the_next_without_a_retry(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake.script = [("mode_error",), ("reply", VALID), ("reply", VALID)]
    llm = compatible(fake, tmp_path)
    for _ in range(2):
        assert llm.structured(agent="generator", messages=MESSAGES, schema=Cell).rationale == "mixed"
    assert [mode_of(r) for r in fake.requests] == ["json_object", "guided", "guided"]
    assert '"enum"' in fake.requests[1]["messages"][0]["content"]  # guided was never seen applied
    modes = [r for r in read_trace(tmp_path / "trace.jsonl") if r["kind"] == "llm_mode"]
    assert [m["mode"] for m in modes] == ["json_object", "guided"] and "rejected json_object" in modes[1]["reason"]
    assert [r["occurrence"] for r in llm_records(tmp_path)] == [0, 1]  # the rejected try was not a call
    assert llm.usage.retries == 0


def test_a_mode_set_by_the_user_that_the_server_rejects_is_a_usage_error(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    llm = compatible(fake, tmp_path, json_mode="json_schema")
    with pytest.raises(JsonModeUnavailable, match=r"rejects --json-mode json_schema \(HTTP 500"):
        llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    assert len(fake.requests) == 1 and not fake.probes  # not retried, and an explicit mode is not probed


def test_a_bad_request_that_does_not_name_the_mode_is_a_failed_call(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.script = [("reply", VALID), ("status", 400)]
    llm = answered(compatible(fake, tmp_path))
    with pytest.raises(LLMError, match="Error code: 400"):
        llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    assert [mode_of(r) for r in fake.requests] == ["json_object", "json_object"]


def test_the_api_key_never_reaches_the_trace(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    fake.script = [("echo_auth",)]
    fake.rejects = set()  # like OpenAI, which takes json_schema, the openai provider's mode
    trace_path = tmp_path / "trace.jsonl"
    llm = make_llm("openai:fake-model", base_url=fake.base_url, trace=TraceWriter(trace_path))
    cell = llm.structured(agent="generator", messages=MESSAGES, schema=Cell)
    assert fake.auth_headers == [f"Bearer {secret}"] and mode_of(fake.requests[0]) == "json_schema"
    # The server echoed it back into the reply; the agent gets the reply redacted (so no checkpoint, export
    # or report can hold it, and a replay sees the same prompts), and the trace does not hold it either.
    assert cell.rationale == "Bearer <redacted>"
    assert secret not in trace_path.read_text()
    assert "<redacted>" in trace_path.read_text()


def test_a_local_server_gets_time_to_work_through_queued_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    local = make_llm("openai-compatible:m", base_url="http://127.0.0.1:9/v1")
    hosted = make_llm("openai:gpt-4o-mini")
    assert getattr(local.chat_model, "request_timeout", None) == 300  # parallel calls queue on one-slot servers
    assert getattr(hosted.chat_model, "request_timeout", None) == 60


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
    assert "using json mode json_object" in live and "valid on the first reply" in live
    assert main(["llm", "check", "--llm", f"replay:{trace_path}"]) == 0
    replayed = capsys.readouterr().out
    assert "provider replay, model fake-model" in replayed
    assert live.splitlines()[-1] == replayed.splitlines()[-1]  # the same proposal, with no server call
    assert len(fake.requests) == 1


def test_llm_check_lists_the_modes_the_server_accepts(
    fake: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script = [("reply", VALID)]
    assert main(["llm", "check", "--llm", "openai-compatible:fake-model", "--base-url", fake.base_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    modes = [line.split()[2:5] for line in lines if line.startswith("json mode ")]
    assert modes == [
        ["json_schema", "rejected", "(HTTP"],
        ["json_object", "accepted,", "schema"],
        ["guided", "accepted,", "schema"],
        ["prompt", "accepted,", "schema"],
    ]
    assert "schema followed" in lines[3] and "schema not followed" in lines[4]
    assert [mode_of(p) for p in fake.probes] == ["json_schema", "json_object", "guided", "prompt"]


def test_llm_check_on_a_server_accepting_no_mode_exits_2_naming_the_modes_tried(
    fake: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.rejects = {"json_schema", "json_object", "guided", "prompt"}
    assert main(["llm", "check", "--llm", "openai-compatible:fake-model", "--base-url", fake.base_url]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "accepts no structured-output mode" in error
    assert all(f"{mode}: HTTP 500" in error for mode in ("json_schema", "json_object", "guided", "prompt"))


def test_llm_check_with_a_model_the_server_does_not_serve_lists_those_it_serves(
    fake: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.served = ["fake-model", "other-model"]
    assert main(["llm", "check", "--llm", "openai-compatible:gpt-4o", "--base-url", fake.base_url]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "'gpt-4o'" in error and "serves: fake-model, other-model" in error
    assert not fake.probes and not fake.requests


def test_llm_check_with_a_mode_the_server_rejects_exits_2(
    fake: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["llm", "check", "--llm", "openai-compatible:fake-model", "--base-url", fake.base_url]
    assert main([*argv, "--json-mode", "json_schema"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "json_schema: HTTP 500" in error
    assert [mode_of(p) for p in fake.probes] == ["json_schema"]


def test_json_mode_is_refused_for_providers_without_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llm", "check", "--llm", "random", "--json-mode", "json_object"]) == 2
    assert "--json-mode applies to openai and openai-compatible" in capsys.readouterr().err


def closed_port() -> int:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_run_against_a_closed_port_exits_2_with_one_line(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "run",
        "--llm",
        "openai-compatible:m",
        "--base-url",
        f"http://127.0.0.1:{closed_port()}/v1",
        "--budget",
        "24",
        "--name",
        "down",
        "--out",
        str(tmp_path),
        "--data",
        str(data_dir),
    ]
    assert main(argv) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("hwnas: error")]
    assert len(error) == 1 and "unreachable" in error[0] and "--base-url" in error[0]
    assert not (tmp_path / "down" / "summary.json").exists()  # not finished: the same command resumes it


def test_llm_check_on_an_unreachable_base_url_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["llm", "check", "--llm", "openai-compatible:m", "--base-url", f"http://127.0.0.1:{closed_port()}/v1"])
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
def test_bad_llm_specs_exit_2_with_one_line(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llm", "check", *argv]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and needle in error


@pytest.mark.skipif(importlib.util.find_spec("langchain_anthropic") is not None, reason="langchain-anthropic installed")
def test_a_provider_without_its_package_names_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llm", "check", "--llm", "anthropic:claude-x"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pip install langchain-anthropic" in error
