"""Pareto archives and the two quality indicators of a search, exactly as `../shared/EVAL.md` defines them.

- `Archive`: the non-dominated subset of evaluated records under named objectives (by default: maximise
  the estimator's `score`, minimise `latency_ms`); another objective is one more `Objective`.
- `true_front(tables, dataset, device)`: the true front of all architectures of the space in the normalised
  objectives f1 = 1 - test_acc/100 and f2 = (lat - lat_min)/(lat_max - lat_min), min and max over all 15,625
  architectures (a fleet `device`, `fpga,raspi4`: one such latency objective per device, so the front, IGD and HV_B
  are in 1 + k dimensions, pymoo's indicators being dimension-free); with `exclude_degenerate=True` the cells whose
  output is cut off from their input are left out of the front and of every evaluated set (the normalisation stays
  the same).
- `igd(points, front)`: mean over front points of the distance to the nearest non-dominated point of
  `points` (pymoo `IGD`); `hv_b(points, front)`: hypervolume of `points` over that of the front, both
  with the reference point 1.1 x nadir(front) (pymoo `HV`). All objectives are minimised here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final, Generic, TypeVar

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.indicators.igd import IGD

from hwnas.core.objectives import ACCURACY_LATENCY, Objective
from hwnas.core.space import Architecture
from hwnas.core.tables import Tables

REFERENCE_SCALE: Final = 1.1
"""HV_B's reference point is this multiple of the true front's nadir (EVAL.md)."""


R = TypeVar("R")


def non_dominated_mask(points: np.ndarray) -> np.ndarray:
    """Mark the points that no other point weakly dominates (all objectives minimised).

    Of several equal points only the first is kept.
    """
    points = np.asarray(points, dtype=np.float64)
    mask = np.zeros(len(points), dtype=bool)
    if len(points) == 0:
        return mask
    # In lexicographic order a point can only be dominated by points before it (np.lexsort is stable).
    order = np.lexsort(points.T[::-1])
    kept: list[int] = []
    for i in order:
        if kept and np.all(points[kept] <= points[i], axis=1).any():
            continue
        kept.append(int(i))
    mask[kept] = True
    return mask


def _minimised(record: object, objectives: Sequence[Objective]) -> np.ndarray:
    return np.array([-o.value(record) if o.maximise else o.value(record) for o in objectives])


class Archive(Generic[R]):
    """The non-dominated records seen so far, in the order they entered.

    A record is any object with the objectives as attributes, or a mapping with them as keys.
    """

    def __init__(self, objectives: Sequence[Objective] = ACCURACY_LATENCY) -> None:
        """Archive over `objectives`; each is read from the record attribute of that name."""
        if not objectives:
            raise ValueError("an archive needs at least one objective")
        self.objectives = tuple(objectives)
        self._records: list[R] = []
        self._points = np.empty((0, len(self.objectives)))

    def minimised(self, record: R) -> np.ndarray:
        """Return the record's objective vector, every objective turned into one to minimise."""
        return _minimised(record, self.objectives)

    def add(self, record: R) -> bool:
        """Insert `record` unless a member weakly dominates it; drop the members it dominates.

        Returns whether the record entered the archive.
        """
        point = self.minimised(record)
        if len(self._records) and np.all(self._points <= point, axis=1).any():
            return False
        keep = ~np.all(point <= self._points, axis=1)
        self._records = [r for r, k in zip(self._records, keep, strict=True) if k] + [record]
        self._points = np.vstack([self._points[keep], point])
        return True

    @property
    def front(self) -> list[R]:
        """The non-dominated records."""
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[R]:
        return iter(list(self._records))


def non_dominated_records(records: Sequence[R], objectives: Sequence[Objective] = ACCURACY_LATENCY) -> list[R]:
    """Return the records no other record weakly dominates, in their original order."""
    if not records:
        return []
    points = np.array([_minimised(r, objectives) for r in records])
    return [r for r, keep in zip(records, non_dominated_mask(points), strict=True) if keep]


