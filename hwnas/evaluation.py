"""The two measurement contracts every searcher speaks: an accuracy `Estimator` and a `LatencyModel`.

Baselines, the agent graph's Coordinator and the evaluation harness all take one of each; the
implementations (benchmark-table oracles, the zero-cost predictor, table or on-device latency) live
in their own modules and are built by name through `hwnas.registry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from hwnas.space import Architecture


@runtime_checkable
class Estimator(Protocol):
    """Predicts how accurate an architecture is; higher is better.

    Scores only need to rank architectures (a zero-cost ensemble is not in % units); `is_accuracy`
    says whether they are accuracies in %.
    """

    name: str
    is_accuracy: bool

    def predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        """One score per architecture, as float64."""
        ...


@runtime_checkable
class LatencyModel(Protocol):
    """Batch-1 inference latency of an architecture on one device, in milliseconds."""

    device: str

    def latency_ms(self, archs: Sequence[Architecture]) -> np.ndarray:
        """One latency per architecture, as float64."""
        ...
