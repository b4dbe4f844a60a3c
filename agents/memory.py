"""The heuristic-memory agent: turns the round's evidence into knowledge-base updates.

It reads single-edge edit evidence (see `hwnas.tools.evidence`) and the current heuristics, and
proposes to add, revise or retire heuristics. A heuristic is a checkable statement: an edit (from op,
to op, on any edge), its direction of effect on accuracy and on latency, plus a sentence. Its schema
offers only the edits observed often enough to be checked (no call is made before there are any). The
Coordinator keeps only what the evidence supports, re-checks kept heuristics every round, and the
knowledge base is versioned per round; the Generator's prompt is rebuilt from it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from hwnas.graph.context import Context
from hwnas.graph.state import SearchState
from hwnas.llm import LLMError
from hwnas.prompts import render
from hwnas.tools.evidence import edit_effects, summarise
from hwnas.tools.knowledge import KnowledgeUpdate, apply_update, heuristic_lines, supported_edits, update_schema

AGENT = "memory"


def memory_messages(state: SearchState, ctx: Context) -> list[tuple[str, str]]:
    """The system and user messages for one memory call."""
    evidence = summarise(edit_effects(ctx.space, state.get("archive", [])))
    noun = ctx.space.slot_noun
    user = render(
        "memory",
        space=ctx.space.describe(),
        noun=noun,
        dataset=ctx.settings.dataset,
        device=ctx.settings.device_text,
        latency=ctx.settings.latency_unit,
        evidence="\n".join(evidence) or f"(no single-{noun} edits observed yet)",
        knowledge="\n".join(heuristic_lines(state.get("knowledge", {}), noun)) or "(empty)",
    )
    return [("system", "You distil design rules from experiments. Answer in JSON."), ("user", user)]


def memory_node(state: SearchState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Propose knowledge-base updates and keep those the Coordinator finds supported."""
    ctx = runtime.context
    round_number = state.get("round", 0)
    knowledge: dict[str, Any] = state.get("knowledge", {"version": 0, "heuristics": [], "history": []})
    if not ctx.settings.knowledge_on:
        return {}
    edits = supported_edits(edit_effects(ctx.space, state.get("archive", [])))
    update = KnowledgeUpdate()
    if not edits:
        ctx.trace.write("decision", agent=AGENT, round=round_number, outcome="no edit has enough evidence yet")
    else:
        try:
            update = ctx.llm.structured(
                agent=AGENT,
                messages=memory_messages(state, ctx),
                schema=update_schema(
                    [h["id"] for h in knowledge.get("heuristics", [])],
                    edits,
                    np.random.default_rng([ctx.settings.seed, round_number]),
                ),
                context={"round": round_number},
            )
        except LLMError as error:
            ctx.trace.write("decision", agent=AGENT, round=round_number, outcome="failed", error=str(error))
    new_knowledge, changes = apply_update(knowledge, update, state.get("archive", []), round_number, ctx.space)
    ctx.trace.write("decision", agent=AGENT, round=round_number, proposed=update.model_dump(), **changes)
    return {"knowledge": new_knowledge}
