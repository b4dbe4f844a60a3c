"""Recording and replay, scripted chat models through `chat_model=`, budgets and spec errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, Field

from hwnas.errors import UsageError
from hwnas.llm import (
    LLMBudgetExceeded,
    LLMClient,
    LLMError,
    LLMReplyError,
    PriceTable,
    ReplayMismatch,
    make_llm,
)
from hwnas.spaces.nb201.space import OpName
from hwnas.trace import TraceWriter, read_trace


class Cell(BaseModel):
    ops: list[OpName] = Field(min_length=6, max_length=6)


class Plan(BaseModel):
    focus: int = Field(ge=0, le=5)


def cell_json(op: str) -> str:
    return json.dumps({"ops": [op] * 6})


class ScriptedChatModel(BaseChatModel):
    """Replies from a list; an Exception in the list is raised instead. Records the prompts it saw."""

    replies: list[str | Exception]
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.prompts.append(messages)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        message = AIMessage(
            content=reply, usage_metadata={"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def session(llm: LLMClient) -> list[BaseModel]:
    """A small recorded 'run': two agents, a repaired reply, and one request sent twice."""
    ask = [("user", "propose a cell")]
    return [
        llm.structured(agent="generator", messages=ask, schema=Cell, context={"round": 1}),
        llm.structured(agent="navigator", messages=[("user", "pick a partition")], schema=Plan),
        llm.structured(agent="generator", messages=ask, schema=Cell, context={"round": 2}),
    ]


def recorded(tmp_path: Path) -> tuple[Path, list[BaseModel]]:
    trace = tmp_path / "recorded.jsonl"
    fake = GenericFakeChatModel(
        messages=iter([cell_json("nor_conv_3x3"), '{"focus": 9}', '{"focus": 2}', cell_json("skip_connect")])
    )
    results = session(make_llm("fake:scripted", chat_model=fake, trace=TraceWriter(trace)))
    return trace, results


def test_replay_reproduces_a_recorded_sequence_exactly(tmp_path: Path) -> None:
    trace, original = recorded(tmp_path)
    replay_trace = tmp_path / "replayed.jsonl"
    llm = make_llm(f"replay:{trace}", trace=TraceWriter(replay_trace))
    assert (llm.provider, llm.model) == ("replay", "scripted")
    assert session(llm) == original
    assert [r.model_dump() for r in original] == [
        {"ops": ["nor_conv_3x3"] * 6},
        {"focus": 2},
        {"ops": ["skip_connect"] * 6},
    ]
    keep = ("agent", "request_key", "occurrence", "repair_round", "reply", "parsed", "error", "round")
    before = [{k: r.get(k) for k in keep} for r in read_trace(trace)]
    after = [{k: r.get(k) for k in keep} for r in read_trace(replay_trace)]
    assert after == before and len(after) == 4  # the repair round is replayed too
    assert llm.usage.cost_usd == 0.0 and llm.usage.repairs == 1


def test_a_resumed_run_that_skips_done_calls_still_finds_its_replies(tmp_path: Path) -> None:
    trace, original = recorded(tmp_path)
    llm = make_llm(f"replay:{trace}")
    # The resumed run already has round 1; its first call is the navigator's.
    plan = llm.structured(agent="navigator", messages=[("user", "pick a partition")], schema=Plan)
    assert plan == original[1]


def test_a_call_the_recording_lacks_fails_loudly_and_is_not_an_llm_error(tmp_path: Path) -> None:
    trace, _ = recorded(tmp_path)
    llm = make_llm(f"replay:{trace}")
    with pytest.raises(ReplayMismatch, match="no recorded reply") as caught:
        llm.structured(agent="generator", messages=[("user", "something new")], schema=Cell)
    assert isinstance(caught.value, UsageError) and not isinstance(caught.value, LLMError)


def test_a_recorded_failure_replays_as_the_same_failure(tmp_path: Path) -> None:
    trace = tmp_path / "recorded.jsonl"
    scripted = ScriptedChatModel(replies=[RuntimeError("provider exploded"), cell_json("none")])
    llm = make_llm("fake:scripted", chat_model=scripted, trace=TraceWriter(trace))
    with pytest.raises(LLMError, match="provider exploded"):
        llm.structured(agent="generator", messages=[("user", "a")], schema=Cell)
    assert llm.structured(agent="generator", messages=[("user", "a")], schema=Cell).ops == ["none"] * 6
    replay = make_llm(f"replay:{trace}")
    with pytest.raises(LLMError, match="provider exploded"):
        replay.structured(agent="generator", messages=[("user", "a")], schema=Cell)
    assert replay.structured(agent="generator", messages=[("user", "a")], schema=Cell).ops == ["none"] * 6


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"v": 1, "kind": "llm_call"\nnot json at all\n', "damaged"),
        ('{"v": 1, "kind": "note", "text": "no calls"}\n', "no llm_call records"),
        ('{"v": 1, "kind": "llm_call", "reply": "{}"}\n', "without request_key"),
    ],
)
def test_a_damaged_replay_file_is_a_usage_error(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text(content)
    with pytest.raises(UsageError, match=needle):
        make_llm(f"replay:{path}")


def test_scripted_model_sees_the_schema_and_a_repair_prompt(tmp_path: Path) -> None:
    scripted = ScriptedChatModel(replies=["no json here", "```json\n" + cell_json("none") + "\n```"])
    llm = make_llm("fake:scripted", chat_model=scripted)
    assert llm.structured(agent="a", messages=[("system", "Be brief."), ("user", "go")], schema=Cell).ops[0] == "none"
    first_system = scripted.prompts[0][0].text
    assert first_system.startswith("Be brief.") and '"enum":["none","skip_connect"' in first_system
    assert len(scripted.prompts[0]) == 2  # the schema joins the agent's system message
    assert "contains no JSON object" in scripted.prompts[1][-1].text


def test_repair_rounds_zero_fails_on_the_first_invalid_reply() -> None:
    scripted = ScriptedChatModel(replies=['{"ops": []}'])
    llm = make_llm("fake:scripted", chat_model=scripted)
    with pytest.raises(LLMReplyError, match="1 tries"):
        llm.structured(agent="a", messages=[("user", "go")], schema=Cell, repair_rounds=0)
    assert llm.usage.failures == 1


def test_budget_stops_calls_once_spent(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    scripted = ScriptedChatModel(replies=[cell_json("none")] * 3)
    prices = PriceTable({"scripted": (1000.0, 1000.0)})  # 110 tokens -> $0.11 a call
    llm = make_llm("fake:scripted", chat_model=scripted, prices=prices, budget_usd=0.2, trace=TraceWriter(trace))
    for _ in range(2):
        llm.structured(agent="a", messages=[("user", "go")], schema=Cell)
    assert llm.usage.cost_usd == pytest.approx(0.22)
    with pytest.raises(LLMBudgetExceeded):
        llm.structured(agent="a", messages=[("user", "go")], schema=Cell)
    assert len(scripted.replies) == 1  # the third call never reached the model
    assert [r.get("error_type") for r in read_trace(trace)][-1] == "LLMBudgetExceeded"


def test_messages_must_be_role_text_pairs() -> None:
    llm = make_llm("fake:scripted", chat_model=ScriptedChatModel(replies=[]))
    with pytest.raises(ValueError, match="role"):
        llm.structured(agent="a", messages=[("tool", "x")], schema=Cell)
