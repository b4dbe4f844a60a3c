"""The ask/tell loop behind the Optuna baselines (`tpe`, `gp`): the sampler is Optuna's, used as it is.

The study has one categorical parameter per slot (its op, named like the slot: NB201's `1<-0` ... `3<-2`) and the
search's objectives (`BudgetedEvaluator.objectives`): by default maximise the estimator's score and minimise
latency; with accuracy alone the score only, and the samplers are then their single-objective selves. Each trial the
sampler proposes is evaluated and told to the study. A sampler may propose an architecture it has already seen; the
trial is then told that architecture's recorded values, which costs no budget. So that a sampler that keeps
proposing what it knows cannot stall the run, after `MAX_CONSECUTIVE_DUPLICATES` such trials in a row the next trial
is fixed (`Study.enqueue_trial`) to a uniformly drawn unevaluated architecture, which the sampler then learns from
like any other trial. The run stops when the evaluator's budget is spent.

Optuna logs one line per trial: its log is held at WARNING for the run, and its ExperimentalWarnings
(options Optuna may still change) are ignored.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

import numpy as np

from hwnas.baselines.random_search import draw_unseen
from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler

MAX_CONSECUTIVE_DUPLICATES: Final = 10
"""Duplicate proposals in a row after which the next trial is a random unevaluated architecture."""


def run_study(
    evaluator: BudgetedEvaluator, rng: np.random.Generator, make_sampler: Callable[[int], BaseSampler]
) -> list[EvaluationRecord]:
    """Drive the sampler `make_sampler(seed)` (seed drawn from `rng`) until the budget is spent."""
    import optuna  # imported here: it takes a while, and most commands never need it
    from optuna.study import StudyDirection

    with _quiet():
        directions = [StudyDirection.MAXIMIZE if o.maximise else StudyDirection.MINIMIZE for o in evaluator.objectives]
        study = optuna.create_study(directions=directions, sampler=make_sampler(int(rng.integers(2**31))))
        space = evaluator.space
        duplicates_in_a_row = 0
        while evaluator.remaining > 0:
            if duplicates_in_a_row == MAX_CONSECUTIVE_DUPLICATES:
                arch = draw_unseen(evaluator, rng)
                study.enqueue_trial(dict(zip(space.slots, arch.ops, strict=True)))
            trial = study.ask()
            arch = space.make([trial.suggest_categorical(name, space.ops) for name in space.slots])
            known = evaluator.lookup(arch)
            duplicates_in_a_row = 0 if known is None else duplicates_in_a_row + 1
            record = known or evaluator.evaluate(arch)
            study.tell(trial, [o.value(record) for o in evaluator.objectives])
    return evaluator.history


@contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's log at WARNING and its ExperimentalWarnings ignored, restored afterwards."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)
