"""The Generator agent (stateless): picks children of a partition's parents by mutation and crossover.

It sees only its `PartitionTask`: the Navigator's strategy for one partition, the knowledge base's
heuristics, the partition's definition and a few parents with their scores. The Coordinator has listed
the legal moves from those parents (one-edge edits, two-edge swaps, crossovers; see
`hwnas.tools.moves`); the Generator's reply names one move per child, so even a small model under
constrained decoding can only write valid, in-partition, new children.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime
from pydantic import BaseModel, create_model

from hwnas.graph.context import Context
from hwnas.graph.state import PartitionTask, Proposal
from hwnas.llm import LLMError
from hwnas.llm.schemas import one_of
from hwnas.prompts import render
from hwnas.space import Architecture

AGENT = "generator"

MAX_CHILDREN = 8
"""Children per reply; a partition with more open slots gets the rest through the retry path."""


class GeneratorReply(BaseModel):
    """The Generator's structured answer: fields `child_1`, `child_2`, ..., each one move label."""

    def picks(self) -> list[str]:
        """The chosen move labels in child order."""
        return [value for name, value in self if name.startswith("child_")]


def move_options(labels: list[str], children: int, rng: np.random.Generator) -> list[list[str]]:
    """Deal the move labels, shuffled, into `children` disjoint option lists, one per child.

    Disjoint lists make the children distinct by construction (a small model repeats itself); the
    shuffle keeps a small model's lean towards the first option listed from becoming a search bias.
    """
    shuffled = [labels[i] for i in rng.permutation(len(labels))]
    return [shuffled[i::children] for i in range(children)]


def reply_schema(options: list[list[str]]) -> type[GeneratorReply]:
    """`GeneratorReply` with one field per child whose value must be one of that child's options."""
    fields: dict[str, Any] = {f"child_{i}": (one_of(choices), ...) for i, choices in enumerate(options, start=1)}
    return create_model("GeneratorReply", __base__=GeneratorReply, **fields)


def describe_arch(arch: Architecture) -> str:
    """Edges 0..5 as a compact list for prompts: `[nor_conv_3x3, none, ...]`."""
    return "[" + ", ".join(arch.ops) + "]"


def generator_messages(task: PartitionTask, partition_text: str, children: int) -> list[tuple[str, str]]:
    """The system and user messages for one Generator call (fixed text first, so llama.cpp reuses it)."""
    parents = "\n".join(
        f"{i}: {describe_arch(Architecture.parse(p['arch']))} | {p['score']:.3f} | {p['latency_ms']:.3f}"
        for i, p in enumerate(task["parents"], start=1)
    )
    rejections = (
        "Your previous children were rejected:\n" + "\n".join(f"- {r}" for r in task["rejections"]) + "\n"
        if task["rejections"]
        else ""
    )
    user = render(
        "generator",
        space=render("space"),
        partition=partition_text,
        strategy=task["strategy"],
        note=task["note"],
        heuristics="\n".join(task["heuristics"]) or "(none yet)",
        parents=parents,
        children=children,
        rejections=rejections,
    )
    return [("system", "You design neural network cells. Answer in JSON."), ("user", user)]


def generator_node(task: PartitionTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """One Generator branch (reached through `Send`): returns its chosen moves for the Coordinator."""
    ctx = runtime.context
    trace_fields = {"round": task["round"], "partition": task["partition"], "attempt": task["attempt"]}
    moves = {move["rationale"]: move for move in task["moves"]}
    children = min(MAX_CHILDREN, task["slots"], len(moves))
    if children == 0:
        ctx.trace.write("decision", agent=AGENT, outcome="no legal move", **trace_fields)
        return {"proposals": []}
    rng = np.random.default_rng([ctx.settings.seed, task["round"], task["partition"], task["attempt"], 1])
    partition_text = ctx.partitioning.partitions[task["partition"]].description
    try:
        reply = ctx.llm.structured(
            agent=AGENT,
            messages=generator_messages(task, partition_text, children),
            schema=reply_schema(move_options(list(moves), children, rng)),
            context=trace_fields,
        )
    except LLMError as error:
        ctx.trace.write("decision", agent=AGENT, outcome="failed", error=str(error), **trace_fields)
        return {"proposals": []}
    proposals: list[Proposal] = [moves[label] for label in reply.picks()]
    ctx.trace.write(
        "decision",
        agent=AGENT,
        moves_offered=len(moves),
        proposals=[{"arch": p["arch"], "operator": p["operator"], "rationale": p["rationale"]} for p in proposals],
        **trace_fields,
    )
    return {"proposals": proposals}
