"""The Coordinator's tools: check, cost, score and predict candidates (its graph nodes are `hwnas.graph.coordinator`).

The four tools are LangChain tools, so a tool-calling model could use them too; the graph's
Coordinator nodes call them themselves:

- `check_validity`: structure (a legal cell whose output is reachable), partition membership, and
  duplicates by canonical key against everything the run has evaluated or accepted;
- `lookup_latency`: any `LatencyModel` (benchmark table, op lookup table or on-device measurement);
- `score_proxy`: any `Estimator` (default: the zero-cost predictor `zc`) through the run's budgeted
  evaluator (`hwnas.core.evaluation`), the only tool that costs budget;
- `predict_score`: the surrogate (`hwnas.tools.surrogate`), refit on the run's evaluations, free.

Before a Generator is called, the Coordinator builds its options (`Coordinator.offer`): the candidates
(every untried function of the partition, or the legal moves from its parents), ranked by expected
hypervolume improvement over the run's front (`hwnas.tools.ranking`; with accuracy as the only objective,
by expected improvement over the best score), plus one child per kept heuristic.
A Generator's constrained reply can only pick among them. The budget is charged only for distinct
evaluated architectures; a partition whose slots are still open after a reply goes back to its
Generator with the reasons and fresh options, for a bounded number of retries per round.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from langchain_core.tools import BaseTool, StructuredTool

from hwnas.core.evaluation import (
    BudgetedEvaluator,
    Estimator,
    EvaluationRecord,
    LatencyModel,
    check_representative_rule,
    latency_values,
    representatives,
)
from hwnas.core.objectives import ACCURACY_LATENCY, Objective, is_accuracy_only
from hwnas.errors import UsageError
from hwnas.graph.state import Evaluated, Option, PartitionTask, Proposal, latency_objectives
from hwnas.partition import Partitioning
from hwnas.tools.evidence import ANY_EDGE
from hwnas.tools.moves import ALL_FAMILIES, candidate_moves, families_for
from hwnas.tools.ranking import Frame, Ranked, improvement_groups, rank_groups
from hwnas.tools.surrogate import ScoreWarp, Surrogate, check_score_warp

if TYPE_CHECKING:
    from hwnas.core.space import Architecture

SAMPLES_PER_SLOT = 3
"""Random partition members offered per open slot when the strategy explores."""

CANDIDATE_SOURCES: Final = ("partition", "moves")
"""Where options come from: every untried function of the partition (the space is enumerable), or the
legal moves from the partition's parents (for spaces or latency models too large to enumerate)."""
OPTIONS_PER_SLOT: Final = 3
"""Ranked options a Generator chooses from per open slot ..."""
UNCERTAINTY_BY_STRATEGY: Final = {"explore": 2.0, "exploit": 0.5}
"""How the Navigator's strategy ranks: explore doubles the surrogate's uncertainty (candidates far from
anything evaluated gain), exploit halves it (trust the predicted mean); repair and mixed rank as is."""
OPTION_LABELS: Final = ("shuffled", "ranked")
"""How ranked options are labelled for a Generator: `o<n>` with n a seeded permutation of the ranks, or
n = the rank. The embedded model picks by the labels' numbers more than by the figures beside them
(BENCHMARKS.md, "What the Generator reads"): with ranked labels that habit steered it to the worst-ranked
option; shuffled labels carry no rank, so no label habit can."""
OPTION_LISTS: Final = ("dealt", "runners-up")
"""Which options share a child's list (`deal_options` gives child i the i-th, (i+k)-th, ... options).
`dealt`: one greedy batch of `OPTIONS_PER_SLOT` x k picks, so child i chooses among ranks i, i+k, i+2k,
whose expected gains fall well below the first's; `runners-up`: the same batch's first k picks, child i
choosing among step i's pick and that step's runners-up (`hwnas.tools.ranking.greedy_groups`): near-ties,
so any choice keeps most of the batch's expected gain (BENCHMARKS.md, "Near-tie options"). Top-ranked picks
are the same either way."""
MAX_OFFERED_SLOTS: Final = 8
"""... for at most this many slots per call (the Generator's `MAX_CHILDREN`; the rest go to retries)."""


