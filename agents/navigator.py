"""The Navigator agent (stateful): reads the search history and sets each round's plan.

Its state is the graph's: the log of its own past plans, what each produced, per-partition coverage
and front trends, and the knowledge base. It answers which partitions to work on, how many candidates
each gets and a strategy per partition. A guardrail against exploration bias then gives every
partition that has not stabilised a floor of slots (half the round split evenly), whatever the model
said, and traces the override.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, create_model

from hwnas.core.objectives import ACCURACY_LATENCY, Objective
from hwnas.graph.context import Context, RunSettings
from hwnas.graph.coordinator import budget_left, knowledge_in_use, move_rng
from hwnas.graph.state import Evaluated, Parent, PartitionTask, SearchState
from hwnas.llm import LLMError
from hwnas.llm.schemas import one_of
from hwnas.pareto import non_dominated_records
from hwnas.prompts import render
from hwnas.tools.knowledge import heuristic_lines

AGENT = "navigator"

Strategy = Literal["explore", "exploit", "repair", "mixed"]
"""The first three are the Navigator's to choose (see `hwnas.tools.moves.FAMILIES`); `mixed`, every move
family, is what partitions get in the ablation without a Navigator."""
PLANNED_STRATEGIES = ("explore", "exploit", "repair")


MAX_SLOTS_PER_PARTITION = 12


class PartitionOrder(BaseModel):
    """Slots and strategy for one partition this round."""

    candidates: int = Field(ge=0)
    strategy: Strategy
    note: str = Field(default="", max_length=80)


class NavigatorPlan(BaseModel):
    """The Navigator's structured answer: a summary, then one `partition_<i>` order per active partition."""

    summary: str = Field(default="", max_length=160)

    def orders(self) -> dict[int, PartitionOrder]:
        """The orders by partition index."""
        return {
            int(name.removeprefix("partition_")): value
            for name, value in self
            if name.startswith("partition_") and isinstance(value, PartitionOrder)
        }


def plan_schema(active: list[int]) -> type[NavigatorPlan]:
    """`NavigatorPlan` with exactly one order field per active partition, slots as a bounded choice.

    Constrained decoding then answers every partition once and only those; a small model needs that.
    """
    order = create_model(
        "PartitionOrder",
        __base__=PartitionOrder,
        candidates=(one_of(range(MAX_SLOTS_PER_PARTITION + 1)), ...),
        strategy=(one_of(PLANNED_STRATEGIES), ...),
    )
    fields: dict[str, Any] = {f"partition_{p}": (order, ...) for p in sorted(active)}
    return create_model("NavigatorPlan", __base__=NavigatorPlan, **fields)


GUARANTEED_SHARE = 0.5
"""Share of a round the guardrail splits evenly over the active partitions; the Navigator steers the rest.
With less, a small model starved the fastest niches (3 of 108 slots in one measured run), and the
cheap end of the true front lies there."""


def slot_floor(round_size: int, active: int) -> int:
    """The fewest slots the guardrail lets an active partition have in a round (at least one)."""
    return max(1, int(GUARANTEED_SHARE * round_size / max(active, 1)))


def apply_guardrail(
    orders: dict[int, PartitionOrder], active: list[int], round_size: int, budget_left: int
) -> tuple[dict[int, PartitionOrder], list[str]]:
    """Clip the plan to the budget and give each active (not yet stable) partition at least `slot_floor` slots.

    Returns the final orders by partition and a line per override, for the trace.
    """
    overrides: list[str] = []
    final: dict[int, PartitionOrder] = {}
    floor = slot_floor(round_size, len(active))
    for partition, order in orders.items():
        if partition not in active:
            overrides.append(f"dropped partition {partition}: stable or unknown")
        elif order.candidates > 0:
            final[partition] = order
    for partition in active:
        if partition not in final:
            final[partition] = PartitionOrder(candidates=floor, strategy="explore", note="guardrail")
            overrides.append(f"partition {partition} got no slot: gave it {floor} (explore)")
        elif final[partition].candidates < floor:
            overrides.append(f"partition {partition} got {final[partition].candidates} slot(s): raised to {floor}")
            final[partition] = final[partition].model_copy(update={"candidates": floor})
    cap = min(budget_left, max(round_size, len(active)))
    asked = sum(o.candidates for o in final.values())
    while sum(o.candidates for o in final.values()) > cap:
        partition, largest = max(final.items(), key=lambda item: (item[1].candidates, -item[0]))
        if largest.candidates == 1:
            # Fewer slots than partitions: keep the partitions with the fewest evaluations (first in `active`).
            drop = next(p for p in reversed(active) if p in final)
            del final[drop]
            overrides.append(f"budget left {budget_left}: no slot for partition {drop} this round")
            continue
        final[partition] = largest.model_copy(update={"candidates": largest.candidates - 1})
    if asked > cap:
        overrides.append(f"trimmed {asked - cap} slot(s) to fit round size {round_size} and budget left {budget_left}")
    elif asked < cap:
        # The plan's numbers are read as shares of the round: a plan asking for fewer slots than the round
        # holds is scaled up (largest remainder), so a timid model costs rounds, not search effort.
        share = {p: o.candidates * cap / asked for p, o in final.items()}
        scaled = {p: int(share[p]) for p in final}
        for p in sorted(final, key=lambda p: (int(share[p]) - share[p], p))[: cap - sum(scaled.values())]:
            scaled[p] += 1
        final = {p: o.model_copy(update={"candidates": scaled[p]}) for p, o in final.items()}
        overrides.append(f"scaled the plan from {asked} to {cap} slot(s) (round size {round_size})")
    return final, overrides


