"""The embedded SmolLM2-135M really loads and answers schema-valid JSON (small replies, a few seconds)."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from hwnas.llm import make_llm
from hwnas.llm.embedded import embedded_model_path, load_model
from hwnas.spaces.nb201.space import NB201, OPS, OpName
from hwnas.trace import TraceWriter, read_trace


class Cell(BaseModel):
    ops: list[OpName] = Field(min_length=6, max_length=6)
    rationale: str = Field(max_length=40)


class Pick(BaseModel):
    partition: Literal[0, 1, 2]
    mode: Literal["explore", "exploit"]


MESSAGES = [("system", "You design cells for a neural network."), ("user", "Propose one cell.")]


def test_embedded_model_returns_a_schema_valid_reply_and_records_it(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    llm = make_llm("embedded", trace=TraceWriter(trace), max_tokens=160)
    assert (llm.provider, llm.model) == ("embedded", "SmolLM2-135M-Instruct.Q4_1")
    cell = llm.structured(agent="generator", messages=MESSAGES, schema=Cell, context={"round": 1})
    assert len(cell.ops) == 6 and set(cell.ops) <= set(OPS)
    [record] = [r for r in read_trace(trace) if r["kind"] == "llm_call"]
    assert record["provider"] == "embedded" and record["cost_usd"] == 0.0 and record["round"] == 1
    assert record["tokens_in"] > 50 and 10 < record["tokens_out"] <= 160
    assert record["parsed"] == cell.model_dump() and record["request"]["params"]["max_tokens"] == 160


def test_the_same_request_gets_the_same_reply_and_the_model_loads_once() -> None:
    first, second = make_llm("embedded", max_tokens=40), make_llm("embedded", max_tokens=40)
    assert load_model(embedded_model_path()).llama is first.chat_model.loaded().llama  # type: ignore[union-attr]
    ask = [("user", "Which partition next, and explore or exploit?")]
    assert first.structured(agent="navigator", messages=ask, schema=Pick) == second.structured(
        agent="navigator", messages=ask, schema=Pick
    )


def test_parallel_branches_share_the_model_safely(tmp_path: Path) -> None:
    llm = make_llm("embedded", max_tokens=40, trace=TraceWriter(tmp_path / "trace.jsonl"))
    results: list[Pick] = []
    errors: list[BaseException] = []

    def branch(partition: int) -> None:
        try:
            results.append(
                llm.structured(agent="navigator", messages=[("user", f"Branch {partition}: pick.")], schema=Pick)
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=branch, args=(p,)) for p in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 3 and llm.usage.calls == 3
    calls = [r for r in read_trace(tmp_path / "trace.jsonl") if r["kind"] == "llm_call"]
    assert all(0 < r["model_s"] <= r["wall_s"] for r in calls)
    # One model, one call at a time: the model's working times add up to no more than the time from the
    # first request to the last record (concurrent use would add up to more). Records are written after
    # their call ends, so `ts` only overstates the span; no threshold depends on the machine's speed.
    elapsed = max(r["ts"] for r in calls) - min(r["ts"] - r["wall_s"] for r in calls)
    assert sum(r["model_s"] for r in calls) <= elapsed


def test_embedded_model_answers_the_memory_agent_and_every_action_is_judged(tmp_path: Path, tables: Any) -> None:
    """The memory agent's narrowed schema on the real model: each proposed action is kept or refused with a reason."""
    from hwnas.agents.memory import memory_messages
    from hwnas.tools.evidence import edit_effects
    from hwnas.tools.knowledge import apply_update, supported_edits, update_schema

    parent = NB201.make(("skip_connect",) * 6)
    children = [parent.with_op(edge, "nor_conv_3x3") for edge in range(4)]  # four single-edge edits
    rows = tables.rows([parent, *children])
    archive = [
        {"arch": str(a), "score": float(tables.accuracy("cifar10", "val")[row]),
         "latency_ms": float(tables.latency_ms("cifar10", "fpga")[row])}
        for a, row in zip([parent, *children], rows, strict=True)
    ]  # fmt: skip
    edits = supported_edits(edit_effects(NB201, archive))
    assert ("skip_connect", "nor_conv_3x3") in edits
    from hwnas.graph.context import RunSettings

    ctx = SimpleNamespace(space=NB201, settings=RunSettings(dataset="cifar10", device="fpga"))
    llm = make_llm("embedded", max_tokens=200, trace=TraceWriter(tmp_path / "trace.jsonl"))
    update = llm.structured(
        agent="memory",
        messages=memory_messages({"archive": archive, "knowledge": {}}, ctx),  # type: ignore[arg-type]
        schema=update_schema([], edits, np.random.default_rng(0)),
    )
    assert update.actions and all(a.action == "add" for a in update.actions)
    assert all((a.heuristic.from_op, a.heuristic.to_op) in edits for a in update.actions)
    knowledge, changes = apply_update({}, update, archive, 1, NB201)
    assert len(changes["added"]) + len(changes["rejected"]) == len(update.actions)
    assert all(r["reason"] for r in changes["rejected"])
    assert [h["id"] for h in knowledge["heuristics"]] == [h["id"] for h in changes["added"]]
