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
from hwnas.spaces.nb201.tables import BenchmarkTables
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


def offered_moves(system: str) -> list[list[str]]:
    """The move labels each `child_<i>` field of the Generator's schema admits, in child order."""
    schema = json.loads(system.rsplit("JSON schema:\n", 1)[1])
    return [allowed(field) for name, field in schema["properties"].items() if name.startswith("child_")]


def allowed(field: dict[str, Any]) -> list[Any]:
    """The values a schema field admits (pydantic writes a one-value Literal as `const`)."""
    return field["enum"] if "enum" in field else [field["const"]]


def navigator_reply(system: str, slots: dict[int, int]) -> str:
    """Answer every partition field the schema asks for; `slots` per partition (0 when absent)."""
    fields = sorted({int(p) for p in re.findall(r"partition_(\d+)", system)})
    orders = {f"partition_{p}": {"candidates": slots.get(p, 0), "strategy": "exploit", "note": ""} for p in fields}
    return json.dumps({"summary": "scripted", **orders})


def memory_reply(system: str, user: str, *, truthful: bool) -> str:
    """Add a heuristic about the first edit the schema offers, with the directions its evidence line shows
    (or the opposite ones)."""
    defs = json.loads(system.rsplit("JSON schema:\n", 1)[1])["$defs"]
    statement = next(d["properties"] for name, d in defs.items() if name.startswith("Statement_"))
    from_op, to_op = allowed(statement["from_op"])[0], allowed(statement["to_op"])[0]
    edit = f"{from_op} -> {to_op}"
    line = next(line for line in user.splitlines() if line.startswith(edit + ":"))
    score, latency = (float(v) for v in line.split("|")[1:3])
    directions = [("up" if change > 0 else "down") for change in (score, latency)]
    if not truthful:
        directions = [{"up": "down", "down": "up"}[d] for d in directions]
    heuristic = {
        "from_op": from_op,
        "to_op": to_op,
        "edge": -1,
        "accuracy": directions[0],
        "latency": directions[1],
        "text": f"{edit} as the evidence says",
    }
    return json.dumps({"actions": [{"action": "add", "target_id": 0, "heuristic": heuristic}]})


def sensible_script(system: str, user: str) -> str:
    """A well-behaved model: slots to partition 0 only, one-edge edits (to 3x3 where offered), one true heuristic."""
    agent = agent_of(system)
    if agent == "navigator":
        return navigator_reply(system, {0: 3})
    if agent == "generator":
        picks = [
            min(options, key=lambda label: ("edge" not in label, "conv_3x3" not in label, label))
            for options in offered_moves(system)
        ]
        return json.dumps({f"child_{i}": pick for i, pick in enumerate(picks, 1)})
    return memory_reply(system, user, truthful=True)


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
        "option_labels": "ranked",  # the scripted Generator takes the smallest label: the best ranked option
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


def test_a_move_that_was_not_offered_is_refused_and_repaired(tmp_path: Path) -> None:
    asked: list[str] = []

    def off_menu(system: str, user: str) -> str:
        if agent_of(system) == "generator" and "That reply is invalid" not in user:
            asked.append(user)
            return json.dumps({f"child_{i}": "1: edge 9 -> conv" for i in range(1, len(offered_moves(system)) + 1)})
        return sensible_script(system, user)

    summary = run(tmp_path, off_menu, max_rounds=1)
    invalid = [r for r in records(tmp_path) if r["kind"] == "llm_call" and r["agent"] == "generator" and r["error"]]
    assert asked and invalid and "child_1: Input should be" in invalid[0]["error"]
    assert summary["budget_used"] > 12  # the repaired replies were evaluated


