"""The Coordinator's surrogate: predicts an unevaluated architecture's estimator score, with an uncertainty.

It is fit on the run's own evaluated architectures and the scores the run's estimator gave them, so it
costs no budget, and refit every round. Two models (scikit-learn, used as they are), chosen by
measurement (BENCHMARKS.md, "Surrogate"):

- `gp` (default): a Gaussian process whose kernel is a constant times an RBF over the one-hot encoding of
  the slots' ops, plus white noise. On one-hot vectors the squared distance is twice the number of
  slots that differ, so this is the exponentiated Hamming kernel, a standard kernel for categorical
  inputs. Scores are standardised; kernel hyper-parameters are fit by marginal likelihood.
- `trees`: extremely randomised trees; the uncertainty is the spread of the trees' predictions.

Features are the space's one-hot encoding and, where the space has an analytic parameter count, its log
on the run's dataset (free to compute, and in NB201 the strongest single predictor of accuracy).

What the surrogate fits, and the expected-hypervolume ranking compares, is the run's scores through a
`ScoreWarp`: by default (`copula`) each score is replaced by the standard normal quantile of its rank
among the run's evaluations. Raw scores spread most between poor architectures (a 30 % and a 60 % cell
differ more than every cell near the front), so one stationary kernel must fit both scales and a frame
spanning them shrinks the differences that decide the front; ranks spread evenly. The map is monotone,
so the front is the same; predictions go back to the estimator's units for prompts and traces. Measured
gain and the alternatives tried: BENCHMARKS.md, "Ranks, not raw scores".
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import cache
from typing import Final, Protocol

import numpy as np
from scipy.stats import norm, rankdata
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from hwnas.core.space import Architecture, SearchSpace
from hwnas.errors import UsageError

MIN_STD: Final = 1e-9
SCORE_WARPS: Final = ("copula", "none")
"""What the surrogate is fit on: the normal quantiles of the scores' ranks, or the scores as they are."""


def features(archs: Sequence[Architecture], space: SearchSpace, dataset: str) -> np.ndarray:
    """The space's one-hot encoding, plus log10 of the analytic parameter count if the space has one."""
    one_hot = space.encode(archs)
    if "params" not in (space.analytic_costs(dataset) or {}):
        return one_hot
    log_params = np.array([_log_params(a, dataset) for a in archs]).reshape(-1, 1)
    return np.hstack([one_hot, log_params])


@cache
def _log_params(arch: Architecture, dataset: str) -> float:
    # Cached: every round predicts the same untried members again, and the count is pure Python.
    costs = arch.space.analytic_costs(dataset)
    assert costs is not None  # features() asks only for spaces with a parameter count
    return math.log10(costs["params"](arch))


