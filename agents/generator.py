"""The Generator agent (stateless): proposes children of a partition's parents by mutation and crossover.

It sees only its `PartitionTask`: the Navigator's strategy for one partition, the knowledge base's
heuristics, the partition's definition and a few parents with their scores. It answers with edits
(edge index, new op) on a numbered parent, optionally crossed with a second parent, so even a small
model can only express legal children; the Coordinator judges them afterwards.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, create_model

from hwnas.graph.context import Context
from hwnas.graph.state import PartitionTask, Proposal
from hwnas.llm import LLMError
from hwnas.llm.schemas import one_of
from hwnas.prompts import render
from hwnas.space import NUM_EDGES, OPS, Architecture, OpName

AGENT = "generator"


OVERSAMPLE = 2
"""Children asked for per open slot: the Coordinator keeps the first acceptable ones."""
MAX_CHILDREN = 8


class EdgeEdit(BaseModel):
    """Put `op` on edge `edge` (0..5, in canonical-string order)."""

    edge: Literal[0, 1, 2, 3, 4, 5]
    op: OpName


class Child(BaseModel):
    """One proposed child: a parent (1-based), a crossover mate (0 = none) and the edits to apply."""

    parent: int
    mate: int
    edits: list[EdgeEdit]


class GeneratorReply(BaseModel):
    """The Generator's structured answer."""

    children: list[Child]


def reply_schema(parents: int, children: int, rng: np.random.Generator) -> type[GeneratorReply]:
    """`GeneratorReply` narrowed to this task: parent numbers that exist, exactly `children` children.

    Constrained decoding then cannot name a missing parent, omit the edits, or return a different
    number of children; a small model needs that, a large one loses nothing. The edge and op choices
    are listed in a shuffled order per call: a small model leans towards the first option it is shown,
    and a fixed order would turn that lean into a search bias (measured: mostly `none` on edge 0).
    """
    edit = create_model(
        "EdgeEdit",
        __base__=EdgeEdit,
        edge=(one_of([int(e) for e in rng.permutation(NUM_EDGES)]), ...),
        op=(one_of(rng.permutation(OPS).tolist()), ...),
    )
    child = create_model(
        "Child",
        __base__=Child,
        parent=(one_of(range(1, parents + 1)), ...),
        mate=(one_of(range(parents + 1)), ...),
        edits=(list[edit], Field(min_length=1, max_length=2)),  # type: ignore[valid-type]
    )
    return create_model(
        "GeneratorReply",
        __base__=GeneratorReply,
        children=(list[child], Field(min_length=children, max_length=children)),  # type: ignore[valid-type]
    )


def describe_arch(arch: Architecture) -> str:
    """Edges 0..5 as a compact list for prompts: `[nor_conv_3x3, none, ...]`."""
    return "[" + ", ".join(arch.ops) + "]"


def build_children(task: PartitionTask, reply: GeneratorReply, seed: int) -> list[Proposal]:
    """Turn the reply's edits into architectures; the crossover mask is seeded by round and partition."""
    parents = [Architecture.parse(p["arch"]) for p in task["parents"]]
    proposals: list[Proposal] = []
    for number, child in enumerate(reply.children):
        base = parents[child.parent - 1]
        lineage = [str(base)]
        operator = "mutation"
        if child.mate and child.mate != child.parent:
            other = parents[child.mate - 1]
            rng = np.random.default_rng([seed, task["round"], task["partition"], task["attempt"], number])
            base = base.crossover(other, rng)
            lineage.append(str(other))
            operator = "crossover"
        ops = list(base.ops)
        for edit in child.edits:
            ops[edit.edge] = edit.op
        proposals.append(
            Proposal(
                partition=task["partition"],
                arch=str(Architecture(tuple(ops))),
                operator=operator,
                parents=lineage,
                rationale=", ".join(f"edge {e.edge} -> {e.op}" for e in child.edits),
            )
        )
    return proposals


def generator_messages(task: PartitionTask, partition_text: str) -> list[tuple[str, str]]:
    """The system and user messages for one Generator call."""
    parents = "\n".join(
        f"{i}: {describe_arch(Architecture.parse(p['arch']))} | {p['score']:.3f} | {p['latency_ms']:.3f}"
        for i, p in enumerate(task["parents"], start=1)
    )
    rejections = (
        "\nYour previous children were rejected:\n" + "\n".join(f"- {r}" for r in task["rejections"]) + "\n"
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
        children=min(MAX_CHILDREN, OVERSAMPLE * task["slots"]),
        rejections=rejections,
    )
    return [("system", "You design neural network cells. Answer in JSON."), ("user", user)]


def generator_node(task: PartitionTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """One Generator branch (reached through `Send`): returns its proposals for the Coordinator."""
    ctx = runtime.context
    partition_text = ctx.partitioning.partitions[task["partition"]].description
    trace_fields = {"round": task["round"], "partition": task["partition"], "attempt": task["attempt"]}
    try:
        reply = ctx.llm.structured(
            agent=AGENT,
            messages=generator_messages(task, partition_text),
            schema=reply_schema(
                len(task["parents"]),
                min(MAX_CHILDREN, OVERSAMPLE * task["slots"]),
                np.random.default_rng([ctx.settings.seed, task["round"], task["partition"], task["attempt"]]),
            ),
            context=trace_fields,
        )
    except LLMError as error:
        ctx.trace.write("decision", agent=AGENT, outcome="failed", error=str(error), **trace_fields)
        return {"proposals": []}
    proposals = build_children(task, reply, ctx.settings.seed)
    ctx.trace.write(
        "decision",
        agent=AGENT,
        proposals=[{"arch": p["arch"], "operator": p["operator"], "rationale": p["rationale"]} for p in proposals],
        **trace_fields,
    )
    return {"proposals": proposals}
