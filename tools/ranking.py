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
along latency is what the true front rewards. `hedge` widens every uncertainty by a share of the score
range, so the ranking does not trust a cheap estimator's small differences more than they deserve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy.stats import norm

from hwnas.pareto import non_dominated_mask

REFERENCE: Final = 1.1
"""The reference point in the run's frame: 10 % beyond the worst score and the slowest latency seen."""


@dataclass(frozen=True)
class Frame:
    """Maps scores (maximised) and latencies to the minimised, roughly unit-range objectives f1, f2."""

    score_low: float
    score_high: float
    latency_low: float
    latency_high: float

    @classmethod
    def around(cls, scores: np.ndarray, latencies: np.ndarray) -> Frame:
        """The frame spanned by the given scores and latencies (a zero range becomes 1)."""
        s_low, s_high = float(np.min(scores)), float(np.max(scores))
        l_low, l_high = float(np.min(latencies)), float(np.max(latencies))
        return cls(s_low, s_high if s_high > s_low else s_low + 1.0, l_low, l_high if l_high > l_low else l_low + 1.0)

    def loss(self, scores: np.ndarray) -> np.ndarray:
        """f1: 0 at the best score evaluated, 1 at the worst."""
        return (self.score_high - np.asarray(scores, dtype=np.float64)) / (self.score_high - self.score_low)

    def loss_std(self, std: np.ndarray) -> np.ndarray:
        """A score's standard deviation in f1 units."""
        return np.asarray(std, dtype=np.float64) / (self.score_high - self.score_low)

    def latency(self, latencies: np.ndarray) -> np.ndarray:
        """f2: 0 at the fastest latency, 1 at the slowest."""
        return (np.asarray(latencies, dtype=np.float64) - self.latency_low) / (self.latency_high - self.latency_low)

    def points(self, scores: np.ndarray, latencies: np.ndarray) -> np.ndarray:
        """Evaluated (score, latency) pairs as (f1, f2) rows: the front the ranking improves on."""
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


def greedy_batch(
    front: np.ndarray, loss_mean: np.ndarray, loss_std: np.ndarray, latency: np.ndarray, count: int
) -> list[Ranked]:
    """Pick up to `count` candidates one by one by EHVI, each pick joining the front at its predicted mean."""
    front = np.asarray(front, dtype=np.float64).reshape(-1, 2)
    remaining = np.ones(len(loss_mean), dtype=bool)
    picks: list[Ranked] = []
    for _ in range(min(count, len(loss_mean))):
        gains = np.where(remaining, expected_improvement(front, loss_mean, loss_std, latency), -np.inf)
        best = int(np.argmax(gains))  # ties go to the first candidate, so the order is deterministic
        picks.append(Ranked(best, float(gains[best])))
        remaining[best] = False
        front = np.vstack([front, [loss_mean[best], latency[best]]])
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
    return greedy_batch(front, frame.loss(mean), widen * frame.loss_std(std), frame.latency(latency), count)


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
    frame = Frame.around(scores, np.zeros(1))  # latency plays no part: its frame is unused
    loss_mean, loss_std = frame.loss(mean), widen * frame.loss_std(std)
    best = float(frame.loss(np.array([np.max(scores)]))[0])
    remaining = np.ones(len(loss_mean), dtype=bool)
    picks: list[Ranked] = []
    for _ in range(min(count, len(loss_mean))):
        gains = np.where(remaining, improvement_over(best, loss_mean, loss_std), -np.inf)
        pick = int(np.argmax(gains))  # ties go to the first candidate, so the order is deterministic
        picks.append(Ranked(pick, float(gains[pick])))
        remaining[pick] = False
        best = min(best, float(loss_mean[pick]))
    return picks
