"""Candidates ranked by what they would add: expected hypervolume improvement (EHVI) over the run's front.

(With accuracy as the only objective, `rank_by_improvement` ranks by the expected improvement (EI) over
the best score instead, greedily in the same way; see the end of this module.)

Two objectives, both minimised in a frame taken from the run: `f1`, the estimator score turned into a
loss and scaled by the range of scores evaluated so far; `f2`, latency scaled by the range of latencies
evaluated or offered. A candidate's latency is known (a free lookup); its score is the surrogate's
normal prediction. The hypervolume a point adds at latency `t` is `max(0, G(t) - y)`, where `G` is the
front's staircase (the best loss reached at latency <= t), so over the latency segments between front
points the improvement is a sum of `width x max(0, G - y)`, and its expectation under a normal `y` is a
sum of closed-form expected improvements. No sampling, exact, and vectorised over candidates.

A batch is chosen greedily: after each pick the candidate joins the front at its predicted mean (the
"kriging believer"), so the next pick fills another gap instead of crowding the same spot; spread
along latency is what the true front rewards. `widen` scales every uncertainty (the Navigator's strategy
sets it: explore trusts the surrogate's means less, exploit more). `greedy_groups` keeps each step's
runners-up beside its pick: near-ties a Generator may choose among.

A fleet of devices (`--device fpga,raspi4`) has one latency objective per device (`f2, f3, ...`, each
scaled by its own range). The same identity holds with a grid in place of the staircase: cut the latency
box at every front coordinate; a cell's height is the best loss among the front points that dominate its
lower corner, and the improvement is the sum over cells of (the cell's overlap with the candidate's box)
x (the closed-form expected improvement below that height) (`expected_improvement_fleet`). The grid
grows as the front's size to the power of the number of devices, so fleets are ranked for two devices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy.stats import norm

from hwnas.errors import UsageError
from hwnas.pareto import non_dominated_mask

REFERENCE: Final = 1.1
"""The reference point in the run's frame: 10 % beyond the worst score and the slowest latency seen."""
MAX_FLEET: Final = 2
"""Devices a fleet ranking takes (the grid has about (front size)^devices cells)."""
LAZY_BATCH: Final = 64
"""Candidates a fleet's greedy batch re-scores per pick before trusting the rest's earlier gains."""


@dataclass(frozen=True)
class Frame:
    """Maps scores (maximised) and latencies to the minimised, roughly unit-range objectives f1, f2 (, f3 ...).

    Latencies are one value per architecture (one device) or one row of per-device values (a fleet);
    each device gets its own range.
    """

    score_low: float
    score_high: float
    latency_low: tuple[float, ...]
    latency_high: tuple[float, ...]

    @classmethod
    def around(cls, scores: np.ndarray, latencies: np.ndarray) -> Frame:
        """The frame spanned by the given scores and latencies (a zero range becomes 1)."""
        s_low, s_high = float(np.min(scores)), float(np.max(scores))
        columns = np.asarray(latencies, dtype=np.float64)
        columns = columns.reshape(len(columns), -1)
        lows = [float(v) for v in columns.min(axis=0)]
        highs = [float(h) if h > low else low + 1.0 for low, h in zip(lows, columns.max(axis=0), strict=True)]
        return cls(s_low, s_high if s_high > s_low else s_low + 1.0, tuple(lows), tuple(highs))

    @property
    def devices(self) -> int:
        """How many latency objectives the frame scales."""
        return len(self.latency_low)

    def loss(self, scores: np.ndarray) -> np.ndarray:
        """f1: 0 at the best score evaluated, 1 at the worst."""
        return (self.score_high - np.asarray(scores, dtype=np.float64)) / (self.score_high - self.score_low)

    def loss_std(self, std: np.ndarray) -> np.ndarray:
        """A score's standard deviation in f1 units."""
        return np.asarray(std, dtype=np.float64) / (self.score_high - self.score_low)

    def latency(self, latencies: np.ndarray) -> np.ndarray:
        """f2 (one device: a vector) or f2, f3 ... (a fleet: one column per device): 0 fastest, 1 slowest."""
        values = np.asarray(latencies, dtype=np.float64)
        if values.ndim == 1:
            return (values - self.latency_low[0]) / (self.latency_high[0] - self.latency_low[0])
        low, high = np.asarray(self.latency_low), np.asarray(self.latency_high)
        return (values - low) / (high - low)

    def points(self, scores: np.ndarray, latencies: np.ndarray) -> np.ndarray:
        """Evaluated (score, latency...) rows as (f1, f2, ...) rows: the front the ranking improves on."""
        return np.column_stack([self.loss(scores), self.latency(latencies)])


