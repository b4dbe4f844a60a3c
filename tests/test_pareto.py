from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from hwnas.core.objectives import Objective
from hwnas.pareto import Archive, hv_b, igd, non_dominated_mask, non_dominated_records, true_front
from hwnas.spaces.nb201.tables import BenchmarkTables

FRONT = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
# Reference point 1.1 x nadir = (1.1, 1.1); front HV = 0.5*0.1 + 0.5*0.6 + 0.1*1.1 = 0.46.
FRONT_HV = 0.46


def test_front_scores_itself_perfectly() -> None:
    assert igd(FRONT, FRONT) == pytest.approx(0.0)
    assert hv_b(FRONT, FRONT) == pytest.approx(1.0)


def test_one_extreme_point_by_hand() -> None:
    points = np.array([[0.0, 1.0]])
    assert igd(points, FRONT) == pytest.approx((0.0 + math.sqrt(0.5) + math.sqrt(2.0)) / 3)
    assert hv_b(points, FRONT) == pytest.approx(1.1 * 0.1 / FRONT_HV)


def test_dominated_points_do_not_count_for_igd() -> None:
    # (0.2, 1.05) lies closer to (0.5, 0.5) than (0, 1) does, but (0, 1) dominates it.
    points = np.array([[0.0, 1.0], [0.2, 1.05]])
    assert igd(points, FRONT) == pytest.approx(igd(points[:1], FRONT))


def test_points_beyond_the_reference_add_no_volume_and_empty_sets_score_worst() -> None:
    assert hv_b(np.array([[1.2, 0.0]]), FRONT) == 0.0
    assert hv_b(np.empty((0, 2)), FRONT) == 0.0
    assert igd(np.empty((0, 2)), FRONT) == math.inf


def test_middle_point_by_hand() -> None:
    points = np.array([[0.5, 0.5]])
    assert igd(points, FRONT) == pytest.approx((2 * math.sqrt(0.5)) / 3)
    assert hv_b(points, FRONT) == pytest.approx(0.6 * 0.6 / FRONT_HV)


def test_non_dominated_mask_keeps_first_of_equal_points() -> None:
    points = np.array([[1.0, 1.0], [0.0, 2.0], [1.0, 1.0], [2.0, 2.0], [2.0, 0.0]])
    assert non_dominated_mask(points).tolist() == [True, True, False, False, True]


@dataclass(frozen=True)
class Scored:
    score: float
    latency_ms: float


def test_archive_maximises_score_and_minimises_latency() -> None:
    archive: Archive[Scored] = Archive()
    assert archive.add(Scored(90.0, 5.0))
    assert not archive.add(Scored(89.0, 6.0))  # worse on both
    assert not archive.add(Scored(90.0, 5.0))  # equal
    assert archive.add(Scored(85.0, 2.0))  # a trade-off
    assert archive.add(Scored(91.0, 4.0))  # dominates the first
    assert archive.front == [Scored(85.0, 2.0), Scored(91.0, 4.0)]


def test_archive_takes_a_third_objective_and_mappings() -> None:
    archive: Archive[dict[str, float]] = Archive(
        (Objective("score", True), Objective("latency_ms", False), Objective("energy", False))
    )
    assert archive.add({"score": 90.0, "latency_ms": 5.0, "energy": 3.0})
    assert archive.add({"score": 90.0, "latency_ms": 5.0, "energy": 2.0})
    assert len(archive) == 1
    records = [
        {"score": 1.0, "latency_ms": 1.0},
        {"score": 2.0, "latency_ms": 2.0},
        {"score": 0.5, "latency_ms": 3.0},
    ]
    assert non_dominated_records(records) == records[:2]


@pytest.mark.parametrize(("device", "size"), [("fpga", 13), ("eyeriss", 16), ("raspi4", 43), ("pixel3", 43)])
def test_true_front_sizes_match_eval_md(tables: BenchmarkTables, device: str, size: int) -> None:
    front = true_front(tables, "cifar10", device)
    assert len(front.rows) == size
    assert front.rows[0] == 6111  # the most accurate CIFAR-10 cell
    assert front.objectives_all[:, 1].min() == 0.0 and front.objectives_all[:, 1].max() == 1.0
    assert front.igd(front.arch_strs) == pytest.approx(0.0)
    assert front.hv_b(front.arch_strs) == pytest.approx(1.0)


def test_excluding_degenerate_cells(tables: BenchmarkTables) -> None:
    full = true_front(tables, "cifar10", "raspi4")
    valid = true_front(tables, "cifar10", "raspi4", exclude_degenerate=True)
    degenerate = [s for s, ok in zip(tables.arch_strs, tables.valid_mask, strict=True) if not ok]
    assert len(valid.rows) == 42 and tables.valid_mask[valid.rows].all()
    assert valid.objectives(degenerate).shape == (0, 2)
    assert full.objectives(degenerate).shape == (len(degenerate), 2)
    assert valid.latency_range == full.latency_range  # same normalisation either way
