"""Complexity-driven partitions of a search space: the niches the agent graph fans out over.

`make_partitioning(space, axis, ...)` splits every architecture of the space along one named axis:
- the space's own complexity niches (`space.niches()`; for NB201, `conv3`: PEL-NAS's six niches by the
  number of `nor_conv_3x3` edges: 0: no 3x3 and no 1x1; 1: no 3x3 and at least one 1x1; 2/3/4: exactly
  1/2/3 3x3; 5: four or more);
- each analytic cost the space has (NB201: `flops`, `params`): K quantile bins of it on a dataset;
- `latency`: K quantile bins of a device's table latency (needs the tables and a device);
- `random`: as many partitions as the space's niches, of the same sizes, filled with members drawn at
  random (a seeded permutation of the niche labels): the control that keeps the budget's spread and
  drops the complexity pattern;
- `none`: the whole space as one partition (the ablation without partitions).
Quantile bins never split architectures with the same value, so ties can leave fewer than K bins.
Each partition has a human description that prompts quote verbatim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from hwnas.core.space import Architecture, SearchSpace
from hwnas.core.tables import Tables
from hwnas.errors import UsageError

GENERIC_AXES: Final = ("latency", "random", "none")
"""Axes every space has; `axes(space)` adds the space's niches and analytic costs."""


def axes(space: SearchSpace, dataset: str | None = None) -> tuple[str, ...]:
    """The partition axes of `space`: its complexity niches, its analytic costs, `latency`, `random` and `none`."""
    costs = space.analytic_costs(dataset or space.datasets[0]) or {}
    return (space.niches().axis, *costs, *GENERIC_AXES)


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

    def __init__(
        self, space: SearchSpace, axis: str, names: list[str], descriptions: list[str], labels: np.ndarray
    ) -> None:
        """`labels[p]` is the partition of the architecture at enumeration position `p` of `space`."""
        self.space = space
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
        return int(self._labels[self.space.position(arch)])

    def sizes(self) -> tuple[int, ...]:
        """How many architectures each partition holds."""
        return tuple(p.size for p in self.partitions)

    def positions(self, index: int) -> np.ndarray:
        """Return the enumeration positions (see `SearchSpace.at`) of partition `index`'s members."""
        return self._members[self._check(index)]

    def members(self, index: int) -> list[Architecture]:
        """Return every architecture of partition `index`, in enumeration order."""
        return [self.space.at(int(p)) for p in self.positions(index)]

    def sample(self, index: int, rng: np.random.Generator) -> Architecture:
        """One architecture drawn uniformly from partition `index`."""
        members = self._members[self._check(index)]
        return self.space.at(int(members[rng.integers(len(members))]))

    def _check(self, index: int) -> int:
        if not 0 <= index < len(self.partitions):
            raise UsageError(f"partition {index} does not exist; the {self.axis} axis has 0..{len(self) - 1}")
        return index


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
    space: SearchSpace,
    axis: str,
    *,
    bins: int = 6,
    dataset: str = "cifar10",
    tables: Tables | None = None,
    device: str | None = None,
    seed: int = 0,
) -> Partitioning:
    """Build the partitioning of the whole of `space` along `axis` (one of `axes(space)`).

    `seed` draws the members of the `random` axis's partitions (the other axes do not use it).
    """
    space.check_dataset(dataset)
    niches = space.niches()
    costs = space.analytic_costs(dataset) or {}
    if axis not in (niches.axis, *costs, *GENERIC_AXES):
        raise UsageError(f"unknown partition axis {axis!r}; accepted: {', '.join(axes(space, dataset))}")
    if axis == niches.axis:
        labels = np.fromiter((niches.niche_of(a) for a in space), dtype=np.int64, count=space.size)
        return Partitioning(space, axis, list(niches.names), list(niches.descriptions), labels)
    if axis == "random":
        niche_labels = np.fromiter((niches.niche_of(a) for a in space), dtype=np.int64, count=space.size)
        labels = np.random.default_rng(seed).permutation(niche_labels)
        sizes = np.bincount(labels, minlength=len(niches.names))
        names = [f"random-{i + 1}of{len(sizes)}" for i in range(len(sizes))]
        descriptions = [
            f"a fixed random set of {size} architectures (random partition {i + 1} of {len(sizes)}, seed {seed})"
            for i, size in enumerate(sizes)
        ]
        return Partitioning(space, axis, names, descriptions, labels)
    if axis == "none":
        labels = np.zeros(space.size, np.int64)
        return Partitioning(space, axis, ["whole-space"], ["any architecture of the space"], labels)
    if bins < 1:
        raise UsageError(f"--bins must be at least 1, got {bins}")
    if axis in costs:
        metric, unit = _COST_WORDS.get(axis, (axis, ""))
        values = np.array([costs[axis](a) for a in space])
        names, descriptions, labels = _quantile_split(values, bins, axis, metric, f"{unit} on {dataset}".strip())
    else:
        if tables is None or device is None:
            raise UsageError("the latency axis needs the benchmark tables and a --device")
        if "," in device:
            raise UsageError(f"the latency axis splits by one device's latency; --device {device} is a fleet")
        latency = tables.latency_ms(dataset, device)
        values = latency[tables.rows(list(space))]
        names, descriptions, labels = _quantile_split(values, bins, axis, f"{device} latency", f"ms on {dataset}")
    return Partitioning(space, axis, names, descriptions, labels)


_COST_WORDS: Final = {"flops": ("FLOPs", "MFLOPs"), "params": ("parameters", "M")}
"""How a cost axis reads in partition descriptions."""
