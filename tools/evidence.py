"""Edit evidence from a run's archive: what changing one edge's op did to score and latency.

The heuristic-memory agent reads this evidence, and the Coordinator checks every heuristic it proposes
against it. Evidence is every pair of evaluated architectures that differ on exactly one edge, read in
both directions (a -> b and b -> a), so it grows with the archive, not only with parent -> child edits.
On a fleet of devices an edit has one latency change per device, and a stated latency direction must
hold on each device.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hwnas.core.space import SearchSpace
from hwnas.graph.state import latency_objectives

Direction = Literal["up", "down"]
ANY_EDGE = -1


@dataclass(frozen=True)
class EditEffect:
    """One observed edit: `from_op` -> `to_op` on `edge`, and the change it made."""

    from_op: str
    to_op: str
    edge: int
    score_change: float
    latency_changes: tuple[float, ...]
    """One per device (one device: a single value)."""


def edit_effects(space: SearchSpace, records: Sequence[Mapping[str, Any]]) -> list[EditEffect]:
    """All single-slot edits between evaluated architectures (records with `arch`, `score`, `latency_ms`).

    On a fleet the records' `latencies` give one change per device.
    """
    archs = [space.parse(r["arch"]) for r in records]
    latencies = [latency_objectives(r) for r in records]
    effects = []
    for i in range(len(records)):
        for j in range(i + 1, len(records)):
            diff = archs[j].edits_from(archs[i])
            if len(diff) != 1:
                continue
            edge, op_i, op_j = diff[0]
            d_score = records[j]["score"] - records[i]["score"]
            d_latency = tuple(b - a for a, b in zip(latencies[i], latencies[j], strict=True))
            effects.append(EditEffect(op_i, op_j, edge, d_score, d_latency))
            effects.append(EditEffect(op_j, op_i, edge, -d_score, tuple(-d for d in d_latency)))
    return effects


def matching(effects: Iterable[EditEffect], from_op: str, to_op: str, edge: int) -> list[EditEffect]:
    """Effects of the edit `from_op` (or `any`) -> `to_op` on `edge` (or any edge when `edge` is -1)."""
    return [e for e in effects if e.to_op == to_op and from_op in ("any", e.from_op) and edge in (ANY_EDGE, e.edge)]


@dataclass(frozen=True)
class Support:
    """How well the evidence backs a stated direction of effect."""

    count: int
    accuracy_agreement: float
    latency_agreement: float
    """On a fleet, the smallest share over the devices."""

    def holds(self, min_count: int, min_agreement: float) -> bool:
        """Enough cases, and most of them move both objectives the stated way."""
        return (
            self.count >= min_count
            and self.accuracy_agreement >= min_agreement
            and self.latency_agreement >= min_agreement
        )


def support(effects: Sequence[EditEffect], accuracy: Direction, latency: Direction) -> Support:
    """Share of `effects` whose score and latency changes go the stated ways."""
    if not effects:
        return Support(0, 0.0, 0.0)

    def agrees(change: float, direction: Direction) -> bool:
        return change > 0 if direction == "up" else change < 0

    n = len(effects)
    devices = len(effects[0].latency_changes)
    return Support(
        count=n,
        accuracy_agreement=sum(agrees(e.score_change, accuracy) for e in effects) / n,
        latency_agreement=min(sum(agrees(e.latency_changes[d], latency) for e in effects) / n for d in range(devices)),
    )


def summarise(effects: Sequence[EditEffect], limit: int = 12) -> list[str]:
    """The most frequent edits on any edge, as prompt lines: `a -> b: n | mean d-score | mean d-latency`.

    On a fleet the last column has one mean per device, `/`-separated.
    """
    groups: dict[tuple[str, str], list[EditEffect]] = {}
    for e in effects:
        groups.setdefault((e.from_op, e.to_op), []).append(e)
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))[:limit]
    return [
        f"{a} -> {b}: {len(es)} | {sum(e.score_change for e in es) / len(es):+.3f} | "
        + "/".join(f"{sum(e.latency_changes[d] for e in es) / len(es):+.3f}" for d in range(len(es[0].latency_changes)))
        for (a, b), es in ranked
    ]
