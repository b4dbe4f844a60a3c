"""Run the agent search end to end: build the services, resume or start the graph, write the outputs.

`run_search` is what `hwnas run` calls. A run lives in `OUT/NAME/`:

- `settings.json`: the run's settings (resuming with different ones is refused, listing the differences);
- `checkpoints.sqlite`: LangGraph's SQLite saver, keyed by the run name, so a killed run resumes;
- `trace.jsonl`: every agent decision, tool call and LLM call;
- `archive.csv`, `front.csv`, `knowledge_base.json`, `summary.json`: written when the run ends.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver

from hwnas.benchmark import BenchmarkTables
from hwnas.errors import UsageError
from hwnas.graph.context import Context, RunSettings
from hwnas.graph.graph import build_graph, recursion_limit
from hwnas.graph.state import SearchState
from hwnas.llm import LLMClient, make_llm
from hwnas.pareto import TrueFront, non_dominated_records, true_front, true_indicators
from hwnas.partition import make_partitioning
from hwnas.progress import Progress, format_fields
from hwnas.registry import make_estimator, make_latency_model
from hwnas.runs import run_lock
from hwnas.tools.coordinator import Coordinator
from hwnas.tools.surrogate import make_surrogate
from hwnas.trace import TraceWriter, read_trace


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


def prepare_run_dir(out: Path, name: str, settings: RunSettings) -> RunPaths:
    """Create `out/name`, or check that an existing run there has the same settings."""
    paths = RunPaths(out / name)
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
        probe = paths.root / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"--out {out} is not writable: {error.strerror}") from None
    if paths.settings.exists():
        differences = settings.differences(json.loads(paths.settings.read_text()))
        if differences:
            raise UsageError(
                f"run {name!r} exists with other settings ({'; '.join(differences)}); "
                "use another --name or the same flags"
            )
    else:
        paths.settings.write_text(json.dumps(settings.as_dict(), indent=2))
    return paths


def llm_usage(trace_path: Path) -> dict[str, float]:
    """LLM calls, tokens and cost summed over the whole trace (all sessions of a resumed run)."""
    usage = {"llm_calls": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0, "llm_seconds": 0.0}
    if not trace_path.exists():
        return usage
    for record in read_trace(trace_path):
        if record.get("kind") == "llm_call":
            usage["llm_calls"] += 1
            usage["tokens_in"] += record.get("tokens_in", 0) or 0
            usage["tokens_out"] += record.get("tokens_out", 0) or 0
            usage["cost_usd"] += record.get("cost_usd", 0.0) or 0.0
            usage["llm_seconds"] += record.get("model_s") or record.get("wall_s") or 0.0
    return usage


def write_outputs(
    paths: RunPaths, state: SearchState, settings: RunSettings, tables: BenchmarkTables | None, wall_s: float
) -> dict[str, Any]:
    """Write archive, front, knowledge base and summary; return the summary."""
    archive = state.get("archive", [])
    columns = ["arch_str", "partition", "score", "latency_ms", "round", "operator", "parents", "rationale"]
    front = non_dominated_records(archive)
    for target, rows in ((paths.root / "archive.csv", archive), (paths.root / "front.csv", front)):
        with target.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for r in rows:
                writer.writerow(
                    [
                        r["arch"],
                        r["partition"],
                        r["score"],
                        r["latency_ms"],
                        r["round"],
                        r["operator"],
                        ";".join(r["parents"]),
                        r["rationale"],
                    ]
                )
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
    if tables is not None and tables.has(settings.dataset, settings.device):
        summary["true"] = true_indicators(tables, settings.dataset, settings.device, [r["arch"] for r in archive])
    (paths.root / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _progress_fields(state: SearchState, llm: LLMClient, truth: TrueFront | None) -> dict[str, Any]:
    """Round, front size, true HV_B (with benchmark truth) and LLM calls, for the progress display."""
    archive = state.get("archive", [])
    return {
        "round": state.get("round", 0),
        "front": len(non_dominated_records(archive)),
        "hv_b": truth.hv_b([r["arch"] for r in archive]) if truth is not None and archive else None,
        "llm_calls": llm.usage.calls,
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
) -> dict[str, Any]:
    """Run (or resume) the search named `name` and return its summary."""
    started = time.perf_counter()
    tables = BenchmarkTables.load(data, required=False)
    partitioning = make_partitioning(
        settings.partition_axis,
        bins=settings.partition_bins,
        dataset=settings.dataset,
        tables=tables,
        device=settings.device,
    )
    if settings.budget < len(partitioning.partitions):
        raise UsageError(
            f"--budget {settings.budget} is smaller than the {len(partitioning.partitions)} partitions of axis "
            f"{settings.partition_axis!r}; every partition needs at least one evaluation"
        )
    estimator = make_estimator(settings.estimator, dataset=settings.dataset, tables=tables, seed=settings.seed)
    latency_model = make_latency_model(settings.device, dataset=settings.dataset, tables=tables)
    surrogate = make_surrogate(settings.surrogate, dataset=settings.dataset, seed=settings.seed)
    coordinator = Coordinator(estimator, latency_model, partitioning, surrogate, settings.candidates)
    paths = prepare_run_dir(out, name, settings)
    trace = TraceWriter(paths.trace)
    llm = make_llm(settings.llm, base_url=base_url, trace=trace, seed=settings.seed, chat_model=chat_model,
                   json_mode=json_mode)
    context = Context(
        settings=settings,
        llm=llm,
        coordinator=coordinator,
        partitioning=partitioning,
        trace=trace,
    )
    # A terminal gets a live status line; elsewhere (and with `on_progress`) one line per round.
    progress = Progress(settings.budget, unit="evaluated", live=None if on_progress is None else False)
    report = on_progress or progress.log
    truth = None
    if tables is not None and tables.has(settings.dataset, settings.device):
        truth = true_front(tables, settings.dataset, settings.device)
    with run_lock(paths.root), progress:
        connection = sqlite3.connect(paths.checkpoints, check_same_thread=False)
        try:
            graph = build_graph(SqliteSaver(connection))
            config = RunnableConfig(configurable={"thread_id": name}, recursion_limit=recursion_limit(settings))
            snapshot = graph.get_state(config)
            resuming = bool(snapshot.values)
            if resuming and snapshot.next:
                report(f"resuming run {name!r} at round {snapshot.values.get('round', 0)}")
            trace.write("note", text="resumed" if resuming else "started", settings=settings.as_dict())
            if not resuming or snapshot.next:
                for update in graph.stream(None if resuming else {}, config, context=context, stream_mode="updates"):
                    if progress.due() or "assess" in update:
                        state: SearchState = graph.get_state(config).values  # type: ignore[assignment]
                        fields, evaluated = _progress_fields(state, llm, truth), len(state.get("archive", []))
                        progress.update(evaluated, **fields)
                        if "assess" in update:  # once per round
                            report(format_fields({"evaluated": f"{evaluated}/{settings.budget}", **fields}))
            final: SearchState = graph.get_state(config).values  # type: ignore[assignment]
        finally:
            connection.close()
        summary = write_outputs(paths, final, settings, tables, time.perf_counter() - started)
        trace.write("note", text="finished", summary={k: v for k, v in summary.items() if k != "settings"})
    return summary
