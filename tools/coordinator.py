"""The Coordinator: a deterministic node whose tools check, cost, score and predict candidates.

Its four tools are LangChain tools, so a tool-calling model could use them too; the graph's
Coordinator node calls them itself:

- `check_validity`: structure (a legal cell whose output is reachable), partition membership, and
  duplicates by canonical key against everything the run has evaluated or accepted;
- `lookup_latency`: any `LatencyModel` (benchmark table, op lookup table or on-device measurement);
- `score_proxy`: any `Estimator` (default: the zero-cost predictor `zc`), the only tool that costs budget;
- `predict_score`: the surrogate (`hwnas.tools.surrogate`), refit on the run's evaluations, free.

Before a Generator is called, the Coordinator builds its options (`Coordinator.offer`): the candidates
(every untried function of the partition, or the legal moves from its parents), ranked by expected
hypervolume improvement over the run's front (`hwnas.tools.ranking`), plus one child per kept heuristic.
A Generator's constrained reply can only pick among them. The budget is charged only for distinct
evaluated architectures; a partition whose slots are still open after a reply goes back to its
Generator with the reasons and fresh options, for a bounded number of retries per round.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any, Final, Literal

import numpy as np
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.runtime import Runtime
from langgraph.types import Send

from hwnas.errors import UsageError
from hwnas.evaluation import Estimator, LatencyModel
from hwnas.graph.context import Context
from hwnas.graph.state import CLEAR, Evaluated, Option, PartitionTask, Proposal, SearchState
from hwnas.partition import Partitioning, distinct_architectures
from hwnas.space import Architecture
from hwnas.tools.evidence import ANY_EDGE
from hwnas.tools.moves import ALL_FAMILIES, candidate_moves, families_for
from hwnas.tools.ranking import Frame, rank
from hwnas.tools.surrogate import Surrogate

SAMPLES_PER_SLOT = 3
"""Random partition members offered per open slot when the strategy explores."""

AGENT = "coordinator"

CANDIDATE_SOURCES: Final = ("partition", "moves")
"""Where options come from: every untried function of the partition (the space is enumerable), or the
legal moves from the partition's parents (for spaces or latency models too large to enumerate)."""
OPTIONS_PER_SLOT: Final = 3
"""Ranked options a Generator chooses from per open slot ..."""
UNCERTAINTY_BY_STRATEGY: Final = {"explore": 2.0, "exploit": 0.5}
"""How the Navigator's strategy ranks: explore doubles the surrogate's uncertainty (candidates far from
anything evaluated gain), exploit halves it (trust the predicted mean); repair and mixed rank as is."""
MAX_OFFERED_SLOTS: Final = 8
"""... for at most this many slots per call (the Generator's `MAX_CHILDREN`; the rest go to retries)."""


