"""The Generator agent (stateless): picks which of the Coordinator's ranked candidates to evaluate.

It sees only its `PartitionTask`: the Navigator's strategy for one partition, the knowledge base's
heuristics, the partition's definition and the Coordinator's options, each with the surrogate's
predicted score and uncertainty, its latency and its expected gain to the front (see
`Coordinator.offer`). The reply names one option per child, so even a small model under constrained
decoding can only write valid, in-partition, new children.

The `generator_policy` setting replaces the model's choice by the first option of each child's list
(`top`) or a random one (`random`), the ablations that show what the model's choices add.

With accuracy as the only objective the prompt is `generator_accuracy`: options show the prediction and
the expected improvement over the best score, and nothing of latency.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime
from pydantic import BaseModel, create_model

from hwnas.core.space import SearchSpace
from hwnas.graph.context import Context
from hwnas.graph.state import Option, PartitionTask, Proposal
from hwnas.llm import LLMError
from hwnas.llm.schemas import one_of
from hwnas.prompts import render

AGENT = "generator"

MAX_CHILDREN = 8
"""Children per reply; a partition with more open slots gets the rest through the retry path."""


class GeneratorReply(BaseModel):
    """The Generator's structured answer: fields `child_1`, `child_2`, ..., each one move label."""

    def picks(self) -> list[str]:
        """The chosen move labels in child order."""
        return [value for name, value in self if name.startswith("child_")]


def deal_options(labels: list[str], children: int) -> list[list[str]]:
    """Deal the option labels, best first, into `children` disjoint lists: child i gets ranks i, i+k, ...

    Disjoint lists make the children distinct by construction (a small model repeats itself), and each
    list holds one option of every tier of the ranking, so no child is left with only poor choices.
    """
    return [labels[i::children] for i in range(children)]


def reply_schema(options: list[list[str]]) -> type[GeneratorReply]:
    """`GeneratorReply` with one field per child whose value must be one of that child's options."""
    fields: dict[str, Any] = {f"child_{i}": (one_of(choices), ...) for i, choices in enumerate(options, start=1)}
    return create_model("GeneratorReply", __base__=GeneratorReply, **fields)


def describe_option(option: Option, space: SearchSpace, *, latency: bool = True) -> str:
    """One option line: `o1: [c3x3 none skip c1x1 pool c3x3] | 0.712±0.031 | 1.23 ms | gain 4.1`.

    The ops are the space's short names, slot by slot: prompt tokens cost time on the embedded model.
    Without `latency` (accuracy alone) the latency column is left out; on a fleet it holds each device's
    latency (`1.23/4.56 ms`).
    """
    ops = " ".join(space.short_ops[op] for op in space.parse(option["arch"]).ops)
    if not latency:
        return (
            f"{option['rationale']}: [{ops}] | {option['predicted']:.3f}±{option['uncertainty']:.3f} | "
            f"gain {option['gain']:.2g}"
        )
    return (
        f"{option['rationale']}: [{ops}] | "
        f"{option['predicted']:.3f}±{option['uncertainty']:.3f} | "
        f"{'/'.join(f'{v:.3g}' for v in option.get('latencies') or [option['latency_ms']])} ms | "
        f"gain {option['gain']:.2g}"
    )


def generator_messages(
    task: PartitionTask,
    partition_text: str,
    children: int,
    space: SearchSpace,
    *,
    latency: bool = True,
    latency_unit: str = "latency ms",
) -> list[tuple[str, str]]:
    """The system and user messages for one Generator call (fixed text first, so llama.cpp reuses it).

    Without `latency` (accuracy alone) the prompt is `generator_accuracy`. `latency_unit` heads the latency
    column (`RunSettings.latency_unit`: on a fleet it names the devices).
    """
    rejections = (
        "Your previous children were rejected:\n" + "\n".join(f"- {r}" for r in task["rejections"]) + "\n"
        if task["rejections"]
        else ""
    )
    user = render(
        "generator" if latency else "generator_accuracy",
        space=space.describe(latency=latency),
        slots=f"{space.slot_noun}s 0..{len(space.slots) - 1}",
        partition=partition_text,
        strategy=task["strategy"],
        note=task["note"],
        heuristics="\n".join(task["heuristics"]) or "(none yet)",
        **({"latency": latency_unit} if latency else {}),
        options="\n".join(describe_option(o, space, latency=latency) for o in task["options"]),
        children=children,
        rejections=rejections,
    )
    return [("system", "You design neural network cells. Answer in JSON."), ("user", user)]


def generator_node(task: PartitionTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """One Generator branch (reached through `Send`): returns its chosen options for the Coordinator."""
    ctx = runtime.context
    trace_fields = {"round": task["round"], "partition": task["partition"], "attempt": task["attempt"]}
    options = {option["rationale"]: option for option in task["options"]}
    children = min(MAX_CHILDREN, task["slots"], len(options))
    if children == 0:
        ctx.trace.write("decision", agent=AGENT, outcome="no legal option", **trace_fields)
        return {"proposals": []}
    lists = deal_options(list(options), children)
    policy = ctx.settings.generator_policy
    if policy == "top":
        picks = [choices[0] for choices in lists]
    elif policy == "random":
        rng = np.random.default_rng([ctx.settings.seed, task["round"], task["partition"], task["attempt"], 1])
        picks = [choices[int(rng.integers(len(choices)))] for choices in lists]
    else:
        partition_text = ctx.partitioning.partitions[task["partition"]].description
        try:
            reply = ctx.llm.structured(
                agent=AGENT,
                messages=generator_messages(
                    task,
                    partition_text,
                    children,
                    ctx.space,
                    latency=not ctx.settings.accuracy_only,
                    latency_unit=ctx.settings.latency_unit,
                ),
                schema=reply_schema(lists),
                context=trace_fields,
            )
        except LLMError as error:
            ctx.trace.write("decision", agent=AGENT, outcome="failed", error=str(error), **trace_fields)
            return {"proposals": []}
        picks = reply.picks()
    proposals: list[Proposal] = [options[label] for label in picks]
    ctx.trace.write(
        "decision",
        agent=AGENT,
        policy=policy,
        options_offered=len(options),
        picks=[
            {"option": label, "arch": options[label]["arch"], "gain": round(options[label]["gain"], 3),
             "rank_in_list": lists[i].index(label) + 1}
            for i, label in enumerate(picks)
        ],
        **trace_fields,
    )  # fmt: skip
    return {"proposals": proposals}