def test_offered_moves_are_legal_new_and_distinct(tables: BenchmarkTables) -> None:
    import numpy as np

    from hwnas.partition import make_partitioning
    from hwnas.registry import make_estimator, make_latency_model
    from hwnas.spaces.nb201.space import NB201
    from hwnas.tools.coordinator import Coordinator
    from hwnas.tools.surrogate import make_surrogate

    parts = make_partitioning(NB201, "conv3", bins=6, dataset="cifar10", tables=tables)
    coordinator = Coordinator(
        make_estimator("oracle-val", dataset="cifar10", tables=tables),
        make_latency_model("fpga", dataset="cifar10", tables=tables),
        parts,
        make_surrogate("gp", space=NB201, dataset="cifar10"),
        candidates="moves",
        budget=120,
    )
    parent = NB201.parse("|none~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|")
    dead_edge_twin = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
    assert NB201.parse(dead_edge_twin).canonical_key == parent.canonical_key
    coordinator.reset([])
    coordinator.remember([str(parent)])
    assert coordinator.check_validity(dead_edge_twin, 0).startswith("duplicate")
    assert coordinator.check_validity(str(parent).replace("none~0", "nor_conv_3x3~0"), 0).startswith("outside")
    first = "|nor_conv_1x1~0|+|avg_pool_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"
    second = "|avg_pool_3x3~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_1x1~2|"
    assert parts.assign(NB201.parse(first)) == parts.assign(NB201.parse(second)) == 1
    offered = {}
    for strategy in ("explore", "exploit", "repair", "mixed"):
        moves = coordinator.legal_moves([first, second], 1, strategy, 4, np.random.default_rng(0))
        children = [NB201.parse(m["arch"]) for m in moves]
        assert moves and all(parts.assign(c) == 1 and c.is_valid for c in children)
        assert len({c.canonical_key for c in children}) == len(children)
        assert parent.canonical_key not in {c.canonical_key for c in children}
        offered[strategy] = {family_of(m["rationale"]) for m in moves}
    assert offered == {
        "explore": {"sample", "crossover", "swap"},
        "exploit": {"edit", "swap"},
        "repair": {"crossover", "edit"},
        "mixed": {"edit", "swap", "crossover", "sample"},
    }
    short = coordinator.legal_moves([first], 1, "repair", 30, np.random.default_rng(0))  # < 30 edits, no pairs
    assert {family_of(m["rationale"]) for m in short} == {"edit", "swap", "sample"}


def family_of(label: str) -> str:
    """The move family of a label: `2: edge 3 -> op`, `2: swap edges 1,4`, `1 x 3 (2)`, `new 4`."""
    if label.startswith("new "):
        return "sample"
    return "crossover" if " x " in label else label.split()[1].replace("edge", "edit")


def test_contradicted_heuristic_is_rejected(tmp_path: Path) -> None:
    def wrong(system: str, user: str) -> str:
        if agent_of(system) == "memory":
            return memory_reply(system, user, truthful=False)
        return sensible_script(system, user)

    run(tmp_path, wrong, max_rounds=3)
    kb = json.loads((tmp_path / "t" / "knowledge_base.json").read_text())
    assert kb["heuristics"] == []
    assert any(change["rejected"] for change in kb["history"])


def test_supported_heuristic_is_kept_and_reaches_the_generator_prompt(tmp_path: Path) -> None:
    prompts: list[str] = []

    def watched(system: str, user: str) -> str:
        if agent_of(system) == "generator":
            prompts.append(user)
        return sensible_script(system, user)

    run(tmp_path, watched, max_rounds=3)
    kb = json.loads((tmp_path / "t" / "knowledge_base.json").read_text())
    assert kb["heuristics"] and all(h["evidence"] >= 3 for h in kb["heuristics"])
    assert any("[1] " in prompt for prompt in prompts) and "[1] " not in prompts[0]


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
    assert sum(o.candidates for o in final.values()) == 24  # 3 + 5 floors of 2 = 13 asked, scaled up
    assert final[0].candidates == 5 and min(o.candidates for o in final.values()) == 3
    assert "partition 2 got 1 slot(s): raised to 2" in overrides
    assert set(final) == {0, 1, 2, 3, 4, 5} and any("scaled" in line for line in overrides)
    final, _ = apply_guardrail({}, [0, 1, 2, 3, 4, 5], round_size=24, budget_left=3)
    assert sum(o.candidates for o in final.values()) == 3 and set(final) == {0, 1, 2}


def test_end_to_end_on_the_embedded_model(tmp_path: Path) -> None:
    """The real default LLM drives one small round: its replies parse, the Coordinator evaluates them."""
    settings = RunSettings(
        budget=10,
        estimator="oracle-val",
        device="fpga",
        partition_axis="none",
        round_size=4,
        max_rounds=1,
        max_retries=1,
        llm="embedded",
    )
    summary = run_search(settings, name="e2e", out=tmp_path, on_progress=lambda _: None)
    trace = records(tmp_path, "e2e")
    calls = [r for r in trace if r["kind"] == "llm_call"]
    assert {r["agent"] for r in calls} >= {"navigator", "generator"}
    assert all(r["tokens_out"] > 0 and 0 < r["model_s"] <= r["wall_s"] for r in calls)
    # The memory agent records its round (what it does on the real model with evidence in hand is
    # tests/test_llm_embedded.py's memory test: ten evaluations rarely show an edit three times).
    memory = [r for r in trace if r["kind"] == "decision" and r["agent"] == "memory"]
    assert {r["round"] for r in memory} == {1} and "proposed" in memory[-1]
    assert summary["rounds"] == 1 and summary["budget_used"] >= 2