class Coordinator:
    """Holds the run's estimator, latency model, partitioning and surrogate, and the keys already taken."""

    def __init__(
        self,
        estimator: Estimator,
        latency_model: LatencyModel,
        partitioning: Partitioning,
        surrogate: Surrogate,
        candidates: str = "partition",
    ) -> None:
        if candidates not in CANDIDATE_SOURCES:
            raise UsageError(f"unknown --candidates {candidates!r}; accepted: {', '.join(CANDIDATE_SOURCES)}")
        self.estimator = estimator
        self.latency_model = latency_model
        self.partitioning = partitioning
        self.surrogate = surrogate
        self.candidates = candidates
        self.taken_keys: set[str] = set()
        self._fitted_on: tuple[str, ...] = ()
        self._frame: Frame | None = None
        self._front = np.empty((0, 2))
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
            arch: the NAS-Bench-201 cell string `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`.
            partition: the index of the partition the candidate must belong to.
        """
        try:
            candidate = Architecture.parse(arch)
        except UsageError as error:
            return f"malformed: {error}"
        if not candidate.is_valid:
            return "broken cell: the output node is cut off from the input"
        actual = self.partitioning.assign(candidate)
        if actual != partition:
            return f"outside partition {partition} (it belongs to partition {actual})"
        if candidate.canonical_key in self.taken_keys:
            return "duplicate: computes the same function as an architecture already evaluated"
        return "ok"

    def lookup_latency(self, archs: list[str]) -> list[float]:
        """Latency in milliseconds of each cell on the run's device.

        Args:
            archs: NAS-Bench-201 cell strings.
        """
        return [float(v) for v in self.latency_model.latency_ms([Architecture.parse(a) for a in archs])]

    def score_proxy(self, archs: list[str]) -> list[float]:
        """Predicted accuracy score of each cell (higher is better) from the run's estimator.

        Args:
            archs: NAS-Bench-201 cell strings.
        """
        return [float(v) for v in self.estimator.predict([Architecture.parse(a) for a in archs])]

    def remember(self, archs: Iterable[str]) -> None:
        """Mark architectures (and everything isomorphic to them) as taken."""
        self.taken_keys.update(Architecture.parse(a).canonical_key for a in archs)

    def reset(self, archive: Iterable[Evaluated]) -> None:
        """Forget what was taken and take exactly the archive's architectures (the state is the truth)."""
        self.taken_keys.clear()
        self.remember(r["arch"] for r in archive)

    def predict_score(self, archs: list[str]) -> list[tuple[float, float]]:
        """The surrogate's predicted estimator score of each cell, with its standard deviation (free).

        Args:
            archs: NAS-Bench-201 cell strings.
        """
        mean, std = self.surrogate.predict([Architecture.parse(a) for a in archs])
        return [(float(m), float(s)) for m, s in zip(mean, std, strict=True)]

    def fit_surrogate(self, archive: list[Evaluated]) -> None:
        """Refit the surrogate on the archive unless it already was (`surrogate_seconds` adds the time).

        The frame for expected gains spans the archive's scores and the latencies of the archive and of
        every candidate the partitions can offer, so gains compare across partitions.
        """
        evaluated = tuple(r["arch"] for r in archive)
        if evaluated == self._fitted_on:
            return
        started = time.perf_counter()
        scores = np.array([r["score"] for r in archive])
        latencies = np.array([r["latency_ms"] for r in archive])
        self.surrogate.fit([Architecture.parse(a) for a in evaluated], scores)
        pool = self._pool_latencies if self.candidates == "partition" else latencies
        self._frame = Frame.around(scores, np.concatenate([latencies, pool]))
        self._front = self._frame.points(scores, latencies)
        self._fitted_on = evaluated
        self.surrogate_seconds += time.perf_counter() - started

    @cached_property
    def _pool_latencies(self) -> np.ndarray:
        return np.asarray(self.latency_model.latency_ms(distinct_architectures()), dtype=np.float64)

    def candidates_of(
        self, partition: int, parents: list[str], strategy: str, wanted: int, rng: np.random.Generator
    ) -> list[Proposal]:
        """Unranked legal candidates: every untried function of the partition, or the parents' legal moves."""
        if self.candidates == "moves":
            return self.legal_moves(parents, partition, strategy, wanted, rng)
        pool = distinct_architectures()
        return [
            Proposal(partition=partition, arch=str(pool[i]), operator="ranked", parents=[], rationale="")
            for i in np.flatnonzero(self._pool_partitions == partition)
            if pool[i].canonical_key not in self.taken_keys
        ]

    @cached_property
    def _pool_partitions(self) -> np.ndarray:
        return np.array([self.partitioning.assign(a) for a in distinct_architectures()])

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
        options = self.ranked_options(candidates, OPTIONS_PER_SLOT * min(task["slots"], MAX_OFFERED_SLOTS), widen)
        offered = {Architecture.parse(o["arch"]).canonical_key for o in options}
        for heuristic in heuristics:
            children = [
                child
                for child in heuristic_children(heuristic, parents, task["partition"])
                if self.check_validity(child["arch"], task["partition"]) == "ok"
                and Architecture.parse(child["arch"]).canonical_key not in offered
            ]
            for best in self.ranked_options(children, 1, widen):
                offered.add(Architecture.parse(best["arch"]).canonical_key)
                options.append(Option(**{**best, "rationale": f"h{heuristic['id']}"}))
        return options

    def ranked_options(self, candidates: list[Proposal], count: int, widen: float = 1.0) -> list[Option]:
        """The `count` candidates a greedy expected-hypervolume-improvement batch picks, best first.

        `widen` scales the surrogate's uncertainty in the ranking (the Navigator's strategy sets it).

        Each option carries the surrogate's prediction, the latency lookup and the expected gain (in
        thousandths of the frame's area, for compact prompts); its label is `o<rank>`.
        """
        if not candidates or self._frame is None:
            return []
        archs = [c["arch"] for c in candidates]
        latency = np.array(self.tools["lookup_latency"].invoke({"archs": archs}))
        mean, std = self.surrogate.predict([Architecture.parse(a) for a in archs])
        picks = rank(self._frame, self._front, mean, std, latency, count, widen)
        return [
            Option(
                partition=candidates[p.index]["partition"],
                arch=candidates[p.index]["arch"],
                operator=candidates[p.index]["operator"],
                parents=candidates[p.index]["parents"],
                rationale=f"o{rank}",
                predicted=float(mean[p.index]),
                uncertainty=float(std[p.index]),
                latency_ms=float(latency[p.index]),
                gain=1000 * p.gain,
            )
            for rank, p in enumerate(picks, start=1)
        ]

    def legal_moves(
        self, parents: list[str], partition: int, strategy: str, wanted: int, rng: np.random.Generator
    ) -> list[Proposal]:
        """The legal moves of the strategy's families (all families when those give fewer than `wanted`).

        A move is legal when its child passes `check_validity`; one move is kept per distinct function.
        """
        samples = [self.partitioning.sample(partition, rng) for _ in range(SAMPLES_PER_SLOT * wanted)]
        by_family = candidate_moves([Architecture.parse(p) for p in parents], partition, rng, samples)
        seen: set[str] = set()
        legal: dict[str, list[Proposal]] = {}
        for family in ALL_FAMILIES:
            legal[family] = []
            for move in by_family[family]:
                key = Architecture.parse(move["arch"]).canonical_key
                if key not in seen and self.check_validity(move["arch"], partition) == "ok":
                    seen.add(key)
                    legal[family].append(move)
        offered = [move for family in ALL_FAMILIES if family in families_for(strategy) for move in legal[family]]
        return offered if len(offered) >= wanted else [move for family in ALL_FAMILIES for move in legal[family]]