def uniform_orders(active: list[int], round_size: int) -> dict[int, PartitionOrder]:
    """The ablation without a Navigator: the round's slots split evenly over active partitions."""
    share, extra = divmod(round_size, max(len(active), 1))
    return {
        p: PartitionOrder(candidates=max(1, share + (i < extra)), strategy="mixed")
        for i, p in enumerate(sorted(active))
    }


def as_parent(record: Evaluated) -> Parent:
    """A parent as a Generator sees it (with each device's latency on a fleet)."""
    parent = Parent(arch=record["arch"], score=record["score"], latency_ms=record["latency_ms"])
    if "latencies" in record:
        parent["latencies"] = record["latencies"]
    return parent


def select_parents(
    archive: list[Evaluated],
    partition: int,
    k: int,
    *,
    accuracy_only: bool = False,
    objectives: Sequence[Objective] = ACCURACY_LATENCY,
) -> list[Parent]:
    """Up to k parents spread along the partition's front (fastest to best), then its best-scoring others.

    Spreading matters: the best-scoring k of a long front all sit at its slow end, and a search that
    only breeds from those never improves the fast end, where the true front's cheapest points lie.
    With accuracy alone there is no front to spread along: the k best-scoring members. On a fleet the
    front is in all the run's `objectives` and is spread along the first device's latency.
    """
    members = [r for r in archive if r["partition"] == partition]
    if accuracy_only:
        best = sorted(members, key=lambda r: -r["score"])[:k]
        return [as_parent(r) for r in best]
    front = sorted(non_dominated_records(members, objectives), key=lambda r: r["latency_ms"])
    if len(front) > k:
        front = [front[round(i * (len(front) - 1) / (k - 1))] for i in range(k)] if k > 1 else front[-1:]
    rest = sorted((r for r in members if r not in front), key=lambda r: -r["score"])
    chosen = sorted(front, key=lambda r: -r["score"]) + rest
    return [as_parent(r) for r in chosen[:k]]


def _partition_table(state: SearchState, ctx: Context, gains: dict[int, float]) -> str:
    """One line per partition; its fourth column is the front's size, or with accuracy alone its best score."""
    counts = Counter(r["partition"] for r in state.get("archive", []))
    lines = []
    for part in ctx.partitioning.partitions:
        progress = state.get("progress", {}).get(part.index)
        hv = progress["hv_history"] if progress else []
        trend = " -> ".join(f"{v:.3f}" for v in hv[-3:]) or "n/a"
        members = [r for r in state.get("archive", []) if r["partition"] == part.index]
        if ctx.settings.accuracy_only:
            size_or_best = f"{max(r['score'] for r in members):.3f}" if members else "n/a"
        else:
            size_or_best = str(len(non_dominated_records(members, ctx.settings.objective_list)))
        stable = "yes" if progress and progress["stable"] else "no"
        gain = f"{gains[part.index]:.1f}" if part.index in gains else "n/a"
        lines.append(
            f"{part.index}: {part.description} | {counts[part.index]} | {size_or_best} | {trend} | {gain} | {stable}"
        )
    return "\n".join(lines)


def _history(state: SearchState) -> str:
    archive = state.get("archive", [])
    lines = []
    for entry in state.get("navigator_log", [])[-4:]:
        done = Counter(r["partition"] for r in archive if r["round"] == entry["round"])
        parts = ", ".join(
            f"p{p} {o['strategy']} {o['candidates']} -> {done[int(p)]} evaluated" for p, o in entry["orders"].items()
        )
        lines.append(f"round {entry['round']}: {entry['summary'] or '-'}; {parts}")
    return "\n".join(lines) or "(first round)"


