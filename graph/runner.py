"""Run the agent search end to end: build the services, resume or start the graph, write the outputs.

`run_search` is what `hwnas run` calls. A run lives in `OUT/NAME/`:

- `settings.json`: the run's settings (resuming with different ones is refused, listing the differences);
- `checkpoints.sqlite`: LangGraph's SQLite saver, keyed by the run name, so a killed run resumes;
- `trace.jsonl`: every agent decision, tool call and LLM call;
- `archive.csv`, `front.csv`, `knowledge_base.json`, `summary.json`: written when the run ends.

Everything is checked (name, settings, data, estimator, LLM spec) before the folder is created, so a
command that fails to start leaves nothing behind. A folder whose run never evaluated anything (its
checkpoint holds no archive) does not keep its name: running the name again starts afresh.

A run is finished when its latest checkpoint has no task left to run. A kill in the middle of a
super-step leaves the tasks that completed as pending writes on the step's checkpoint; LangGraph then
reports `next` without them (so `next` can be empty while the step is unfinished), but `tasks` still
lists the step. Resuming (`stream(None, config)`) applies the pending writes and runs only the rest.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import StateSnapshot

from hwnas.core.tables import Tables
from hwnas.errors import UsageError, check_writable_folder
from hwnas.graph.context import Context, RunSettings
from hwnas.graph.graph import build_graph, recursion_limit
from hwnas.graph.state import SearchState
from hwnas.harness import picked_figures
from hwnas.llm import make_llm
from hwnas.llm.blind import Blinding
from hwnas.pareto import TrueFront, has_truth, non_dominated_records, true_front, true_indicators
from hwnas.partition import make_partitioning
from hwnas.progress import Progress, format_fields
from hwnas.registry import make_estimator, make_latency_model
from hwnas.runs import Run, distinct_llm_calls, llm_usage, read_records, run_lock
from hwnas.runs.schema import write_archive_csv
from hwnas.scale import Execution
from hwnas.spaces import get_space
from hwnas.tools.coordinator import Coordinator
from hwnas.tools.surrogate import make_surrogate
from hwnas.trace import TraceWriter

LOCAL = Execution()


@dataclass(frozen=True)
class RunPaths:
    """Where one run's files live."""

    root: Path

    @property
    def settings(self) -> Path:
        """The saved settings."""
        return self.root / "settings.json"

    @property
    def checkpoints(self) -> Path:
        """The SQLite checkpoint database."""
        return self.root / "checkpoints.sqlite"

    @property
    def trace(self) -> Path:
        """The JSONL trace."""
        return self.root / "trace.jsonl"


RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""A run name is a plain folder name: it cannot climb out of `--out` or be `--out` itself."""


def check_run_name(name: str) -> str:
    """`name` if it is a plain run name, else a `UsageError` saying what is accepted."""
    if not RUN_NAME.fullmatch(name) or len(name) > 128:
        raise UsageError(
            f"--name {name!r} is not a run name; use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit, at most 128 characters)"
        )
    return name


def _evaluated_nothing(paths: RunPaths) -> bool:
    """Whether the run in `paths` has no evaluation to keep (no checkpointed archive, no outputs)."""
    if (paths.root / "summary.json").exists():
        return False
    return not (Run(paths.root).checkpoint() or {}).get("archive")


def check_settings(paths: RunPaths, settings: RunSettings) -> None:
    """Save the settings of a new run, or check that the existing run has the same ones (hold its lock).

    A run that never evaluated anything does not keep its name: its files are removed and it starts
    afresh with the new settings.
    """
    if paths.settings.exists():
        saved = Run(paths.root).settings()
        if not isinstance(saved, dict):
            raise UsageError(f"{paths.settings} is damaged (not a settings object); restore it or use another --name")
        differences = settings.differences(saved)
        if differences and _evaluated_nothing(paths):
            for stale in (paths.checkpoints, paths.trace, paths.settings):
                stale.unlink(missing_ok=True)
        elif differences:
            raise UsageError(
                f"run {paths.root.name!r} exists with other settings ({'; '.join(differences)}); "
                "use another --name or the same flags"
            )
    if not paths.settings.exists():
        paths.settings.write_text(json.dumps(settings.as_dict(), indent=2))


def write_outputs(
    paths: RunPaths, state: SearchState, settings: RunSettings, tables: Tables | None, wall_s: float
) -> dict[str, Any]:
    """Write archive, front, knowledge base and summary; return the summary."""
    archive = state.get("archive", [])
    front = non_dominated_records(archive, settings.objective_list)
    write_archive_csv(paths.root / "archive.csv", archive)
    write_archive_csv(paths.root / "front.csv", front)
    (paths.root / "knowledge_base.json").write_text(json.dumps(state.get("knowledge", {}), indent=2))
    summary: dict[str, Any] = {
        "settings": settings.as_dict(),
        "budget_used": len(archive),
        "rounds": state.get("round", 0),
        "stop_reason": state.get("stop_reason", ""),
        "front_size": len(front),
        "heuristics": len(state.get("knowledge", {}).get("heuristics", [])),
        "wall_s": round(wall_s, 2),
        **llm_usage(paths.trace),
    }
    if tables is not None and settings.accuracy_only and archive:
        archs = [r["arch"] for r in archive]
        summary["true"] = picked_figures(tables, settings.dataset, archs, [r["score"] for r in archive])
    elif tables is not None and has_truth(tables, settings.dataset, settings.device):
        summary["true"] = true_indicators(tables, settings.dataset, settings.device, [r["arch"] for r in archive])
    (paths.root / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def session_wall_s(records: list[dict[str, Any]]) -> float:
    """Seconds the sessions recorded in `records` ran: from each start note to that session's last record."""
    total, start, last = 0.0, None, None
    for record in records:
        ts = record.get("ts")
        if not isinstance(ts, int | float):
            continue
        if record.get("kind") == "note" and record.get("text") in ("started", "resumed"):
            if start is not None and last is not None:
                total += last - start
            start = ts
        last = ts
    if start is not None and last is not None:
        total += last - start
    return total