def heuristic_children(heuristic: Mapping[str, Any], parents: list[str], partition: int) -> list[Proposal]:
    """The heuristic's edit (from op, or any, to op; on its edge or any) applied to each parent, unchecked."""
    children = []
    for parent in map(Architecture.parse, parents):
        for edge, op in enumerate(parent.ops):
            if (
                heuristic["edge"] in (ANY_EDGE, edge)
                and heuristic["from_op"] in ("any", op)
                and op != heuristic["to_op"]
            ):
                ops = (*parent.ops[:edge], heuristic["to_op"], *parent.ops[edge + 1 :])
                children.append(
                    Proposal(
                        partition=partition,
                        arch=str(Architecture(ops)),
                        operator="heuristic",
                        parents=[str(parent)],
                        rationale="",
                    )
                )
    return children


def knowledge_in_use(state: SearchState, ctx: Context) -> list[dict[str, Any]]:
    """The kept heuristics, or none in the ablation without the knowledge base."""
    return list(state.get("knowledge", {}).get("heuristics", [])) if ctx.settings.use_knowledge else []


def move_rng(seed: int, task: PartitionTask) -> np.random.Generator:
    """The stream behind a task's crossover masks and sampled members: one per run, round, partition, attempt."""
    return np.random.default_rng([seed, task["round"], task["partition"], task["attempt"]])