def expected_improvement(
    front: np.ndarray, loss_mean: np.ndarray, loss_std: np.ndarray, latency: np.ndarray
) -> np.ndarray:
    """EHVI of each candidate (f1 ~ N(loss_mean, loss_std), f2 = latency) over `front` (M x 2, minimised).

    The reference point is (REFERENCE, REFERENCE); points beyond it add nothing.
    """
    front = np.asarray(front, dtype=np.float64).reshape(-1, 2)
    front = front[non_dominated_mask(front)] if len(front) else front
    front = front[np.argsort(front[:, 1], kind="stable")]
    # Segment k spans latencies [starts[k], ends[k]); on it the front's best loss is heights[k].
    starts = np.concatenate([[-np.inf], front[:, 1]])
    ends = np.concatenate([front[:, 1], [REFERENCE]])
    heights = np.minimum(np.minimum.accumulate(np.concatenate([[REFERENCE], front[:, 0]])), REFERENCE)
    latency = np.asarray(latency, dtype=np.float64)[:, None]
    widths = np.clip(np.minimum(ends, REFERENCE)[None, :] - np.maximum(starts[None, :], latency), 0.0, None)
    mean = np.asarray(loss_mean, dtype=np.float64)[:, None]
    std = np.asarray(loss_std, dtype=np.float64)[:, None]
    z = (heights[None, :] - mean) / std
    improvement = (heights[None, :] - mean) * norm.cdf(z) + std * norm.pdf(z)
    return np.asarray((widths * improvement).sum(axis=1))


@dataclass(frozen=True)
class Ranked:
    """One pick of a greedy batch: the candidate's index and its expected gain when it was picked."""

    index: int
    gain: float


def expected_improvement_fleet(
    front: np.ndarray, loss_mean: np.ndarray, loss_std: np.ndarray, latency: np.ndarray
) -> np.ndarray:
    """EHVI of each candidate (f1 ~ N(loss_mean, loss_std), known latencies: N x k) over `front` (M x (1 + k)).

    The reference point is REFERENCE in every objective; points beyond it add nothing.
    """
    latency = np.asarray(latency, dtype=np.float64)
    count, devices = latency.shape
    front = np.asarray(front, dtype=np.float64).reshape(-1, 1 + devices)
    front = front[np.all(front < REFERENCE, axis=1)]
    front = front[non_dominated_mask(front)]
    # Per device, the cells between consecutive front coordinates; each candidate's overlap with each cell.
    edges = [np.concatenate([[-np.inf], np.unique(front[:, 1 + d]), [REFERENCE]]) for d in range(devices)]
    overlap = np.ones((count, 1))
    for d, edge in enumerate(edges):
        along = np.clip(edge[None, 1:] - np.maximum(edge[None, :-1], latency[:, d : d + 1]), 0.0, None)
        overlap = (overlap[:, :, None] * along[:, None, :]).reshape(count, -1)
    corners = np.stack(np.meshgrid(*(edge[:-1] for edge in edges), indexing="ij"), axis=-1).reshape(-1, devices)
    dominates = np.all(front[None, :, 1:] <= corners[:, None, :], axis=2)
    heights = np.min(np.where(dominates, front[None, :, 0], REFERENCE), axis=1, initial=REFERENCE)
    mean = np.asarray(loss_mean, dtype=np.float64)[:, None]
    std = np.asarray(loss_std, dtype=np.float64)[:, None]
    z = (heights[None, :] - mean) / std
    improvement = (heights[None, :] - mean) * norm.cdf(z) + std * norm.pdf(z)
    return np.asarray((overlap * improvement).sum(axis=1))


