"""The objectives contract: which record attributes a search optimises, and in which direction.

Archives and fronts (`hwnas.pareto`) read objectives through this, so a search over other metrics is
other `Objective`s, not other code. Today's searches use `ACCURACY_LATENCY`: the estimator's score
(maximised) and the latency on the run's device (minimised). The indicators normalise them against the
true front as EVAL.md says (`hwnas.pareto.true_front`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Objective:
    """One objective of an archive: the record attribute (or mapping key) it reads and its direction."""

    name: str
    maximise: bool


ACCURACY_LATENCY: Final = (Objective("score", maximise=True), Objective("latency_ms", maximise=False))
"""The estimator's score, maximised, and the latency on the run's device in ms, minimised."""