def evaluate(ctx: Context, proposals: list[Proposal], round_number: int) -> list[Evaluated]:
    """Cost and score accepted proposals through the Coordinator's tools, tracing each tool call."""
    if not proposals:
        return []
    tools = ctx.coordinator.tools
    archs = [p["arch"] for p in proposals]
    latencies = tools["lookup_latency"].invoke({"archs": archs})
    scores = tools["score_proxy"].invoke({"archs": archs})
    ctx.trace.write(
        "tool_call",
        agent=AGENT,
        round=round_number,
        tool="lookup_latency+score_proxy",
        results=[
            {"arch": a, "latency_ms": lat, "score": s} for a, lat, s in zip(archs, latencies, scores, strict=True)
        ],
    )
    return [
        Evaluated(
            arch=p["arch"],
            key=Architecture.parse(p["arch"]).canonical_key,
            partition=p["partition"],
            score=s,
            latency_ms=lat,
            round=round_number,
            operator=p["operator"],
            parents=p["parents"],
            rationale=p["rationale"],
        )
        for p, s, lat in zip(proposals, scores, latencies, strict=True)
    ]


def initialise_node(state: SearchState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Round 0: evaluate a few random architectures per partition, so every Generator has parents."""
    ctx = runtime.context
    settings = ctx.settings
    per_partition = min(settings.init_per_partition, settings.budget // len(ctx.partitioning.partitions))
    ctx.coordinator.reset(state.get("archive", []))
    proposals: list[Proposal] = []
    for part in ctx.partitioning.partitions:
        rng = np.random.default_rng([settings.seed, part.index])
        for _ in range(100 * per_partition):
            if sum(p["partition"] == part.index for p in proposals) == per_partition:
                break
            arch = str(ctx.partitioning.sample(part.index, rng))
            if ctx.coordinator.check_validity(arch, part.index) == "ok":
                ctx.coordinator.remember([arch])
                proposals.append(Proposal(partition=part.index, arch=arch, operator="init", parents=[], rationale=""))
    records = evaluate(ctx, proposals, 0)
    ctx.trace.write("decision", agent=AGENT, round=0, evaluated=len(records), note="random start per partition")
    return {"round": 0, "archive": records, "knowledge": {"version": 0, "heuristics": [], "history": []}}


def coordinator_node(state: SearchState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Judge this attempt's proposals, evaluate the accepted ones, and note what each partition still needs."""
    ctx = runtime.context
    round_number, attempt = state["round"], state.get("attempt", 0)
    archive = state.get("archive", [])
    ctx.coordinator.reset(archive)
    budget_left = ctx.settings.budget - len(archive)
    plan = {p: PartitionTask(**task) for p, task in state["plan"].items()}
    accepted: list[Proposal] = []
    rejections: dict[int, list[str]] = {p: [] for p in plan}
    for proposal in state.get("proposals", []):
        part = proposal["partition"]
        verdict = ctx.coordinator.tools["check_validity"].invoke({"arch": proposal["arch"], "partition": part})
        if verdict == "ok" and (plan[part]["slots"] == 0 or len(accepted) >= budget_left):
            verdict = "no slot left in this round"
        if verdict == "ok":
            ctx.coordinator.remember([proposal["arch"]])
            plan[part]["slots"] -= 1
            accepted.append(proposal)
        else:
            rejections[part].append(f"{proposal['arch']}: {verdict}")
    records = evaluate(ctx, accepted, round_number)
    ctx.trace.write(
        "decision",
        agent=AGENT,
        round=round_number,
        attempt=attempt,
        accepted=[p["arch"] for p in accepted],
        rejected={str(p): r for p, r in rejections.items() if r},
        budget_used=len(archive) + len(records),
    )
    for part, reasons in rejections.items():
        task = plan[part]
        task["rejections"] = reasons
        task["attempt"] = attempt + 1
        if task["slots"] > 0:
            task["options"] = ctx.coordinator.offer(
                archive + records, task, move_rng(ctx.settings.seed, task), knowledge_in_use(state, ctx)
            )
    return {"archive": records, "proposals": CLEAR, "plan": plan, "attempt": attempt + 1}


def route_after_coordinator(state: SearchState, runtime: Runtime[Context]) -> list[Send] | Literal["memory"]:
    """Send partitions that still have open slots back to their Generator, within the retry bound."""
    ctx = runtime.context
    budget_left = ctx.settings.budget - len(state.get("archive", []))
    if state.get("attempt", 0) > ctx.settings.max_retries or budget_left <= 0:
        return "memory"
    retry: list[PartitionTask] = [t for t in state["plan"].values() if t["slots"] > 0 and t["options"]]
    return [Send("generator", task) for task in retry] or "memory"
