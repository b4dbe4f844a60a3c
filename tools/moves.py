"""Candidates from parents, by family, for spaces or latency models too large to rank whole (`--candidates moves`).

A move is a child named by how it comes from the numbered parents:

- edit, `"2: edge 3 -> nor_conv_1x1"`: parent 2 with one edge's op replaced;
- swap, `"2: swap edges 1,4"`: parent 2 with two edges' ops exchanged (keeps the op counts, so it stays
  inside a niche defined by counts, such as PEL-NAS's number of 3x3 convolutions);
- crossover, `"1 x 3"`: uniform crossover of parents 1 and 3, the edge mask drawn here, seeded;
- sample, `"new 2"`: an unevaluated member of the partition drawn at random (no parent).

The Navigator's strategy for the partition decides which families are offered (`FAMILIES`): exploring
jumps (samples, crossovers, swaps), exploiting takes small steps from the front (edits, swaps),
repairing fills gaps between front points (crossovers, edits). The Coordinator keeps only legal moves
(see `Coordinator.legal_moves`), which then ranks them like any candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Final

import numpy as np

from hwnas.core.space import Architecture
from hwnas.graph.state import Proposal

FAMILIES: Final[dict[str, frozenset[str]]] = {
    "explore": frozenset({"sample", "crossover", "swap"}),
    "exploit": frozenset({"edit", "swap"}),
    "repair": frozenset({"crossover", "edit"}),
}
"""Move families offered for each Navigator strategy; any other strategy (the no-Navigator ablation) gets all."""
ALL_FAMILIES: Final = ("edit", "swap", "crossover", "sample")
"""In the order moves are listed (and deduplicated: a child two families reach keeps the first)."""

CROSSOVER_DRAWS = 8
"""Masks tried per parent pair for children that are neither parent."""
CROSSOVERS_PER_PAIR = 3


def families_for(strategy: str) -> frozenset[str]:
    """The move families a strategy offers."""
    return FAMILIES.get(strategy, frozenset(ALL_FAMILIES))


def candidate_moves(
    parents: Sequence[Architecture],
    partition: int,
    rng: np.random.Generator,
    samples: Sequence[Architecture] = (),
) -> dict[str, list[Proposal]]:
    """Every edit, swap and pairwise crossover of `parents` (numbered from 1), plus `samples`, by family.

    Unchecked: the Coordinator filters them. A move's label is its `rationale`; its `parents` are the
    parent strings it derives from.
    """
    moves: dict[str, list[Proposal]] = {family: [] for family in ALL_FAMILIES}

    def add(family: str, label: str, child: Architecture, lineage: Sequence[Architecture]) -> None:
        operator = {"edit": "mutation", "swap": "mutation"}.get(family, family)
        moves[family].append(
            Proposal(
                partition=partition,
                arch=str(child),
                operator=operator,
                parents=[str(p) for p in lineage],
                rationale=label,
            )
        )

    for number, parent in enumerate(parents, start=1):
        space = parent.space
        noun = space.slot_noun
        for slot in range(len(space.slots)):
            for op in space.ops:
                if op != parent.ops[slot]:
                    add("edit", f"{number}: {noun} {slot} -> {op}", parent.with_op(slot, op), [parent])
        for first, second in combinations(range(len(space.slots)), 2):
            if parent.ops[first] != parent.ops[second]:
                ops = list(parent.ops)
                ops[first], ops[second] = ops[second], ops[first]
                add("swap", f"{number}: swap {noun}s {first},{second}", space.make(ops), [parent])
    for (i, left), (j, right) in combinations(enumerate(parents, start=1), 2):
        children: list[Architecture] = []
        for _ in range(CROSSOVER_DRAWS):
            child = left.crossover(right, rng)
            if child not in (left, right, *children):
                children.append(child)
                suffix = f" ({len(children)})" if len(children) > 1 else ""
                add("crossover", f"{i} x {j}{suffix}", child, [left, right])
            if len(children) == CROSSOVERS_PER_PAIR:
                break
    for number, sample in enumerate(samples, start=1):
        add("sample", f"new {number}", sample, [])
    return moves