def test_a_child_beyond_the_first_frame_counts_as_progress() -> None:
    from hwnas.graph.stop import frame_for, front_hypervolume, is_stable

    first = [{"score": 0.3, "latency_ms": 2.0}, {"score": 0.5, "latency_ms": 3.0}]
    records: list[Any] = [*first, {"score": 0.9, "latency_ms": 2.5}, {"score": 0.2, "latency_ms": 4.0}]
    beyond = [*first, {"score": 1.5, "latency_ms": 2.5}]
    assert front_hypervolume(records[:3], frame_for(first)) == front_hypervolume(beyond, frame_for(first))  # clipped
    frame = frame_for(records)  # what the stop test uses: the latest frame, for the whole history
    history = [front_hypervolume(records[:count], frame) for count in (2, 3, 4)]
    assert history[1] > 1.2 * history[0] and history[2] == history[1]
    assert not is_stable(history, eps=0.01, window=2) and is_stable([*history, history[-1]], eps=0.01, window=2)


def test_parents_span_the_partition_front_from_fastest_to_best() -> None:
    from hwnas.agents.navigator import select_parents

    front = [{"arch": f"a{i}", "partition": 0, "score": 0.1 * i, "latency_ms": float(i)} for i in range(1, 8)]
    dominated = [{"arch": "slow", "partition": 0, "score": 0.05, "latency_ms": 9.0}]
    parents = select_parents([*front, *dominated], 0, 4)  # type: ignore[list-item]
    assert [p["arch"] for p in parents] == ["a7", "a5", "a3", "a1"]
    assert [p["arch"] for p in select_parents([*front[:2], *dominated], 0, 4)] == ["a2", "a1", "slow"]  # type: ignore[list-item]


def first_option_script(system: str, user: str) -> str:
    """Like `sensible_script`, but the Generator takes the first option each child is offered (names aside)."""
    if agent_of(system) == "generator":
        return json.dumps({f"child_{i}": options[0] for i, options in enumerate(offered_moves(system), 1)})
    return sensible_script(system, user)


def test_blind_prompts_hide_the_ops_and_replies_map_back_to_the_same_run(tmp_path: Path) -> None:
    from hwnas.llm.blind import ENGLISH_PHRASES
    from hwnas.spaces.nb201.space import NB201

    asked: list[str] = []

    def watched(system: str, user: str) -> str:
        asked.append(system + "\n" + user)
        return first_option_script(system, user)

    run(tmp_path, watched, name="blind", max_rounds=3, blind_prompts=True)
    run(tmp_path, first_option_script, name="plain", max_rounds=3)
    text = "\n".join(asked)
    for phrase in ENGLISH_PHRASES:
        text = text.replace(phrase, "")
    names = {*NB201.ops, *NB201.short_ops.values(), "NAS-Bench", "NB201", "conv", "3x3", "1x1"}
    assert not [name for name in names if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}", text)]
    assert re.search(r"\[1\] op[A-E] -> op[A-E] on any edge", text), "the kept heuristic reaches prompts, renamed"

    # The memory's reply named hidden ops; the knowledge base holds the real ones, and the run is the same.
    blind_kb = json.loads((tmp_path / "blind" / "knowledge_base.json").read_text())
    assert blind_kb["heuristics"] and all(h["from_op"] in NB201.ops for h in blind_kb["heuristics"])
    assert blind_kb == json.loads((tmp_path / "plain" / "knowledge_base.json").read_text())
    archive = (tmp_path / "blind" / "archive.csv").read_text()
    assert archive == (tmp_path / "plain" / "archive.csv").read_text()


def test_blind_prompts_with_the_random_model_evaluate_valid_architectures(tmp_path: Path) -> None:
    from hwnas.spaces.nb201.space import NB201

    summary = run_search(
        settings(llm="random", blind_prompts=True, budget=40), name="r", out=tmp_path, on_progress=lambda _: None
    )
    archs = [line.split(",")[0] for line in (tmp_path / "r" / "archive.csv").read_text().splitlines()[1:]]
    assert summary["budget_used"] == len(archs) == 40 and len(set(archs)) == 40
    assert all(NB201.parse(a).is_valid for a in archs)
    calls = [r for r in records(tmp_path, "r") if r["kind"] == "llm_call"]
    assert calls and all("nor_conv_3x3" not in json.dumps(r["request"]) for r in calls)


def test_a_setting_missing_from_an_older_run_is_compared_at_its_value_before_it_existed() -> None:
    saved = {k: v for k, v in RunSettings().as_dict().items() if k not in ("option_labels", "space")}
    # Runs before `option_labels` had ranked labels: resuming one with today's default would change it.
    assert RunSettings().differences(saved) == ["option_labels: 'ranked' -> 'shuffled'"]
    assert RunSettings(option_labels="ranked").differences(saved) == []  # `space` was nb201 all along
