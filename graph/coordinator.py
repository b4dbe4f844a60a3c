"""The Coordinator's graph nodes: the random start, judging a round's proposals, and routing retries.

The nodes use the Coordinator's tools (`hwnas.tools.coordinator`): validity, latency lookup, the
estimator through the run's budgeted evaluator, and the surrogate. Each node first hands the state's
archive back to the Coordinator (`Coordinator.reset`), since the checkpointed state is the truth.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from langgraph.runtime import Runtime
from langgraph.types import Send

from hwnas.graph.context import Context
from hwnas.graph.state import CLEAR, Evaluated, PartitionTask, Proposal, SearchState

AGENT = "coordinator"


def knowledge_in_use(state: SearchState, ctx: Context) -> list[dict[str, Any]]:
    """The kept heuristics, or none in the ablation without the knowledge base."""
    return list(state.get("knowledge", {}).get("heuristics", [])) if ctx.settings.knowledge_on else []


def move_rng(seed: int, task: PartitionTask) -> np.random.Generator:
    """The stream behind a task's crossover masks and sampled members: one per run, round, partition, attempt."""
    return np.random.default_rng([seed, task["round"], task["partition"], task["attempt"]])


def budget_left(state: SearchState, ctx: Context) -> int:
    """Evaluations the run may still spend: the budgeted evaluator's, holding the state's archive."""
    ctx.coordinator.reset(state.get("archive", []))
    return ctx.coordinator.evaluator.remaining


def evaluate(ctx: Context, proposals: list[Proposal], round_number: int) -> list[Evaluated]:
    """Cost and score accepted proposals through the budgeted evaluator, tracing the tool call."""
    if not proposals:
        return []
    archs = [p["arch"] for p in proposals]
    records = ctx.coordinator.evaluate([ctx.space.parse(a) for a in archs])
    ctx.trace.write(
        "tool_call",
        agent=AGENT,
        round=round_number,
        tool="lookup_latency+score_proxy",
        results=[
            {"arch": a, "latency_ms": r.latency_ms, **({"latencies": list(r.latencies)} if r.latencies else {}),
             "score": r.score}
            for a, r in zip(archs, records, strict=True)
        ],
    )  # fmt: skip
    evaluated = []
    for p, record in zip(proposals, records, strict=True):
        entry = Evaluated(
            arch=p["arch"],
            key=record.arch.canonical_key,
            partition=p["partition"],
            score=record.score,
            latency_ms=record.latency_ms,
            round=round_number,
            operator=p["operator"],
            parents=p["parents"],
            rationale=p["rationale"],
        )
        if record.latencies:
            entry["latencies"] = list(record.latencies)
        evaluated.append(entry)
    return evaluated


def initialise_node(state: SearchState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Round 0: evaluate a few random architectures per partition, so every Generator has parents."""
    ctx = runtime.context
    settings = ctx.settings
    per_partition = min(settings.init_per_partition, settings.budget // len(ctx.partitioning.partitions))
    ctx.coordinator.reset(state.get("archive", []))
    proposals: list[Proposal] = []
    for part in ctx.partitioning.partitions:
        rng = np.random.default_rng([settings.seed, part.index])
        for _ in range(100 * per_partition):
            if sum(p["partition"] == part.index for p in proposals) == per_partition:
                break
            arch = str(ctx.partitioning.sample(part.index, rng))
            if ctx.coordinator.check_validity(arch, part.index) == "ok":
                ctx.coordinator.remember([arch])
                proposals.append(Proposal(partition=part.index, arch=arch, operator="init", parents=[], rationale=""))
    records = evaluate(ctx, proposals, 0)
    ctx.trace.write("decision", agent=AGENT, round=0, evaluated=len(records), note="random start per partition")
    return {"round": 0, "archive": records, "knowledge": {"version": 0, "heuristics": [], "history": []}}


def coordinator_node(state: SearchState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Judge this attempt's proposals, evaluate the accepted ones, and note what each partition still needs."""
    ctx = runtime.context
    round_number, attempt = state["round"], state.get("attempt", 0)
    archive = state.get("archive", [])
    remaining = budget_left(state, ctx)
    plan = {p: PartitionTask(**task) for p, task in state["plan"].items()}
    accepted: list[Proposal] = []
    rejections: dict[int, list[str]] = {p: [] for p in plan}
    for proposal in state.get("proposals", []):
        part = proposal["partition"]
        verdict = ctx.coordinator.tools["check_validity"].invoke({"arch": proposal["arch"], "partition": part})
        if verdict == "ok" and (plan[part]["slots"] == 0 or len(accepted) >= remaining):
            verdict = "no slot left in this round"
        if verdict == "ok":
            ctx.coordinator.remember([proposal["arch"]])
            plan[part]["slots"] -= 1
            accepted.append(proposal)
        else:
            rejections[part].append(f"{proposal['arch']}: {verdict}")
    records = evaluate(ctx, accepted, round_number)
    ctx.trace.write(
        "decision",
        agent=AGENT,
        round=round_number,
        attempt=attempt,
        accepted=[p["arch"] for p in accepted],
        rejected={str(p): r for p, r in rejections.items() if r},
        budget_used=len(archive) + len(records),
    )
    for part, reasons in rejections.items():
        task = plan[part]
        task["rejections"] = reasons
        task["attempt"] = attempt + 1
        if task["slots"] > 0:
            task["options"] = ctx.coordinator.offer(
                archive + records, task, move_rng(ctx.settings.seed, task), knowledge_in_use(state, ctx)
            )
    return {"archive": records, "proposals": CLEAR, "plan": plan, "attempt": attempt + 1}


def route_after_coordinator(state: SearchState, runtime: Runtime[Context]) -> list[Send] | Literal["memory"]:
    """Send partitions that still have open slots back to their Generator, within the retry bound."""
    ctx = runtime.context
    if state.get("attempt", 0) > ctx.settings.max_retries or budget_left(state, ctx) <= 0:
        return "memory"
    retry: list[PartitionTask] = [t for t in state["plan"].values() if t["slots"] > 0 and t["options"]]
    return [Send("generator", task) for task in retry] or "memory"
