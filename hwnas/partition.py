"""Complexity-driven partitions of the NB201 space: the niches the agent graph fans out over.

`make_partitioning(axis, ...)` splits all 15,625 architectures along one named axis:
- `conv3`: PEL-NAS's six niches by the number of `nor_conv_3x3` edges (niche 0: no 3x3 and no 1x1;
  1: no 3x3 and at least one 1x1; 2/3/4: exactly 1/2/3 3x3; 5: four or more);
- `flops`, `params`: K quantile bins of the analytic FLOPs / parameters on a dataset;
- `latency`: K quantile bins of a device's table latency (needs the tables and a device);
- `none`: the whole space as one partition (the ablation without partitions).
Quantile bins never split architectures with the same value, so ties can leave fewer than K bins.
Each partition has a human description that prompts quote verbatim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Final

import numpy as np

from hwnas.benchmark import BenchmarkTables
from hwnas.cost import dataset_shape, flops_m, params_m
from hwnas.errors import UsageError
from hwnas.space import NUM_EDGES, OPS, SPACE_SIZE, Architecture, SearchSpace, distinct_positions

AXES: Final = ("conv3", "flops", "params", "latency", "none")

_PLACE_VALUES: Final = len(OPS) ** np.arange(NUM_EDGES - 1, -1, -1)


def space_position(arch: Architecture) -> int:
    """Return the architecture's position in `SearchSpace` order (its op codes read in base 5)."""
    return int(np.dot(arch.codes, _PLACE_VALUES))


@dataclass(frozen=True)
class Partition:
    """One part of the space: its number, a short name, and a description an LLM can act on."""

    index: int
    name: str
    description: str
    size: int
    _contains: Callable[[Architecture], bool] = field(repr=False, compare=False)

    def contains(self, arch: Architecture) -> bool:
        """Whether `arch` lies in this partition."""
        return self._contains(arch)


class Partitioning:
    """A split of the whole space into disjoint partitions along one axis."""

    def __init__(self, axis: str, names: list[str], descriptions: list[str], labels: np.ndarray) -> None:
        """`labels[p]` is the partition of the architecture at enumeration position `p`."""
        self.axis = axis
        self._labels = labels
        self._members = [np.flatnonzero(labels == i) for i in range(len(names))]
        for members in self._members:
            members.setflags(write=False)
        self.partitions = tuple(
            Partition(i, name, text, len(self._members[i]), self._membership_test(i))
            for i, (name, text) in enumerate(zip(names, descriptions, strict=True))
        )

    def _membership_test(self, index: int) -> Callable[[Architecture], bool]:
        return lambda arch: self.assign(arch) == index

    def __len__(self) -> int:
        return len(self.partitions)

    def assign(self, arch: Architecture) -> int:
        """Return the index of the partition holding `arch`."""
        return int(self._labels[space_position(arch)])

    def sizes(self) -> tuple[int, ...]:
        """How many architectures each partition holds."""
        return tuple(p.size for p in self.partitions)

    def positions(self, index: int) -> np.ndarray:
        """Return the enumeration positions (see `architecture_at`) of partition `index`'s members."""
        return self._members[self._check(index)]

    def members(self, index: int) -> list[Architecture]:
        """Return every architecture of partition `index`, in enumeration order."""
        return [architecture_at(int(p)) for p in self.positions(index)]

    def sample(self, index: int, rng: np.random.Generator) -> Architecture:
        """One architecture drawn uniformly from partition `index`."""
        members = self._members[self._check(index)]
        return architecture_at(int(members[rng.integers(len(members))]))

    def describe(self) -> str:
        """One line per partition: index, name, size and description."""
        return "\n".join(f"{p.index}. {p.name} ({p.size} archs): {p.description}" for p in self.partitions)

    def _check(self, index: int) -> int:
        if not 0 <= index < len(self.partitions):
            raise UsageError(f"partition {index} does not exist; the {self.axis} axis has 0..{len(self) - 1}")
        return index


def architecture_at(position: int) -> Architecture:
    """Return the architecture at `position` in `SearchSpace` order (inverse of `space_position`)."""
    return Architecture.from_codes(((position // _PLACE_VALUES) % len(OPS)).tolist())


@cache
def distinct_architectures() -> tuple[Architecture, ...]:
    """One architecture per function a valid cell computes (`distinct_positions`), in `SearchSpace` order."""
    return tuple(architecture_at(p) for p in distinct_positions().values())


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


def _quantile_split(
    values: np.ndarray, bins: int, axis: str, metric: str, unit: str
) -> tuple[list[str], list[str], np.ndarray]:
    """Split by quantiles of `values` without separating equal values; returns names, descriptions, labels."""
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    labels = np.searchsorted(edges, values, side="right")
    used = np.unique(labels)  # a quantile edge at the maximum leaves its upper bin empty
    labels = np.searchsorted(used, labels)
    names, descriptions = [], []
    for i in range(len(used)):
        inside = values[labels == i]
        low, high = float(inside.min()), float(inside.max())
        names.append(f"{axis}-q{i + 1}of{len(used)}")
        descriptions.append(f"{metric} from {low:.4g} to {high:.4g} {unit} (bin {i + 1} of {len(used)}, low to high)")
    return names, descriptions, labels


def make_partitioning(
    axis: str,
    *,
    bins: int = 6,
    dataset: str = "cifar10",
    tables: BenchmarkTables | None = None,
    device: str | None = None,
) -> Partitioning:
    """Build the partitioning of the whole space along `axis` (one of AXES)."""
    if axis not in AXES:
        raise UsageError(f"unknown partition axis {axis!r}; accepted: {', '.join(AXES)}")
    dataset_shape(dataset)
    archs = list(SearchSpace())
    if axis == "conv3":
        labels = np.fromiter((_conv3_niche(a) for a in archs), dtype=np.int64, count=SPACE_SIZE)
        return Partitioning(axis, list(_CONV3_NAMES), list(_CONV3_DESCRIPTIONS), labels)
    if axis == "none":
        return Partitioning(axis, ["whole-space"], ["any architecture of the space"], np.zeros(SPACE_SIZE, np.int64))
    if bins < 1:
        raise UsageError(f"--bins must be at least 1, got {bins}")
    if axis == "flops":
        values = np.array([flops_m(a, dataset) for a in archs])
        names, descriptions, labels = _quantile_split(values, bins, axis, "FLOPs", f"MFLOPs on {dataset}")
    elif axis == "params":
        values = np.array([params_m(a, dataset) for a in archs])
        names, descriptions, labels = _quantile_split(values, bins, axis, "parameters", f"M on {dataset}")
    else:
        if tables is None or device is None:
            raise UsageError("the latency axis needs the benchmark tables and a --device")
        latency = tables.latency_ms(dataset, device)
        values = latency[tables.rows(archs)]
        names, descriptions, labels = _quantile_split(values, bins, axis, f"{device} latency", f"ms on {dataset}")
    return Partitioning(axis, names, descriptions, labels)
