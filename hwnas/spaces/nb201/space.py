"""NAS-Bench-201's cell space (`nb201`): 6 edges of a 4-node DAG, each carrying one of 5 ops.

A cell prints to the canonical NB201 string::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|

Edges are slots in the string's order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2. A cell whose output node cannot
be reached from the input through non-`none` edges is degenerate (it predicts a constant: about 10 %
accuracy on CIFAR-10 at near-zero latency). The canonical key groups cells that compute the same function.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

import networkx as nx

from hwnas.core.space import Architecture, Niches, SearchSpace
from hwnas.core.tables import Tables
from hwnas.errors import UsageError
from hwnas.prompts import render
from hwnas.spaces.nb201.cost import DATASETS, dataset_shape, flops_m, params_m

if TYPE_CHECKING:
    from torch.nn import Module

OPS: Final[tuple[str, ...]] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Op vocabulary in NB201 code order (the `ops` column of the tables uses these indices)."""

OpName = Literal["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
"""The op names as a type, for schemas that must only admit legal ops (LLM structured output)."""

EDGES: Final[tuple[tuple[int, int], ...]] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""(source node, target node) for each of the 6 edge slots, in canonical-string order."""

NUM_EDGES: Final = len(EDGES)
SPACE_SIZE: Final = len(OPS) ** NUM_EDGES  # 15,625


class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell space."""

    name = "nb201"
    slots = tuple(f"{target}<-{source}" for source, target in EDGES)
    slot_noun = "edge"
    invalid_reason = "broken cell: the output node is cut off from the input"
    ops = OPS
    short_ops: ClassVar[dict[str, str]] = {
        "none": "none", "skip_connect": "skip", "nor_conv_1x1": "c1x1", "nor_conv_3x3": "c3x3", "avg_pool_3x3": "pool",
    }  # fmt: skip
    datasets = tuple(DATASETS)
    blind_words: ClassVar[dict[str, str]] = {
        "the NAS-Bench-201 cell": "a cell", "NAS-Bench-201": "this space", "NAS-Bench": "this space",
        "HW-NAS-Bench": "this space", "NB201": "this space",
        "Convolutions": "nor_conv_1x1 and nor_conv_3x3", "convolution": "nor_conv_1x1 or nor_conv_3x3",
    }  # fmt: skip

    def format(self, arch: Architecture) -> str:
        """The canonical NB201 string."""
        o = arch.ops
        return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"

    def parse(self, text: str) -> Architecture:
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
        return self.make(ops)

    def graph(self, arch: Architecture) -> nx.DiGraph:
        """The cell as a DAG over nodes 0..3 holding only its non-`none` edges (edge attribute `op`)."""
        g = nx.DiGraph()
        g.add_nodes_from(range(4))
        for (src, dst), op in zip(EDGES, arch.ops, strict=True):
            if op != "none":
                g.add_edge(src, dst, op=op)
        return g

    def is_valid(self, arch: Architecture) -> bool:
        """True when the output node is reachable from the input through non-`none` edges."""
        return bool(nx.has_path(self.graph(arch), 0, 3))

    def canonical_key(self, arch: Architecture) -> str:
        """A key shared by exactly the cells that compute the same function.

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
                op, inputs = arch.ops[slot], values[src]
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

    def describe(self, *, latency: bool = True) -> str:
        """The prompt text `prompts/nb201.txt` (what the ops cost is said only when latency is searched)."""
        effects = (
            "Convolutions raise accuracy and latency; nor_conv_3x3 costs most."
            if latency
            else "Convolutions raise accuracy, nor_conv_3x3 most."
        )
        return render("nb201", effects=effects)

    def load_tables(self, data: str | None, *, required: bool = True) -> Tables | None:
        """The joined NAS-Bench-201 / HW-NAS-Bench / HELP tables (`hwnas.spaces.nb201.tables`)."""
        from hwnas.spaces.nb201.tables import BenchmarkTables  # the tables module imports this one

        return BenchmarkTables.load(data, required=required)

    def input_shape(self, dataset: str) -> tuple[int, int]:
        """32x32 images for the CIFAR datasets, 16x16 for ImageNet16-120."""
        shape = dataset_shape(dataset)
        return shape.resolution, shape.num_classes

    def build_network(self, arch: Architecture, dataset: str, *, seed: int = 0, batch_norm: bool = True) -> Module:
        """The NB201 network around the cell (`hwnas.spaces.nb201.network`)."""
        from hwnas.spaces.nb201.network import build_network  # torch loads only when a network is built

        return build_network(arch, dataset, seed=seed, batch_norm=batch_norm)

    def niches(self) -> Niches:
        """PEL-NAS's six niches by the number of `nor_conv_3x3` edges (axis `conv3`)."""
        return Niches("conv3", _CONV3_NAMES, _CONV3_DESCRIPTIONS, _conv3_niche)

    def analytic_costs(self, dataset: str) -> dict[str, Callable[[Architecture], float]]:
        """FLOPs (M) and parameters (M) of the full network on `dataset` (`hwnas.spaces.nb201.cost`)."""
        self.check_dataset(dataset)
        return {"flops": lambda a: flops_m(a, dataset), "params": lambda a: params_m(a, dataset)}


NB201: Final = NB201Space()
"""The one instance every module uses."""


def _conv3_niche(arch: Architecture) -> int:
    counts = arch.op_counts
    n3 = counts["nor_conv_3x3"]
    if n3 == 0:
        return 0 if counts["nor_conv_1x1"] == 0 else 1
    return min(n3 + 1, 5)


_CONV3_NAMES: Final = ("no-conv", "1x1-only", "one-3x3", "two-3x3", "three-3x3", "four-plus-3x3")
_CONV3_DESCRIPTIONS: Final = (
    "no convolution at all: every edge is none, skip_connect or avg_pool_3x3",
    "no nor_conv_3x3 and at least one nor_conv_1x1",
    "exactly one nor_conv_3x3 edge",
    "exactly two nor_conv_3x3 edges",
    "exactly three nor_conv_3x3 edges",
    "four or more nor_conv_3x3 edges",
)

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
