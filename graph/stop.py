"""The stop test: per-partition front hypervolume over rounds, and the criteria that end the search.

The search ends at the first of: the budget spent, every partition stable, the round cap
(`stop_criteria`, built from the run settings out of `hwnas.core.stop`'s composable criteria).

Scores of a zero-cost predictor have no natural scale, so a partition's hypervolume is measured in a
frame taken from its own records: their score and latency ranges (on a fleet, each device's), widened
by half a range on each side.
Each assessment re-measures the partition's whole history (the front as it stood after each earlier
round) in the current frame, so a child far better than anything before still counts as progress. A
partition is stable once its front has grown by less than `stable_eps` (relative) for
`window` consecutive rounds in which it got new evaluations (a round that tried nothing there
is no evidence either way).

With accuracy as the only objective (`RunSettings.accuracy_only`) a partition's measure is its best score
instead of its front's hypervolume, a partition is stable once that has not risen for `window`
rounds in which it got new evaluations, and the search also ends when the run's best score has not risen
for `window` rounds (`BestScoreStalled`).
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

import numpy as np
from langgraph.runtime import Runtime
from pymoo.indicators.hv import HV

from hwnas.core.stop import (
    BestScoreStalled,
    BudgetSpent,
    EveryPartitionStable,
    FirstMet,
    RoundCap,
    SearchStatus,
    rounds_without_gain,
)
from hwnas.graph.context import Context, RunSettings
from hwnas.graph.state import Evaluated, PartitionProgress, SearchState, latency_objectives

AGENT = "coordinator"


def frame_for(records: list[Evaluated]) -> list[float]:
    """[score low, score high, latency low, latency high], widened by half a range on each side.

    On a fleet each further device adds its latency's low and high.
    """
    scores = [r["score"] for r in records]
    columns = list(zip(*(latency_objectives(r) for r in records), strict=True))
    frame = []
    for low, high in ((min(scores), max(scores)), *((min(c), max(c)) for c in columns)):
        margin = 0.5 * (high - low) or 0.1 * abs(high) or 1.0
        frame += [low - margin, high + margin]
    return frame


def front_hypervolume(records: list[Evaluated], frame: list[float]) -> float:
    """Hypervolume of the records (maximise score, minimise each latency) in the frame, reference (1, 1, ...)."""
    if not records:
        return 0.0
    s_low, s_high, *latency_frame = frame
    lows, highs = np.array(latency_frame[0::2]), np.array(latency_frame[1::2])
    points = np.array(
        [[(s_high - r["score"]) / (s_high - s_low), *((np.array(latency_objectives(r)) - lows) / (highs - lows))]
         for r in records]
    )  # fmt: skip
    return float(HV(ref_point=np.ones(points.shape[1]))(np.clip(points, 0.0, 1.0)))


def is_stable(history: list[float], eps: float, window: int) -> bool:
    """The last `window` rounds each grew the hypervolume by less than `eps`, relative."""
    if len(history) <= window:
        return False
    recent = history[-window - 1 :]
    return all((b - a) < eps * max(a, 1e-12) for a, b in itertools.pairwise(recent))


def stop_criteria(settings: RunSettings) -> FirstMet:
    """The run's stop criteria, in the order their reasons take precedence."""
    if settings.accuracy_only:
        return FirstMet([
            BudgetSpent(settings.budget), BestScoreStalled(settings.window), EveryPartitionStable(),
            RoundCap(settings.max_rounds),
        ])  # fmt: skip
    return FirstMet([BudgetSpent(settings.budget), EveryPartitionStable(), RoundCap(settings.max_rounds)])


def best_by_round(archive: list[Evaluated], rounds: int) -> tuple[float, ...]:
    """The best score evaluated by the end of each round 0..rounds (rounds with nothing yet are left out)."""
    best: list[float] = []
    for round_number in range(rounds + 1):
        scores = [r["score"] for r in archive if r["round"] <= round_number]
        if scores:
            best.append(max(scores))
    return tuple(best)


def assess_node(state: SearchState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Update every partition's hypervolume history and decide whether the search is over."""
    ctx = runtime.context
    settings = ctx.settings
    archive = state.get("archive", [])
    progress: dict[int, PartitionProgress] = dict(state.get("progress", {}))
    for part in ctx.partitioning.partitions:
        members = [r for r in archive if r["partition"] == part.index]
        previous = progress.get(part.index)
        if not members or (previous and previous["counts"][-1] == len(members)):
            continue  # nothing new was tried here: no evidence that the front stopped improving
        counts = [*(previous["counts"] if previous else []), len(members)]
        if settings.accuracy_only:
            best = [max(r["score"] for r in members[:count]) for count in counts]
            stable = rounds_without_gain(best) >= settings.window
            progress[part.index] = PartitionProgress(frame=[], counts=counts, hv_history=best, stable=stable)
            continue
        frame = frame_for(members)  # the archive only grows, so the first `count` records are that round's
        history = [front_hypervolume(members[:count], frame) for count in counts]
        progress[part.index] = PartitionProgress(
            frame=frame,
            counts=counts,
            hv_history=history,
            stable=is_stable(history, settings.stable_eps, settings.window),
        )
    round_number = state.get("round", 0)
    status = SearchStatus(
        evaluated=len(archive),
        rounds=round_number,
        partitions=len(ctx.partitioning.partitions),
        stable=frozenset(p for p, v in progress.items() if v["stable"]),
        assessed=frozenset(progress),
        best_by_round=best_by_round(archive, round_number),
    )
    stop_reason = stop_criteria(settings).reason_to_stop(status)
    ctx.trace.write(
        "decision",
        agent=AGENT,
        round=round_number,
        step="stop_test",
        hypervolume={str(p): v["hv_history"][-1] for p, v in progress.items()},
        stable=[p for p, v in progress.items() if v["stable"]],
        stop_reason=stop_reason,
    )
    return {"progress": progress, "stop_reason": stop_reason}


def route_after_assess(state: SearchState) -> Literal["navigator", "__end__"]:
    """Another round, or the end of the search."""
    return "__end__" if state.get("stop_reason") else "navigator"