def navigator_messages(
    state: SearchState, ctx: Context, budget_left: int, gains: dict[int, float]
) -> list[tuple[str, str]]:
    """The system and user messages for one Navigator call (`gains`: expected gain per active partition).

    With accuracy alone the prompt is `navigator_accuracy`, which says nothing of latency or devices.
    """
    settings = ctx.settings
    goal = {"space": ctx.space.describe(latency=not settings.accuracy_only), "dataset": settings.dataset}
    if not settings.accuracy_only:
        goal["device"] = settings.device_text
    user = render(
        "navigator_accuracy" if settings.accuracy_only else "navigator",
        **goal,
        budget_left=budget_left,
        round=state.get("round", 0) + 1,
        round_size=settings.round_size,
        partitions=_partition_table(state, ctx, gains),
        history=_history(state),
        knowledge="\n".join(heuristic_lines(state.get("knowledge", {}), ctx.space.slot_noun)) or "(none yet)",
    )
    return [("system", "You plan a neural architecture search. Answer in JSON."), ("user", user)]


GAIN_PREVIEW = 4
"""A partition's expected gain, shown to the Navigator, is that of its next this many picks."""


def expected_gains(state: SearchState, ctx: Context, active: list[int]) -> dict[int, float]:
    """Each active partition's expected hypervolume gain from its next `GAIN_PREVIEW` ranked options."""
    archive = state.get("archive", [])
    settings = ctx.settings
    gains = {}
    for p in active:
        preview = PartitionTask(
            round=state.get("round", 0) + 1, attempt=0, partition=p, slots=GAIN_PREVIEW, strategy="mixed", note="",
            parents=select_parents(
                archive, p, settings.parents_per_prompt, accuracy_only=settings.accuracy_only,
                objectives=settings.objective_list,
            ),
            heuristics=[], rejections=[], options=[],
        )  # fmt: skip
        options = ctx.coordinator.offer(archive, preview, move_rng(settings.seed, preview))
        gains[p] = sum(o["gain"] for o in options[:GAIN_PREVIEW])
    return gains


def active_partitions(state: SearchState, ctx: Context) -> list[int]:
    """Partitions that have not stabilised, fewest evaluations first (ties by index)."""
    counts = Counter(r["partition"] for r in state.get("archive", []))
    progress = state.get("progress", {})
    active = [p.index for p in ctx.partitioning.partitions if not (p.index in progress and progress[p.index]["stable"])]
    return sorted(active, key=lambda p: (counts[p], p))


def navigator_node(state: SearchState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Plan the next round and build one `PartitionTask` per partition that gets slots."""
    ctx = runtime.context
    settings: RunSettings = ctx.settings
    round_number = state.get("round", 0) + 1
    remaining = budget_left(state, ctx)  # also hands the archive to the Coordinator for the offers below
    active = active_partitions(state, ctx)
    fitted_before = ctx.coordinator.surrogate_seconds
    gains = expected_gains(state, ctx, active)
    surrogate_s = ctx.coordinator.surrogate_seconds - fitted_before
    plan = NavigatorPlan(summary="uniform split (no Navigator)")
    asked = uniform_orders(active, settings.round_size)
    if settings.use_navigator:
        try:
            plan = ctx.llm.structured(
                agent=AGENT,
                messages=navigator_messages(state, ctx, remaining, gains),
                schema=plan_schema(active),
                context={"round": round_number},
            )
            asked = plan.orders()
        except LLMError as error:
            ctx.trace.write("decision", agent=AGENT, round=round_number, outcome="failed", error=str(error))
            plan, asked = NavigatorPlan(summary="Navigator failed; guardrail allocation"), {}
    orders, overrides = apply_guardrail(asked, active, settings.round_size, remaining)
    if overrides:
        ctx.trace.write("guardrail", agent=AGENT, round=round_number, overrides=overrides)
    knowledge = heuristic_lines(state.get("knowledge", {}), ctx.space.slot_noun) if settings.knowledge_on else []
    tasks = {}
    for p, order in sorted(orders.items()):
        task = PartitionTask(
            round=round_number,
            attempt=0,
            partition=p,
            slots=order.candidates,
            strategy=order.strategy,
            note=order.note,
            parents=select_parents(
                state.get("archive", []),
                p,
                settings.parents_per_prompt,
                accuracy_only=settings.accuracy_only,
                objectives=settings.objective_list,
            ),
            heuristics=knowledge,
            rejections=[],
            options=[],
        )
        task["options"] = ctx.coordinator.offer(
            state.get("archive", []), task, move_rng(settings.seed, task), knowledge_in_use(state, ctx)
        )
        tasks[p] = task
    log = {
        "round": round_number,
        "summary": plan.summary,
        "orders": {
            str(p): {"candidates": o.candidates, "strategy": o.strategy, "note": o.note} for p, o in orders.items()
        },
    }
    ctx.trace.write(
        "decision",
        agent=AGENT,
        round=round_number,
        plan=plan.model_dump(),
        final=log["orders"],
        expected_gain={str(p): round(g, 3) for p, g in gains.items()},
        surrogate_s=round(surrogate_s, 3),
    )
    return {"round": round_number, "attempt": 0, "plan": tasks, "navigator_log": [log]}
