"""The agent graph offline, with scripted LLM replies: the loop, the guardrail, rejections, resume."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from hwnas.errors import UsageError
from hwnas.graph.context import RunSettings
from hwnas.graph.runner import run_search
from hwnas.trace import read_trace

Reply = Callable[[str, str], str]
"""(system prompt, user prompt) -> reply text."""


class ScriptedChatModel(BaseChatModel):
    """Answers each call with `script(system, user)`; records what it was asked."""

    script: Any

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **_: Any) -> ChatResult:
        system = "\n".join(str(m.content) for m in messages if m.type == "system")
        user = "\n".join(str(m.content) for m in messages if m.type == "human")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.script(system, user)))])


def agent_of(system: str) -> str:
    if "plan a neural architecture search" in system:
        return "navigator"
    if "design neural network cells" in system:
        return "generator"
    return "memory"


def requested_children(user: str) -> int:
    return int(re.search(r"Propose (\d+) children", user).group(1))  # type: ignore[union-attr]


def navigator_reply(system: str, slots: dict[int, int]) -> str:
    """Answer every partition field the schema asks for; `slots` per partition (0 when absent)."""
    fields = sorted({int(p) for p in re.findall(r"partition_(\d+)", system)})
    orders = {f"partition_{p}": {"candidates": slots.get(p, 0), "strategy": "explore", "note": ""} for p in fields}
    return json.dumps({"summary": "scripted", **orders})


EDITS = [
    (5, "avg_pool_3x3"),
    (3, "skip_connect"),
    (4, "nor_conv_1x1"),
    (1, "skip_connect"),
    (2, "avg_pool_3x3"),
    (0, "skip_connect"),
    (5, "skip_connect"),
    (3, "avg_pool_3x3"),
]


def conv3_heuristic(accuracy: str, latency: str, text: str) -> str:
    """A memory reply adding one heuristic about switching any edge to nor_conv_3x3."""
    statement = {"from_op": "any", "to_op": "nor_conv_3x3", "edge": -1, "accuracy": accuracy, "latency": latency,
                 "text": text}
    return json.dumps({"actions": [{"action": "add", "target_id": 0, "heuristic": statement}]})


def sensible_script(system: str, user: str) -> str:
    """A well-behaved model: slots to partition 0 only, one-edge mutations, one heuristic."""
    agent = agent_of(system)
    if agent == "navigator":
        return navigator_reply(system, {0: 3})
    if agent == "generator":
        children = [
            {"parent": 1, "mate": 2 if i == 2 else 0, "edits": [{"edge": edge, "op": op}]}
            for i, (edge, op) in enumerate(EDITS[: requested_children(user)])
        ]
        return json.dumps({"children": children})
    return conv3_heuristic("up", "up", "3x3 convolutions buy accuracy with latency")


@pytest.fixture(autouse=True)
def benchmark_data(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWNAS_DATA", str(data_dir))


def settings(**overrides: Any) -> RunSettings:
    base = {
        "budget": 30,
        "estimator": "oracle-val",
        "device": "fpga",
        "round_size": 8,
        "max_rounds": 4,
        "llm": "scripted",
    }
    return RunSettings(**{**base, **overrides})


def run(tmp_path: Path, script: Reply, name: str = "t", **overrides: Any) -> dict[str, Any]:
    model = ScriptedChatModel(script=script)
    return run_search(settings(**overrides), name=name, out=tmp_path, chat_model=model, on_progress=lambda _: None)


def records(tmp_path: Path, name: str = "t") -> list[dict[str, Any]]:
    return list(read_trace(tmp_path / name / "trace.jsonl"))


def test_normal_run_spends_budget_on_distinct_functions(tmp_path: Path) -> None:
    summary = run(tmp_path, sensible_script)
    lines = (tmp_path / "t" / "archive.csv").read_text().splitlines()[1:]
    assert summary["budget_used"] == len(lines) <= 30
    archs = [line.split(",")[0] for line in lines]
    assert len(set(archs)) == len(archs)
    assert "true" in summary and 0 < summary["true"]["hv_b"] <= 1
    kinds = {r["kind"] for r in records(tmp_path)}
    assert {"decision", "llm_call", "tool_call"} <= kinds


def test_guardrail_gives_every_unstable_partition_a_slot(tmp_path: Path) -> None:
    run(tmp_path, sensible_script, max_rounds=1)
    guard = [r for r in records(tmp_path) if r["kind"] == "guardrail"]
    assert guard and any("partition 5 got no slot" in line for line in guard[0]["overrides"])
    archive = (tmp_path / "t" / "archive.csv").read_text().splitlines()[1:]
    round_one = {line.split(",")[1] for line in archive if line.split(",")[4] == "1"}
    assert len(round_one) > 1  # the LLM asked for partition 0 only


def test_malformed_and_off_schema_replies_do_not_stop_the_run(tmp_path: Path) -> None:
    def broken(system: str, user: str) -> str:
        return "not json" if agent_of(system) == "generator" else '{"partition_0": {"candidates": "many"}}'

    summary = run(tmp_path, broken, max_rounds=2)
    assert summary["rounds"] == 2
    failures = [r for r in records(tmp_path) if r.get("outcome") == "failed"]
    assert {r["agent"] for r in failures} >= {"generator", "navigator"}


def test_duplicates_and_partition_violations_are_rejected_with_reasons(tmp_path: Path) -> None:
    def copycat(system: str, user: str) -> str:
        if agent_of(system) == "generator":
            parent = re.search(r"\n1: \[(.*?)\]", user).group(1).split(", ")  # type: ignore[union-attr]
            same = {"parent": 1, "mate": 0, "edits": [{"edge": 0, "op": parent[0]}]}
            convs = {
                "parent": 1,
                "mate": 0,
                "edits": [{"edge": 0, "op": "nor_conv_3x3"}, {"edge": 3, "op": "nor_conv_3x3"}],
            }
            return json.dumps({"children": [[same, convs][i % 2] for i in range(requested_children(user))]})
        return sensible_script(system, user)

    run(tmp_path, copycat, max_rounds=1)
    rejected = [r for r in records(tmp_path) if r.get("agent") == "coordinator" and r.get("rejected")]
    reasons = " ".join(" ".join(v) for r in rejected for v in r["rejected"].values())
    assert "duplicate" in reasons and "outside partition" in reasons
    retries = [r for r in records(tmp_path) if r.get("agent") == "generator" and r.get("attempt", 0) > 0]
    assert retries


def test_contradicted_heuristic_is_rejected(tmp_path: Path) -> None:
    def wrong(system: str, user: str) -> str:
        if agent_of(system) == "memory":
            return conv3_heuristic("down", "down", "3x3 convolutions are free")
        return sensible_script(system, user)

    run(tmp_path, wrong, max_rounds=3)
    kb = json.loads((tmp_path / "t" / "knowledge_base.json").read_text())
    assert kb["heuristics"] == []
    assert any(change["rejected"] for change in kb["history"])


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    run(tmp_path, sensible_script, max_rounds=1)
    with pytest.raises(UsageError, match="budget: 30 -> 40"):
        run(tmp_path, sensible_script, max_rounds=1, budget=40)


class Interrupted(BaseException):
    """Stands in for a kill: raised from inside an LLM call."""


def test_killed_run_resumes_to_the_same_archive(tmp_path: Path) -> None:
    run(tmp_path / "straight", sensible_script)
    calls = {"n": 0}

    def dies_midway(system: str, user: str) -> str:
        calls["n"] += 1
        if calls["n"] == 7:
            raise Interrupted
        return sensible_script(system, user)

    with pytest.raises(Interrupted):
        run(tmp_path / "killed", dies_midway)
    assert not (tmp_path / "killed" / "t" / "archive.csv").exists()
    run(tmp_path / "killed", sensible_script)
    straight = (tmp_path / "straight" / "t" / "archive.csv").read_text()
    assert (tmp_path / "killed" / "t" / "archive.csv").read_text() == straight


def test_guardrail_scales_a_timid_plan_and_trims_a_greedy_one() -> None:
    from hwnas.agents.navigator import PartitionOrder, apply_guardrail

    timid = {0: PartitionOrder(candidates=3, strategy="explore"), 2: PartitionOrder(candidates=1, strategy="exploit")}
    final, overrides = apply_guardrail(timid, [0, 1, 2, 3, 4, 5], round_size=24, budget_left=100)
    assert sum(o.candidates for o in final.values()) == 24 and final[0].candidates == 9
    assert set(final) == {0, 1, 2, 3, 4, 5} and any("scaled" in line for line in overrides)
    final, _ = apply_guardrail({}, [0, 1, 2, 3, 4, 5], round_size=24, budget_left=3)
    assert sum(o.candidates for o in final.values()) == 3 and set(final) == {0, 1, 2}


def test_end_to_end_on_the_embedded_model(tmp_path: Path) -> None:
    """The real default LLM drives one small round: its replies parse, the Coordinator evaluates them."""
    settings = RunSettings(
        budget=10, estimator="oracle-val", device="fpga", partition_axis="none", round_size=4, max_rounds=1,
        max_retries=1, llm="embedded",
    )
    summary = run_search(settings, name="e2e", out=tmp_path, on_progress=lambda _: None)
    calls = [r for r in records(tmp_path, "e2e") if r["kind"] == "llm_call"]
    assert {r["agent"] for r in calls} >= {"navigator", "generator", "memory"}
    assert all(r["tokens_out"] > 0 for r in calls)
    assert summary["rounds"] == 1 and summary["budget_used"] >= 2