def greedy_groups(
    front: np.ndarray, loss_mean: np.ndarray, loss_std: np.ndarray, latency: np.ndarray, steps: int, per_step: int
) -> list[list[Ranked]]:
    """`steps` greedy EHVI picks, each with the `per_step - 1` runners-up of its step: disjoint groups.

    The picks are `greedy_batch`'s: at each step the best candidate joins the front at its predicted mean
    (the kriging believer), so the next step fills another gap. A step's runners-up were nearly as good
    as its pick at that moment; no candidate is in two groups. A group is a set of near-ties: a Generator
    that chooses within one gives up little of the batch's expected gain (`OPTION_LISTS` in
    `hwnas.tools.coordinator`). `per_step` shrinks when the candidates cannot fill every group. `latency`
    is a vector or one column per device.
    """
    latency = np.asarray(latency, dtype=np.float64)
    latency = latency.reshape(len(latency), -1)
    if per_step == 1 and latency.shape[1] > 1:
        return [[pick] for pick in fleet_greedy_batch(front, loss_mean, loss_std, latency, steps)]
    front = np.asarray(front, dtype=np.float64).reshape(-1, 1 + latency.shape[1])
    gains_over = expected_improvement if latency.shape[1] == 1 else expected_improvement_fleet
    along = latency[:, 0] if latency.shape[1] == 1 else latency

    def gains_given(picked: list[int]) -> np.ndarray:
        believed = np.column_stack([np.asarray(loss_mean)[picked], latency[picked]])
        return gains_over(np.vstack([front, believed]), loss_mean, loss_std, along)

    return _stepwise(gains_given, len(loss_mean), steps, per_step)