def igd(points: np.ndarray, front: np.ndarray) -> float:
    """IGD of `points` against the true `front` (minimised objectives); inf when `points` is empty."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, np.shape(front)[1])
    if len(points) == 0:
        return float("inf")
    return float(IGD(np.asarray(front, dtype=np.float64))(points[non_dominated_mask(points)]))


def reference_point(front: np.ndarray) -> np.ndarray:
    """HV_B's reference point: 1.1 x the front's nadir (its component-wise maximum)."""
    return REFERENCE_SCALE * np.asarray(front, dtype=np.float64).max(axis=0)


def hv_b(points: np.ndarray, front: np.ndarray) -> float:
    """Hypervolume of `points` divided by that of the true `front`, reference point 1.1 x nadir(front)."""
    front = np.asarray(front, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64).reshape(-1, front.shape[1])
    indicator = HV(ref_point=reference_point(front))
    if len(points) == 0:
        return 0.0
    return float(indicator(points[non_dominated_mask(points)])) / float(indicator(front))


@dataclass(frozen=True, eq=False)
class TrueFront:
    """The true Pareto front of one (dataset, device) pair, and the objectives every architecture scores."""

    tables: Tables
    dataset: str
    device: str
    exclude_degenerate: bool
    latency_range: tuple[float, float]
    """Of the (first) device."""
    objectives_all: np.ndarray
    """(15,625, 2) normalised (f1, f2) in NB201 index order (a fleet of k devices: (15,625, 1 + k))."""
    included: np.ndarray
    """Rows that take part: all, or only non-degenerate cells."""
    rows: np.ndarray
    """NB201 indices of the front's architectures."""

    @property
    def points(self) -> np.ndarray:
        """The front's (f1, f2) points."""
        return self.objectives_all[self.rows]

    @property
    def arch_strs(self) -> list[str]:
        """The front's architectures."""
        return [self.tables.arch_strs[r] for r in self.rows]

    def objectives(self, archs: Sequence[Architecture | str]) -> np.ndarray:
        """Return the true (f1, f2) of `archs`, without degenerate cells if the front excludes them."""
        rows = self.tables.rows(archs)
        rows = rows[self.included[rows]]
        return self.objectives_all[rows]

    def igd(self, archs: Sequence[Architecture | str]) -> float:
        """IGD of the evaluated architectures `archs`."""
        return igd(self.objectives(archs), self.points)

    def hv_b(self, archs: Sequence[Architecture | str]) -> float:
        """HV_B of the evaluated architectures `archs`."""
        return hv_b(self.objectives(archs), self.points)


@cache
def _true_front(tables: Tables, dataset: str, device: str, exclude_degenerate: bool) -> TrueFront:
    columns = [1.0 - tables.accuracy(dataset, "test") / 100.0]
    for name in device.split(","):
        latency = tables.latency_ms(dataset, name)
        columns.append((latency - latency.min()) / (latency.max() - latency.min()))
    latency = tables.latency_ms(dataset, device.split(",")[0])
    low, high = float(latency.min()), float(latency.max())
    objectives_all = np.column_stack(columns)
    objectives_all.setflags(write=False)
    included = tables.valid_mask if exclude_degenerate else np.ones(len(latency), dtype=bool)
    candidates = np.flatnonzero(included)
    rows = candidates[non_dominated_mask(objectives_all[candidates])]
    rows = rows[np.argsort(objectives_all[rows, 0], kind="stable")]
    return TrueFront(tables, dataset, device, exclude_degenerate, (low, high), objectives_all, included, rows)


def has_truth(tables: Tables, dataset: str, device: str) -> bool:
    """Whether the tables hold latency on `dataset` for the device, or for every device of a fleet."""
    return all(tables.has(dataset, d) for d in device.split(","))


def true_front(tables: Tables, dataset: str, device: str, *, exclude_degenerate: bool = False) -> TrueFront:
    """Return the true front of (dataset, device) from the tables (cached per process).

    `device` may name a fleet, `fpga,raspi4`: the front is then over accuracy and each device's latency.
    """
    return _true_front(tables, dataset, device, exclude_degenerate)


def true_indicators(tables: Tables, dataset: str, device: str, archs: Sequence[Architecture | str]) -> dict[str, float]:
    """IGD and HV_B of the evaluated `archs`, with degenerate cells and without (`*_valid`)."""
    full = true_front(tables, dataset, device)
    valid = true_front(tables, dataset, device, exclude_degenerate=True)
    return {
        "igd": full.igd(archs),
        "hv_b": full.hv_b(archs),
        "igd_valid": valid.igd(archs),
        "hv_b_valid": valid.hv_b(archs),
    }