def drop_torn_tail(path: Path) -> None:
    """Cut a last line a killed writer left incomplete, so the next record starts on a line of its own."""
    if not path.exists():
        return
    with path.open("rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)


class LLMCallCount:
    """The LLM calls in a growing trace, counted as the summary counts them (failed ones included).

    Each count reads only what was appended since the last one: the status line asks often.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._read_to = 0
        self._seen: set[tuple[Any, Any]] = set()

    def __call__(self) -> int:
        """The count now."""
        if not self.path.exists():
            return self.count
        with self.path.open("rb") as handle:
            handle.seek(self._read_to)
            appended = handle.read()
        complete = appended[: appended.rfind(b"\n") + 1]  # a line being written is counted next time
        self._read_to += len(complete)
        records = [json.loads(line) for line in complete.splitlines() if b'"llm_call"' in line]
        self.count += len(distinct_llm_calls(records, self._seen))
        return self.count


def _progress_fields(
    state: SearchState, llm_calls: LLMCallCount, truth: TrueFront | None, settings: RunSettings
) -> dict[str, Any]:
    """Round, front size, true HV_B (with benchmark truth) and LLM calls, for the progress display.

    With accuracy alone: round, the best score so far and LLM calls.
    """
    archive = state.get("archive", [])
    if settings.accuracy_only:
        best = max((r["score"] for r in archive), default=None)
        return {"round": state.get("round", 0), "best": best, "llm_calls": llm_calls()}
    return {
        "round": state.get("round", 0),
        "front": len(non_dominated_records(archive, settings.objective_list)),
        "hv_b": truth.hv_b([r["arch"] for r in archive]) if truth is not None and archive else None,
        "llm_calls": llm_calls(),
    }


def run_search(
    settings: RunSettings,
    *,
    name: str,
    out: Path,
    data: str | None = None,
    base_url: str | None = None,
    json_mode: str | None = None,
    chat_model: Any = None,
    on_progress: Callable[[str], None] | None = None,
    execution: Execution = LOCAL,
) -> dict[str, Any]:
    """Run (or resume) the search named `name` and return its summary.

    `execution` says where evaluations run and bounds concurrent LLM calls; it changes no result.
    """
    started = time.perf_counter()
    paths = RunPaths(out / check_run_name(name))
    space = get_space(settings.space)
    tables = space.load_tables(data, required=False)
    partitioning = make_partitioning(
        space,
        settings.partition_axis,
        bins=settings.partition_bins,
        dataset=settings.dataset,
        tables=tables,
        device=settings.device,
        seed=settings.seed,
    )
    if settings.budget < len(partitioning.partitions):
        raise UsageError(
            f"--budget {settings.budget} is smaller than the {len(partitioning.partitions)} partitions of axis "
            f"{settings.partition_axis!r}; every partition needs at least one evaluation"
        )
    estimator = make_estimator(
        settings.estimator, space=space, dataset=settings.dataset, tables=tables, seed=settings.seed
    )
    if execution.on_ray:
        from hwnas.scale.evaluation import RayEstimator

        estimator = RayEstimator(estimator, address=execution.address, resources=execution.resources)
    latency_model = make_latency_model(settings.device, space=space, dataset=settings.dataset, tables=tables)
    surrogate = make_surrogate(settings.surrogate, space=space, dataset=settings.dataset, seed=settings.seed)
    coordinator = Coordinator(
        estimator,
        latency_model,
        partitioning,
        surrogate,
        settings.candidates,
        budget=settings.budget,
        option_labels=settings.option_labels,
        option_lists=settings.option_lists,
        representatives=settings.representatives,
        score_warp=settings.score_warp,
        objectives=settings.objective_list,
    )
    trace = TraceWriter(paths.trace)  # creates nothing until its first record
    llm = make_llm(
        settings.llm,
        base_url=base_url,
        trace=trace,
        seed=settings.seed,
        chat_model=chat_model,
        json_mode=json_mode,
        blinding=Blinding(space) if settings.blind_prompts else None,
    )
    check_writable_folder(paths.root, "--out")  # creates the run folder, now that every input has been checked
    context = Context(
        settings=settings,
        space=space,
        llm=llm,
        coordinator=coordinator,
        partitioning=partitioning,
        trace=trace,
    )
    # A terminal gets a live status line; elsewhere (and with `on_progress`) one line per round.
    progress = Progress(settings.budget, unit="evaluated", live=None if on_progress is None else False)
    report = on_progress or progress.log
    truth = None
    if tables is not None and has_truth(tables, settings.dataset, settings.device):
        truth = true_front(tables, settings.dataset, settings.device)
    with run_lock(paths.root), progress:
        check_settings(paths, settings)
        drop_torn_tail(paths.trace)
        earlier_wall_s = session_wall_s(read_records(paths.trace)) if paths.trace.exists() else 0.0
        connection = sqlite3.connect(paths.checkpoints, check_same_thread=False)
        try:
            graph = build_graph(SqliteSaver(connection))
            config = RunnableConfig(
                configurable={"thread_id": name},
                recursion_limit=recursion_limit(settings),
                max_concurrency=execution.llm_concurrency,  # parallel Generator branches, hence LLM calls
            )
            snapshot = _saved_state(graph, config, paths)
            resuming = snapshot.created_at is not None
            unfinished = not resuming or bool(snapshot.tasks)
            if resuming and unfinished:
                report(f"resuming run {name!r} at round {snapshot.values.get('round', 0)}")
            trace.write("note", text="resumed" if resuming else "started", settings=settings.as_dict())
            if unfinished:
                llm_calls = LLMCallCount(paths.trace)
                for update in graph.stream(None if resuming else {}, config, context=context, stream_mode="updates"):
                    if progress.due() or "assess" in update:
                        state: SearchState = graph.get_state(config).values  # type: ignore[assignment]
                        fields = _progress_fields(state, llm_calls, truth, settings)
                        evaluated = len(state.get("archive", []))
                        progress.update(evaluated, **fields)
                        if "assess" in update:  # once per round
                            report(format_fields({"evaluated": f"{evaluated}/{settings.budget}", **fields}))
            final: SearchState = graph.get_state(config).values  # type: ignore[assignment]
        finally:
            connection.close()
        wall_s = earlier_wall_s + time.perf_counter() - started
        summary = write_outputs(paths, final, settings, tables, wall_s)
        trace.write("note", text="finished", summary={k: v for k, v in summary.items() if k != "settings"})
    return summary


def _saved_state(graph: Any, config: RunnableConfig, paths: RunPaths) -> StateSnapshot:
    """The latest checkpoint's snapshot; a file that is not a readable checkpoint is a `UsageError`."""
    try:
        return graph.get_state(config)
    except (sqlite3.Error, ValueError, TypeError, KeyError, AttributeError) as error:
        raise UsageError(
            f"checkpoint {paths.checkpoints} is damaged ({type(error).__name__}: {str(error)[:120]}); "
            "restore it or run under another --name"
        ) from None