class Surrogate(Protocol):
    """Fit on (architecture, score) pairs; predict mean and standard deviation of unseen scores."""

    name: str

    def fit(self, archs: Sequence[Architecture], scores: np.ndarray) -> None:
        """Refit on every evaluated architecture and its estimator score."""
        ...

    def predict(self, archs: Sequence[Architecture]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of each architecture's score, in the estimator's units."""
        ...


class GaussianProcessSurrogate:
    """The exponentiated-Hamming Gaussian process (see the module docstring)."""

    name = "gp"

    def __init__(self, space: SearchSpace, dataset: str, seed: int = 0) -> None:
        self.space = space
        self.dataset = dataset
        self.seed = seed
        self._model: GaussianProcessRegressor | None = None

    def fit(self, archs: Sequence[Architecture], scores: np.ndarray) -> None:
        """Fit kernel hyper-parameters by marginal likelihood (two restarts, seeded)."""
        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * RBF(2.0, (1.0, 50.0)) + WhiteKernel(0.1, (1e-6, 0.3))
        self._model = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2, random_state=self.seed)
        with warnings.catch_warnings():
            # A bound reached by the optimiser is a fact about the data, not a fault worth printing.
            warnings.simplefilter("ignore", ConvergenceWarning)
            self._model.fit(features(archs, self.space, self.dataset), np.asarray(scores, dtype=np.float64))

    def predict(self, archs: Sequence[Architecture]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation (the fitted noise included)."""
        if self._model is None:
            raise RuntimeError("fit the surrogate before predicting")
        mean, std = self._model.predict(features(archs, self.space, self.dataset), return_std=True)
        return np.asarray(mean, dtype=np.float64), np.maximum(np.asarray(std, dtype=np.float64), MIN_STD)


class TreesSurrogate:
    """Extremely randomised trees; uncertainty from the trees' disagreement."""

    name = "trees"
    TREES: Final = 100

    def __init__(self, space: SearchSpace, dataset: str, seed: int = 0) -> None:
        self.space = space
        self.dataset = dataset
        self.seed = seed
        self._model: ExtraTreesRegressor | None = None

    def fit(self, archs: Sequence[Architecture], scores: np.ndarray) -> None:
        """Grow the forest (seeded)."""
        self._model = ExtraTreesRegressor(n_estimators=self.TREES, min_samples_leaf=2, random_state=self.seed)
        self._model.fit(features(archs, self.space, self.dataset), np.asarray(scores, dtype=np.float64))

    def predict(self, archs: Sequence[Architecture]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over the trees."""
        if self._model is None:
            raise RuntimeError("fit the surrogate before predicting")
        x = features(archs, self.space, self.dataset)
        per_tree = np.stack([tree.predict(x) for tree in self._model.estimators_])
        return per_tree.mean(axis=0), np.maximum(per_tree.std(axis=0), MIN_STD)


SURROGATES: Final[dict[str, type[GaussianProcessSurrogate] | type[TreesSurrogate]]] = {
    "gp": GaussianProcessSurrogate,
    "trees": TreesSurrogate,
}


def make_surrogate(name: str, *, space: SearchSpace, dataset: str, seed: int = 0) -> Surrogate:
    """Build the surrogate called `name`, or a UsageError listing the accepted names."""
    try:
        return SURROGATES[name](space, dataset, seed)
    except KeyError:
        raise UsageError(f"unknown surrogate {name!r}; accepted: {', '.join(SURROGATES)}") from None


def check_score_warp(name: str) -> None:
    """A UsageError naming the accepted warps, unless `name` is one."""
    if name not in SCORE_WARPS:
        raise UsageError(f"unknown --score-warp {name!r}; accepted: {', '.join(SCORE_WARPS)}")


class ScoreWarp:
    """The run's evaluated scores as the surrogate fits them (`values`), and the way back to score units.

    `copula`: each score becomes the standard normal quantile of its mid-rank, (rank - 1/2) / n (equal
    scores share a value); `none`: the scores as they are.
    """

    def __init__(self, scores: np.ndarray, kind: str) -> None:
        check_score_warp(kind)
        self.kind = kind
        self.scores = np.asarray(scores, dtype=np.float64)
        if kind == "none" or len(self.scores) == 0:
            self.values = self.scores
        else:
            self.values = norm.ppf((rankdata(self.scores) - 0.5) / len(self.scores))
        # The (value, score) pairs the way back interpolates through, one per distinct score, increasing.
        self._knots_x, first = np.unique(self.values, return_index=True)
        self._knots_y = self.scores[first]

    def to_scores(self, values: np.ndarray) -> np.ndarray:
        """Warped values back in score units.

        Piecewise linear through the evaluated (value, score) pairs, extended linearly beyond the first and
        last, so a prediction above the best evaluated stays above it.
        """
        values = np.asarray(values, dtype=np.float64)
        x, y = self._knots_x, self._knots_y
        if self.kind == "none" or len(x) == 0:
            return values
        if len(x) == 1:  # every evaluated score equal: nothing to interpolate between
            return np.full_like(values, y[0])
        inside = np.interp(values, x, y)
        low_slope, high_slope = (y[1] - y[0]) / (x[1] - x[0]), (y[-1] - y[-2]) / (x[-1] - x[-2])
        below, above = values < x[0], values > x[-1]
        inside[below] = y[0] + low_slope * (values[below] - x[0])
        inside[above] = y[-1] + high_slope * (values[above] - x[-1])
        return inside

    def prediction_in_scores(self, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A warped prediction (mean, std) in score units: the mapped mean, and half the mapped mean +- std width."""
        if self.kind == "none":
            return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
        high, low = self.to_scores(np.asarray(mean) + std), self.to_scores(np.asarray(mean) - std)
        return self.to_scores(mean), np.maximum((high - low) / 2, MIN_STD)
