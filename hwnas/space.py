"""The NAS-Bench-201 cell search space: the `Architecture` value type and the `SearchSpace` around it.

A cell is a DAG on 4 nodes; each of its 6 edges (j -> i, j < i) carries one of 5 ops. Architectures are
immutable, hashable and print to the canonical NB201 string::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|

Edges are stored in the string's order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any, Final, Literal

import networkx as nx
import numpy as np

from hwnas.errors import UsageError

OPS: Final[tuple[str, ...]] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Op vocabulary in NB201 code order (the `ops` column of the tables uses these indices)."""

OpName = Literal["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
"""The op names as a type, for schemas that must only admit legal ops (LLM structured output)."""

EDGES: Final[tuple[tuple[int, int], ...]] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""(source node, target node) for each of the 6 edge slots, in canonical-string order."""

NUM_EDGES: Final = len(EDGES)
SPACE_SIZE: Final = len(OPS) ** NUM_EDGES  # 15,625
PARAMETRIC_OPS: Final = frozenset({"nor_conv_1x1", "nor_conv_3x3"})


@dataclass(frozen=True)
class Architecture:
    """One NB201 cell: the op on each of the 6 edges, in canonical-string order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != NUM_EDGES:
            raise UsageError(f"an architecture has {NUM_EDGES} edges, got {len(self.ops)} ops")
        bad = [op for op in self.ops if op not in OPS]
        if bad:
            raise UsageError(f"unknown op {bad[0]!r}; accepted ops: {', '.join(OPS)}")

    # ---- text forms -------------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> Architecture:
        """Parse the canonical string `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`."""
        text = text.strip()
        nodes = text.split("+")
        if len(nodes) != 3:
            raise UsageError(f"malformed architecture {text!r}: expected 3 node groups joined by '+'")
        ops: list[str] = []
        for target, group in enumerate(nodes, start=1):
            if not (group.startswith("|") and group.endswith("|")):
                raise UsageError(f"malformed architecture {text!r}: node group {group!r} must be wrapped in '|'")
            tokens = group[1:-1].split("|")
            if len(tokens) != target:
                raise UsageError(f"malformed architecture {text!r}: node {target} needs {target} input edge(s)")
            for source, token in enumerate(tokens):
                op, sep, src = token.partition("~")
                if not sep or src != str(source):
                    raise UsageError(f"malformed architecture {text!r}: expected '{op or 'op'}~{source}'")
                ops.append(op)
        return cls(tuple(ops))

    @classmethod
    def from_codes(cls, codes: Sequence[int]) -> Architecture:
        """Build from op indices into `OPS` (the integer encoding used by the evolutionary baselines)."""
        return cls(tuple(OPS[int(c)] for c in codes))

    @property
    def codes(self) -> tuple[int, ...]:
        """Op indices into `OPS`, one per edge."""
        return tuple(OPS.index(op) for op in self.ops)

    def __str__(self) -> str:
        o = self.ops
        return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"

    def __repr__(self) -> str:
        return f"Architecture.parse({str(self)!r})"

    # ---- structure --------------------------------------------------------------------------------
    def graph(self) -> nx.DiGraph:
        """The cell as a DAG over nodes 0..3 holding only its non-`none` edges (edge attribute `op`)."""
        g = nx.DiGraph()
        g.add_nodes_from(range(4))
        for (src, dst), op in zip(EDGES, self.ops, strict=True):
            if op != "none":
                g.add_edge(src, dst, op=op)
        return g

    @cached_property
    def is_valid(self) -> bool:
        """True when the output node is reachable from the input through non-`none` edges.

        Invalid cells cut the output off from the input: the network then predicts a constant
        (about 10 % accuracy on CIFAR-10 at near-zero latency).
        """
        return bool(nx.has_path(self.graph(), 0, 3))

    @cached_property
    def canonical_key(self) -> str:
        """A key shared by exactly the architectures that compute the same function.

        Each node's value is a sum of tensors with multiplicities. `skip_connect` passes its input's
        terms through and `none` adds nothing; average pooling is linear, so it distributes over a sum;
        each convolution edge is its own tensor (its own weights), even when two convolutions see the
        same input. A branch cut off from the input contributes nothing. The key serialises the output
        node's sum with terms sorted and convolutions numbered canonically, so relabelling the two
        intermediate nodes or reordering a sum gives the same key, while weight sharing through skips
        (one conv reached twice) stays distinct from two separate convs.
        """
        values: list[Counter[_Term]] = [Counter({("x",): 1})]
        for node in (1, 2, 3):
            total: Counter[_Term] = Counter()
            for slot, (src, dst) in enumerate(EDGES):
                if dst != node:
                    continue
                op, inputs = self.ops[slot], values[src]
                if op == "none" or not inputs:
                    continue
                if op == "skip_connect":
                    total.update(inputs)
                elif op == "avg_pool_3x3":
                    total.update({("p3", term): m for term, m in inputs.items()})
                else:
                    total[(_SHORT[op], slot, _freeze(inputs))] += 1
            values.append(total)
        return _canonical_serialisation(values[3])

    @cached_property
    def op_counts(self) -> dict[str, int]:
        """How many edges carry each op (all five ops present as keys)."""
        return {op: self.ops.count(op) for op in OPS}

    # ---- variation operators ----------------------------------------------------------------------
    def mutate(self, rng: np.random.Generator, k: int = 1) -> Architecture:
        """Change the op on `k` distinct edges, each to a different op drawn uniformly."""
        if not 1 <= k <= NUM_EDGES:
            raise UsageError(f"mutation changes 1..{NUM_EDGES} edges, got k={k}")
        ops = list(self.ops)
        for slot in rng.choice(NUM_EDGES, size=k, replace=False):
            choices = [op for op in OPS if op != ops[slot]]
            ops[slot] = choices[int(rng.integers(len(choices)))]
        return Architecture(tuple(ops))

    def crossover(self, other: Architecture, rng: np.random.Generator) -> Architecture:
        """Uniform crossover: each edge's op comes from either parent with probability 1/2."""
        take_self = rng.random(NUM_EDGES) < 0.5
        return Architecture(tuple(a if t else b for a, b, t in zip(self.ops, other.ops, take_self, strict=True)))

    def neighbours(self) -> list[Architecture]:
        """All 24 architectures that differ from this one on exactly one edge."""
        return [
            Architecture((*self.ops[:slot], op, *self.ops[slot + 1 :]))
            for slot in range(NUM_EDGES)
            for op in OPS
            if op != self.ops[slot]
        ]

    def edits_from(self, parent: Architecture) -> list[tuple[int, str, str]]:
        """The edges where this architecture differs from `parent`, as (slot, parent op, own op)."""
        return [(i, a, b) for i, (a, b) in enumerate(zip(parent.ops, self.ops, strict=True)) if a != b]


_SHORT: Final = {"nor_conv_1x1": "c1", "nor_conv_3x3": "c3"}

# A tensor in the cell: ("x",) the input; ("p3", term) pooling of a term; (conv, slot, frozen sum) a
# convolution edge applied to a sum of terms.
_Term = tuple[Any, ...]
_FrozenSum = tuple[tuple[_Term, int], ...]


def _freeze(terms: Counter[_Term]) -> _FrozenSum:
    return tuple(sorted(terms.items(), key=repr))


def _serialise(term: _Term, conv_ids: dict[int, int]) -> str:
    if term[0] == "x":
        return "x"
    if term[0] == "p3":
        return f"p3({_serialise(term[1], conv_ids)})"
    kind, slot, inputs = term
    return f"{kind}#{conv_ids.get(slot, '')}({_serialise_sum(inputs, conv_ids)})"


def _serialise_sum(terms: _FrozenSum, conv_ids: dict[int, int]) -> str:
    parts = sorted((f"{m}*" if m > 1 else "") + _serialise(t, conv_ids) for t, m in terms)
    return "+".join(parts) or "0"


def _conv_slots(term: _Term, found: dict[int, _Term]) -> None:
    if term[0] == "p3":
        _conv_slots(term[1], found)
    elif term[0] != "x":
        found[term[1]] = term
        for inner, _ in term[2]:
            _conv_slots(inner, found)


def _canonical_serialisation(output: Counter[_Term]) -> str:
    root = _freeze(output)
    convs: dict[int, _Term] = {}
    for term, _ in root:
        _conv_slots(term, convs)
    # Convolutions that look alike without their numbers are interchangeable; try every numbering
    # within each look-alike group and keep the smallest text (groups are tiny: a cell has 6 edges).
    groups: dict[str, list[int]] = {}
    for slot, term in convs.items():
        groups.setdefault(_serialise(term, {}), []).append(slot)
    ordered = [groups[label] for label in sorted(groups)]
    best: str | None = None
    for arrangement in itertools.product(*(itertools.permutations(g) for g in ordered)):
        conv_ids = {slot: i for i, slot in enumerate(itertools.chain.from_iterable(arrangement))}
        text = _serialise_sum(root, conv_ids)
        if best is None or text < best:
            best = text
    return best if best is not None else "0"


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """The whole NB201 cell space, with uniform sampling and enumeration."""

    def __len__(self) -> int:
        return SPACE_SIZE

    def __iter__(self) -> Iterator[Architecture]:
        """Every architecture once, in lexicographic order of op codes (not NB201's index order)."""
        for codes in itertools.product(range(len(OPS)), repeat=NUM_EDGES):
            yield Architecture.from_codes(codes)

    def sample(self, rng: np.random.Generator) -> Architecture:
        """One architecture drawn uniformly from all 15,625."""
        return Architecture.from_codes(rng.integers(len(OPS), size=NUM_EDGES).tolist())


@cache
def distinct_positions() -> dict[str, int]:
    """For each function a valid cell computes (its `canonical_key`), the first position computing it.

    Positions are in `SearchSpace` order. Degenerate cells (output cut off) are left out: every search
    skips them, and one evaluation of them would say all there is to know. Built once per process.
    """
    first: dict[str, int] = {}
    for position, arch in enumerate(SearchSpace()):
        if arch.is_valid:
            first.setdefault(arch.canonical_key, position)
    return first
