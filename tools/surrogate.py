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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import cache
from typing import Final, Protocol

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from hwnas.core.space import Architecture, SearchSpace
from hwnas.errors import UsageError

MIN_STD: Final = 1e-9


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