def _stepwise(
    gains_given: Callable[[list[int]], np.ndarray], count: int, steps: int, per_step: int
) -> list[list[Ranked]]:
    """The greedy loop shared by both rankings (`gains_given(picks so far)` scores every candidate).

    The picks are exactly the greedy batch's; each step's runners-up are then the best candidates at that
    step that no step picked and no earlier group took.
    """
    per_step = max(1, min(per_step, count // max(steps, 1)))
    remaining = np.ones(count, dtype=bool)
    picked: list[int] = []
    gains_at: list[np.ndarray] = []
    for _ in range(min(steps, count)):
        gains = np.where(remaining, gains_given(picked), -np.inf)
        best = int(np.argmax(gains))  # ties go to the first candidate, so the order is deterministic
        picked.append(best)
        gains_at.append(gains)
        remaining[best] = False
    groups: list[list[Ranked]] = []
    for best, gains in zip(picked, gains_at, strict=True):
        runners_up = [int(i) for i in np.argsort(-gains, kind="stable") if remaining[i]][: per_step - 1]
        remaining[runners_up] = False
        groups.append([Ranked(i, float(gains[i])) for i in (best, *runners_up)])
    return groups


def greedy_batch(
    front: np.ndarray, loss_mean: np.ndarray, loss_std: np.ndarray, latency: np.ndarray, count: int
) -> list[Ranked]:
    """Pick up to `count` candidates one by one by EHVI, each pick joining the front at its predicted mean.

    `latency` is a vector or one column (one device), or one column per device (a fleet: `fleet_greedy_batch`).
    """
    return [group[0] for group in greedy_groups(front, loss_mean, loss_std, latency, count, 1)]


def fleet_greedy_batch(
    front: np.ndarray, loss_mean: np.ndarray, loss_std: np.ndarray, latency: np.ndarray, count: int
) -> list[Ranked]:
    """`greedy_batch` for a fleet (latency N x k, k <= MAX_FLEET), lazily.

    A candidate's gain can only shrink as the front grows, so after the first pick only the
    `LAZY_BATCH` candidates with the largest earlier gains are re-scored; the best of them is taken when
    its fresh gain is at least every other candidate's earlier gain (else all are re-scored). The picks
    are those of re-scoring everything each time.
    """
    latency = np.asarray(latency, dtype=np.float64)
    if latency.shape[1] > MAX_FLEET:
        raise UsageError(f"the EHVI ranking takes fleets of at most {MAX_FLEET} devices, got {latency.shape[1]}")
    front = np.asarray(front, dtype=np.float64).reshape(-1, 1 + latency.shape[1])
    mean, std = np.asarray(loss_mean, dtype=np.float64), np.asarray(loss_std, dtype=np.float64)
    gains = expected_improvement_fleet(front, mean, std, latency)  # upper bounds once the front grows
    remaining = np.ones(len(mean), dtype=bool)
    picks: list[Ranked] = []
    for _ in range(min(count, len(mean))):
        if picks:
            bounds = np.where(remaining, gains, -np.inf)
            order = np.argsort(-bounds, kind="stable")
            head = order[:LAZY_BATCH]
            gains[head] = expected_improvement_fleet(front, mean[head], std[head], latency[head])
            rest_bound = bounds[order[LAZY_BATCH]] if len(order) > LAZY_BATCH else -np.inf
            if np.max(np.where(remaining[head], gains[head], -np.inf)) < rest_bound:
                gains = expected_improvement_fleet(front, mean, std, latency)
        scored = np.where(remaining, gains, -np.inf)
        best = int(np.argmax(scored))  # ties go to the first candidate, so the order is deterministic
        picks.append(Ranked(best, float(scored[best])))
        remaining[best] = False
        front = np.vstack([front, [mean[best], *latency[best]]])
    return picks


def rank(
    frame: Frame,
    front: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    latency: np.ndarray,
    count: int,
    widen: float = 1.0,
) -> list[Ranked]:
    """`greedy_batch` on candidates given in the estimator's and latency model's own units.

    `widen` scales the surrogate's standard deviations before ranking.
    """
    return [group[0] for group in rank_groups(frame, front, mean, std, latency, count, 1, widen)]


def rank_groups(
    frame: Frame,
    front: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    latency: np.ndarray,
    steps: int,
    per_step: int,
    widen: float = 1.0,
) -> list[list[Ranked]]:
    """`greedy_groups` on candidates given in the estimator's and latency model's own units (`widen` as `rank`)."""
    return greedy_groups(front, frame.loss(mean), widen * frame.loss_std(std), frame.latency(latency), steps, per_step)


def improvement_over(best_loss: float, loss_mean: np.ndarray, loss_std: np.ndarray) -> np.ndarray:
    """Expected improvement of each candidate (loss ~ N(loss_mean, loss_std)) below `best_loss` (minimised)."""
    mean = np.asarray(loss_mean, dtype=np.float64)
    std = np.maximum(np.asarray(loss_std, dtype=np.float64), 1e-12)
    z = (best_loss - mean) / std
    return np.asarray((best_loss - mean) * norm.cdf(z) + std * norm.pdf(z))


def rank_by_improvement(
    scores: np.ndarray, mean: np.ndarray, std: np.ndarray, count: int, widen: float = 1.0
) -> list[Ranked]:
    """Pick up to `count` candidates one by one by expected improvement over the best of `scores`.

    Single-objective counterpart of `rank`: scores (maximised) become losses scaled by the range of
    `scores` evaluated so far, so a gain reads as a share of that range; after each pick the best loss
    becomes the smaller of it and the pick's predicted mean (the same "kriging believer" as `greedy_batch`).
    `widen` scales the surrogate's standard deviations.
    """
    return [group[0] for group in improvement_groups(scores, mean, std, count, 1, widen)]


def improvement_groups(
    scores: np.ndarray, mean: np.ndarray, std: np.ndarray, steps: int, per_step: int, widen: float = 1.0
) -> list[list[Ranked]]:
    """`rank_by_improvement`'s picks, each with the `per_step - 1` runners-up of its step (as `greedy_groups`)."""
    frame = Frame.around(scores, np.zeros(1))  # latency plays no part: its frame is unused
    loss_mean, loss_std = frame.loss(mean), widen * frame.loss_std(std)
    best = float(frame.loss(np.array([np.max(scores)]))[0])

    def gains_given(picked: list[int]) -> np.ndarray:
        return improvement_over(min([best, *loss_mean[picked]]), loss_mean, loss_std)

    return _stepwise(gains_given, len(loss_mean), steps, per_step)