class Coordinator:
    """Holds the run's budgeted evaluator, partitioning and surrogate, and the canonical keys already taken.

    The graph state's archive is the truth: every node starts with `reset(archive)`, which rebuilds the
    evaluator's history and the taken keys from it (free), so a resumed run continues exactly.
    """

    def __init__(
        self,
        estimator: Estimator,
        latency_model: LatencyModel,
        partitioning: Partitioning,
        surrogate: Surrogate,
        candidates: str = "partition",
        *,
        budget: int,
        option_labels: str = "shuffled",
        option_lists: str = "dealt",
        representatives: str = "fastest",
        score_warp: str = "copula",
        objectives: Sequence[Objective] = ACCURACY_LATENCY,
    ) -> None:
        if candidates not in CANDIDATE_SOURCES:
            raise UsageError(f"unknown --candidates {candidates!r}; accepted: {', '.join(CANDIDATE_SOURCES)}")
        if option_labels not in OPTION_LABELS:
            raise UsageError(f"unknown --option-labels {option_labels!r}; accepted: {', '.join(OPTION_LABELS)}")
        if option_lists not in OPTION_LISTS:
            raise UsageError(f"unknown --option-lists {option_lists!r}; accepted: {', '.join(OPTION_LISTS)}")
        self.option_labels = option_labels
        self.option_lists = option_lists
        check_representative_rule(representatives)  # the pool is built lazily: fail before anything runs
        self.representative_rule = representatives
        check_score_warp(score_warp)
        self.score_warp = score_warp
        self.space = partitioning.space
        self.estimator = estimator
        self.latency_model = latency_model
        self.evaluator = BudgetedEvaluator(self.space, estimator, latency_model, budget, objectives=objectives)
        self.accuracy_only = is_accuracy_only(objectives)
        self.partitioning = partitioning
        self.surrogate = surrogate
        self.candidates = candidates
        self.taken_keys: set[str] = set()
        self._fitted_on: tuple[str, ...] = ()
        self._frame: Frame | None = None
        self._front = np.empty((0, 2))
        self._warp = ScoreWarp(np.empty(0), score_warp)
        """The run's scores as the surrogate fits them (`values`), refit with it."""
        self.surrogate_seconds = 0.0
        """Time spent fitting the surrogate in this process (the summary reports it)."""
        self.tools: dict[str, BaseTool] = {
            tool.name: tool
            for tool in (
                StructuredTool.from_function(self.check_validity),
                StructuredTool.from_function(self.lookup_latency),
                StructuredTool.from_function(self.score_proxy),
                StructuredTool.from_function(self.predict_score),
            )
        }

    def check_validity(self, arch: str, partition: int) -> str:
        """Check a candidate cell: returns "ok", or the reason it is rejected.

        Args:
            arch: the architecture's text in the run's space (NB201: `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`).
            partition: the index of the partition the candidate must belong to.
        """
        try:
            candidate = self.space.parse(arch)
        except UsageError as error:
            return f"malformed: {error}"
        if not candidate.is_valid:
            return self.space.invalid_reason
        actual = self.partitioning.assign(candidate)
        if actual != partition:
            return f"outside partition {partition} (it belongs to partition {actual})"
        if candidate.canonical_key in self.taken_keys:
            return "duplicate: computes the same function as an architecture already evaluated"
        return "ok"

    def lookup_latency(self, archs: list[str]) -> list[list[float]]:
        """Latency in milliseconds of each architecture on the run's device, or on each device of a fleet (free).

        Args:
            archs: architecture texts in the run's space.
        """
        return self.latency_columns([self.space.parse(a) for a in archs]).tolist()

    def latency_columns(self, archs: Sequence[Architecture]) -> np.ndarray:
        """(len(archs), devices) latencies in ms: one column, or one per device of a fleet."""
        return latency_values(self.latency_model, archs).reshape(len(archs), -1)

    def score_proxy(self, archs: list[str]) -> list[float]:
        """Estimator score of each architecture (higher is better); each new one costs one unit of budget.

        Args:
            archs: architecture texts in the run's space.
        """
        return [r.score for r in self.evaluate([self.space.parse(a) for a in archs])]

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvaluationRecord]:
        """Score and cost architectures through the budgeted evaluator (new ones are charged)."""
        return self.evaluator.evaluate_many(archs)

    def remember(self, archs: Iterable[str]) -> None:
        """Mark architectures (and everything computing the same function) as taken."""
        self.taken_keys.update(self.space.parse(a).canonical_key for a in archs)

    def reset(self, archive: Sequence[Evaluated]) -> None:
        """Take exactly the archive's architectures, and give the evaluator its history (the state is the truth)."""
        self.taken_keys.clear()
        self.remember(r["arch"] for r in archive)
        self.evaluator.restore(
            (self.space.parse(r["arch"]), r["score"], r.get("latencies") or r["latency_ms"]) for r in archive
        )

    def predict_score(self, archs: list[str]) -> list[tuple[float, float]]:
        """The surrogate's predicted estimator score of each architecture, with its standard deviation (free).

        Args:
            archs: architecture texts in the run's space.
        """
        mean, std = self._warp.prediction_in_scores(*self.surrogate.predict([self.space.parse(a) for a in archs]))
        return [(float(m), float(s)) for m, s in zip(mean, std, strict=True)]

    def fit_surrogate(self, archive: list[Evaluated]) -> None:
        """Refit the surrogate on the archive unless it already was (`surrogate_seconds` adds the time).

        The surrogate fits the warped scores (`ScoreWarp`). The frame for expected gains spans them and the
        latencies of the archive and of every candidate the partitions can offer, so gains compare across
        partitions.
        """
        evaluated = tuple(r["arch"] for r in archive)
        if evaluated == self._fitted_on:
            return
        started = time.perf_counter()
        self._warp = ScoreWarp(np.array([r["score"] for r in archive]), self.score_warp)
        scores = self._warp.values
        latencies = np.array([latency_objectives(r) for r in archive])
        self.surrogate.fit([self.space.parse(a) for a in evaluated], scores)
        pool = self._pool_latencies if self.candidates == "partition" and not self.accuracy_only else latencies
        self._frame = Frame.around(scores, np.concatenate([latencies, pool]))
        self._front = self._frame.points(scores, latencies)
        self._fitted_on = evaluated
        self.surrogate_seconds += time.perf_counter() - started

    @cached_property
    def _pool(self) -> tuple[Architecture, ...]:
        # With accuracy alone latency plays no part, so no member is preferred (and none looked up).
        rule = "first" if self.accuracy_only else self.representative_rule
        return representatives(self.space, self.latency_model, rule)

    @cached_property
    def _pool_latencies(self) -> np.ndarray:
        return self.latency_columns(self._pool)

    def candidates_of(
        self, partition: int, parents: list[str], strategy: str, wanted: int, rng: np.random.Generator
    ) -> list[Proposal]:
        """Unranked legal candidates: every untried function of the partition, or the parents' legal moves."""
        if self.candidates == "moves":
            return self.legal_moves(parents, partition, strategy, wanted, rng)
        pool = self._pool
        return [
            Proposal(partition=partition, arch=str(pool[i]), operator="ranked", parents=[], rationale="")
            for i in np.flatnonzero(self._pool_partitions == partition)
            if pool[i].canonical_key not in self.taken_keys
        ]

    @cached_property
    def _pool_partitions(self) -> np.ndarray:
        return np.array([self.partitioning.assign(a) for a in self._pool])

    def offer(
        self,
        archive: list[Evaluated],
        task: PartitionTask,
        rng: np.random.Generator,
        heuristics: Sequence[Mapping[str, Any]] = (),
    ) -> list[Option]:
        """A task's options: the ranked candidates (`OPTIONS_PER_SLOT` per open slot), then heuristic children.

        Each kept heuristic contributes its best-ranked child (its edit applied to one of the task's
        parents) when that child is legal and not already offered: this is how the knowledge base
        changes what a Generator can pick, beyond the words of its prompt.
        """
        self.fit_surrogate(archive)
        parents = [p["arch"] for p in task["parents"]]
        candidates = self.candidates_of(task["partition"], parents, task["strategy"], task["slots"], rng)
        widen = UNCERTAINTY_BY_STRATEGY.get(task["strategy"], 1.0)
        slots = min(task["slots"], MAX_OFFERED_SLOTS)
        if self.option_lists == "runners-up":
            options = self.ranked_options(candidates, slots, widen, per_step=OPTIONS_PER_SLOT)
        else:
            options = self.ranked_options(candidates, OPTIONS_PER_SLOT * slots, widen)
        if self.option_labels == "shuffled":  # still listed best first, but `o1` no longer names the best
            numbers = rng.permutation(len(options)) + 1
            options = [Option(**{**o, "rationale": f"o{n}"}) for o, n in zip(options, numbers, strict=True)]
        offered = {self.space.parse(o["arch"]).canonical_key for o in options}
        for heuristic in heuristics:
            children = [
                child
                for child in heuristic_children(heuristic, [self.space.parse(p) for p in parents], task["partition"])
                if self.check_validity(child["arch"], task["partition"]) == "ok"
                and self.space.parse(child["arch"]).canonical_key not in offered
            ]
            for best in self.ranked_options(children, 1, widen):
                offered.add(self.space.parse(best["arch"]).canonical_key)
                options.append(Option(**{**best, "rationale": f"h{heuristic['id']}"}))
        return options

    def ranked_options(
        self, candidates: list[Proposal], steps: int, widen: float = 1.0, per_step: int = 1
    ) -> list[Option]:
        """`steps` greedy expected-hypervolume-improvement picks, each with `per_step - 1` runners-up, as options.

        The groups (`hwnas.tools.ranking.greedy_groups`) are listed so that `deal_options` gives each child
        one: every step's pick first, best first, then every step's first runner-up, and so on.

        `widen` scales the surrogate's uncertainty in the ranking (the Navigator's strategy sets it).

        Each option carries the surrogate's prediction (back in the estimator's units), the latency lookup
        and the expected gain (in thousandths of the frame's area, for compact prompts); its label is
        `o<rank>`. With accuracy as the only objective the picks are by expected improvement over the best
        score, and the gain is that, in thousandths of the range of (warped) scores evaluated.
        """
        if not candidates or self._frame is None:
            return []
        archs = [c["arch"] for c in candidates]
        latency = np.array(self.tools["lookup_latency"].invoke({"archs": archs}))  # (candidates, devices)
        mean, std = self.surrogate.predict([self.space.parse(a) for a in archs])
        if self.accuracy_only:
            groups = improvement_groups(self._warp.values, mean, std, steps, per_step, widen)
        else:
            groups = rank_groups(self._frame, self._front, mean, std, latency, steps, per_step, widen)
        mean, std = self._warp.prediction_in_scores(mean, std)
        listed: list[Ranked] = [g[k] for k in range(max(map(len, groups), default=0)) for g in groups if k < len(g)]
        options = []
        for rank_number, p in enumerate(listed, start=1):
            option = Option(
                partition=candidates[p.index]["partition"],
                arch=candidates[p.index]["arch"],
                operator=candidates[p.index]["operator"],
                parents=candidates[p.index]["parents"],
                rationale=f"o{rank_number}",
                predicted=float(mean[p.index]),
                uncertainty=float(std[p.index]),
                latency_ms=float(latency[p.index, 0]),
                gain=1000 * p.gain,
            )
            if latency.shape[1] > 1:
                option["latencies"] = [float(v) for v in latency[p.index]]
            options.append(option)
        return options

    def legal_moves(
        self, parents: list[str], partition: int, strategy: str, wanted: int, rng: np.random.Generator
    ) -> list[Proposal]:
        """The legal moves of the strategy's families (all families when those give fewer than `wanted`).

        A move is legal when its child passes `check_validity`; one move is kept per distinct function.
        """
        samples = [self.partitioning.sample(partition, rng) for _ in range(SAMPLES_PER_SLOT * wanted)]
        by_family = candidate_moves([self.space.parse(p) for p in parents], partition, rng, samples)
        seen: set[str] = set()
        legal: dict[str, list[Proposal]] = {}
        for family in ALL_FAMILIES:
            legal[family] = []
            for move in by_family[family]:
                key = self.space.parse(move["arch"]).canonical_key
                if key not in seen and self.check_validity(move["arch"], partition) == "ok":
                    seen.add(key)
                    legal[family].append(move)
        offered = [move for family in ALL_FAMILIES if family in families_for(strategy) for move in legal[family]]
        return offered if len(offered) >= wanted else [move for family in ALL_FAMILIES for move in legal[family]]


def heuristic_children(heuristic: Mapping[str, Any], parents: Sequence[Architecture], partition: int) -> list[Proposal]:
    """The heuristic's edit (from op, or any, to op; on its slot or any) applied to each parent, unchecked."""
    children = []
    for parent in parents:
        for slot, op in enumerate(parent.ops):
            if (
                heuristic["edge"] in (ANY_EDGE, slot)
                and heuristic["from_op"] in ("any", op)
                and op != heuristic["to_op"]
            ):
                children.append(
                    Proposal(
                        partition=partition,
                        arch=str(parent.with_op(slot, heuristic["to_op"])),
                        operator="heuristic",
                        parents=[str(parent)],
                        rationale="",
                    )
                )
    return children
