"""Finding runs on disk and reading what they recorded: status, settings, archive, trace, knowledge base.

An agent run is a folder `OUT/NAME/` written by `hwnas run` (see `hwnas.graph.runner`); a benchmark is
a folder with `results.json` and one archive CSV per method and seed (see `hwnas.harness`).

Status of an agent run, first rule that applies:

1. `running`: its `run.lock` (held by `run_search` while it works) names a live process on this
   machine, or names another machine and the trace was written in the last `RUNNING_WINDOW_S`
   seconds (a process elsewhere cannot be checked, its writes can);
2. `finished`: `summary.json` exists;
3. `interrupted`: otherwise: a run that stopped on an error released its lock, a killed one left a
   lock naming a dead process; either way the checkpoint and trace are there, the summary is not.

`list_runs` shows a folder whose files cannot be read as `damaged` (with the reason) and goes on.

An unfinished run's archive and knowledge base are read from its latest LangGraph checkpoint.
Damaged files and traces of a newer format version raise `UsageError` with one line saying which file.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from hwnas.errors import UsageError
from hwnas.pareto import non_dominated_records
from hwnas.runs.schema import ArchiveRow, read_archive_csv, row_objectives
from hwnas.trace import TRACE_VERSION, read_trace

RUNNING_WINDOW_S: Final = 60.0
"""A run locked on another machine counts as running this long after its last trace write."""

LOCK_FILE: Final = "run.lock"
_SEARCH_DEPTH: Final = 3

Status = Literal["running", "finished", "interrupted", "damaged"]


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path} is damaged (not valid JSON: {error}); restore it or re-run") from None


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every complete trace record, checked for format version; a torn last line becomes a note record."""
    records: list[dict[str, Any]] = []
    try:
        for record in read_trace(path):
            if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
                raise UsageError(f"trace {path} is damaged at record {len(records) + 1}: not a trace record")
            version = record.get("v")
            if not isinstance(version, int) or version > TRACE_VERSION:
                raise UsageError(
                    f"trace {path} has format version {version!r}; this hwnas reads versions up to "
                    f"{TRACE_VERSION}: upgrade hwnas to read it"
                )
            records.append(record)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"trace {path} is damaged after record {len(records)}: {error.msg}; only a torn last line is tolerated"
        ) from None
    except UnicodeDecodeError:
        raise UsageError(f"trace {path} is damaged after record {len(records)}: not UTF-8 text") from None
    return records


@dataclass(frozen=True)
class Run:
    """One agent run's folder; every reader goes to disk, so a running run is seen as it grows."""

    root: Path

    @property
    def name(self) -> str:
        """The run's name (its folder name, and the checkpoint thread id)."""
        return self.root.name

    def file(self, name: str) -> Path:
        """A file of the run: settings.json, trace.jsonl, archive.csv, summary.json..."""
        return self.root / name

    def settings(self) -> dict[str, Any]:
        """The run's settings (`RunSettings` as a dict); empty if never written."""
        path = self.file("settings.json")
        if not path.exists():
            return {}
        settings = _load_json(path)
        if not isinstance(settings, dict):
            raise UsageError(f"{path} is damaged (expected an object of settings); restore it or re-run")
        return settings

    def summary(self) -> dict[str, Any] | None:
        """`summary.json` of a finished run, else None."""
        path = self.file("summary.json")
        return _load_json(path) if path.exists() else None

    def status(self, now: float | None = None) -> Status:
        """`running`, `finished` or `interrupted` (rules in the module docstring)."""
        owner = _lock_owner(self.file(LOCK_FILE))
        if owner is not None:
            if _alive(owner):
                return "running"
            trace = self.file("trace.jsonl")
            now = time.time() if now is None else now
            elsewhere = owner["host"] != socket.gethostname()
            if elsewhere and trace.exists() and now - trace.stat().st_mtime < RUNNING_WINDOW_S:
                return "running"
        return "finished" if self.file("summary.json").exists() else "interrupted"

    def started(self) -> float | None:
        """When the run started (first trace record), else when its settings were written."""
        trace = self.file("trace.jsonl")
        if trace.exists():
            with trace.open(encoding="utf-8") as handle:
                first = handle.readline()
            with contextlib.suppress(json.JSONDecodeError, TypeError, ValueError):
                return float(json.loads(first)["ts"])
        settings = self.file("settings.json")
        return settings.stat().st_mtime if settings.exists() else None

    def records(self) -> list[dict[str, Any]]:
        """The trace records (see `read_records`); empty when the run has no trace yet."""
        path = self.file("trace.jsonl")
        return read_records(path) if path.exists() else []

    def checkpoint(self) -> dict[str, Any] | None:
        """The graph state of the latest checkpoint (`SearchState` as a dict), or None."""
        path = self.file("checkpoints.sqlite")
        if not path.exists():
            return None
        from langgraph.checkpoint.sqlite import SqliteSaver  # heavy; only unfinished runs need it

        connection = sqlite3.connect(path, timeout=5.0, check_same_thread=False)
        try:
            saved = SqliteSaver(connection).get_tuple({"configurable": {"thread_id": self.name}})
        except sqlite3.Error as error:
            raise UsageError(f"checkpoint {path} cannot be read ({error}); is it a hwnas run?") from None
        finally:
            connection.close()
        return dict(saved.checkpoint["channel_values"]) if saved is not None else None

    def archive(self) -> list[ArchiveRow]:
        """Every evaluated architecture in evaluation order: `archive.csv`, else the latest checkpoint."""
        path = self.file("archive.csv")
        if path.exists():
            return read_archive_csv(path)
        return [ArchiveRow.from_evaluated(r) for r in (self.checkpoint() or {}).get("archive", [])]

    def knowledge(self) -> dict[str, Any]:
        """The knowledge base (`{version, heuristics, history}`): the saved file, else the latest checkpoint."""
        path = self.file("knowledge_base.json")
        if path.exists():
            knowledge = _load_json(path)
            if not isinstance(knowledge, dict):
                raise UsageError(f"{path} is damaged (expected an object with heuristics and history)")
            return knowledge
        return dict((self.checkpoint() or {}).get("knowledge") or {"version": 0, "heuristics": [], "history": []})


@dataclass(frozen=True)
class RunInfo:
    """One line of `hwnas runs`: an agent run or a benchmark folder, with its headline figures."""

    name: str
    path: Path
    kind: Literal["agent", "bench"]
    status: Status
    started: float | None
    budget: int | None
    budget_used: int | None
    rounds: int | None
    front_size: int | None
    best: str
    """The headline figures: true IGD and HV_B (accuracy alone: the pick's test accuracy) when known, else
    the predicted front's size."""


def _lock_owner(path: Path) -> dict[str, Any] | None:
    """The lock's `{pid, host, ts}`, or None when there is no (readable) lock."""
    with contextlib.suppress(OSError, json.JSONDecodeError, UnicodeDecodeError):
        owner = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(owner, dict) and isinstance(owner.get("pid"), int) and isinstance(owner.get("host"), str):
            return owner
    return None


def _alive(owner: dict[str, Any]) -> bool:
    if owner["host"] != socket.gethostname():
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


@contextlib.contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Hold `root/run.lock` while a run executes; refuse if a live process already holds it."""
    path = root / LOCK_FILE
    owner = _lock_owner(path)
    if owner is not None and owner["pid"] != os.getpid() and _alive(owner):
        raise UsageError(f"run {root.name!r} is already running (process {owner['pid']}); wait for it or stop it")
    path.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "ts": round(time.time(), 3)}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def is_agent_run(path: Path) -> bool:
    """Whether `path` is a folder written by `hwnas run`."""
    return path.is_dir() and any((path / f).exists() for f in ("settings.json", "trace.jsonl", "checkpoints.sqlite"))


def is_bench(path: Path) -> bool:
    """Whether `path` is a folder written by `hwnas bench --out`."""
    return (path / "results.json").is_file()


def find_runs(folder: Path) -> list[Path]:
    """Run and benchmark folders in `folder` (itself included), up to three levels deep, sorted by path."""
    if not folder.is_dir():
        raise UsageError(f"--dir {folder} is not a folder; pass the folder given to `hwnas run --out`")
    found: list[Path] = []

    def visit(path: Path, depth: int) -> None:
        if is_agent_run(path) or is_bench(path):
            found.append(path)
        elif depth < _SEARCH_DEPTH:
            for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
                visit(child, depth + 1)

    visit(folder, 0)
    return found


def resolve_run(ref: str | Path, folder: Path) -> Run:
    """The agent run `ref`: a run folder path, or a run name inside `folder`."""
    for candidate in (Path(ref), folder / ref):
        if is_agent_run(candidate):
            return Run(candidate)
    if not folder.is_dir():
        raise UsageError(f"no run {str(ref)!r}: --dir {folder} does not exist; pass --dir or a run folder")
    names = [p.name for p in find_runs(folder) if is_agent_run(p)]
    known = f"runs there: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}" if names else "no runs there"
    raise UsageError(f"no run {str(ref)!r} in {folder} ({known}); pass --dir or a run folder")


def _bench_info(path: Path) -> RunInfo:
    results = _load_json(path / "results.json")
    try:
        settings, methods = results["settings"], results["methods"]
        if settings.get("objectives") == "accuracy":  # an accuracy-only benchmark: the pick's test accuracy
            best_method, best = max(methods.items(), key=lambda item: item[1]["mean"]["test_acc"])
            figures = f"best {best_method}: test accuracy of the pick {best['mean']['test_acc']:.2f}"
        else:
            best_method, best = max(methods.items(), key=lambda item: item[1]["mean"]["hv_b"])
            figures = f"best {best_method}: IGD {best['mean']['igd']:.4f} HV_B {best['mean']['hv_b']:.4f}"
        budget = int(settings["budget"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UsageError(f"{path / 'results.json'} is damaged (not a `hwnas bench` results file)") from None
    started = (path / "results.json").stat().st_mtime
    return RunInfo(path.name, path, "bench", "finished", started, budget, budget, None, None, figures)


def _figures(summary: dict[str, Any] | None, front_size: int | None) -> str:
    true = (summary or {}).get("true")
    if true and "test_acc" in true:  # a run on accuracy alone
        return f"test accuracy of the pick {true['test_acc']:.2f}"
    if true:
        return f"IGD {true['igd']:.4f} HV_B {true['hv_b']:.4f}"
    return f"front {front_size}" if front_size is not None else ""


def run_info(path: Path, now: float | None = None) -> RunInfo:
    """Status and headline figures of the run or benchmark folder `path`."""
    if is_bench(path) and not is_agent_run(path):
        return _bench_info(path)
    run = Run(path)
    summary, settings = run.summary(), run.settings()
    budget = settings.get("budget")
    if summary is not None:
        used, rounds, front_size = summary.get("budget_used"), summary.get("rounds"), summary.get("front_size")
    else:
        state = run.checkpoint() or {}
        archive = state.get("archive", [])
        used, rounds = len(archive), state.get("round")
        rows = [ArchiveRow.from_evaluated(r) for r in archive]
        front_size = len(non_dominated_records(rows, row_objectives(rows)))
    return RunInfo(
        run.name,
        path,
        "agent",
        run.status(now),
        run.started(),
        budget,
        used,
        rounds,
        front_size,
        _figures(summary, front_size),
    )


def _damaged_info(path: Path, error: UsageError) -> RunInfo:
    started = path.stat().st_mtime
    kind: Literal["agent", "bench"] = "agent" if is_agent_run(path) else "bench"
    return RunInfo(path.name, path, kind, "damaged", started, None, None, None, None, str(error))


def list_runs(folder: Path, now: float | None = None) -> list[RunInfo]:
    """Every run and benchmark under `folder`, newest first; one that cannot be read is listed as damaged."""
    infos = []
    for path in find_runs(folder):
        try:
            infos.append(run_info(path, now))
        except UsageError as error:
            infos.append(_damaged_info(path, error))
    return sorted(infos, key=lambda info: info.started or 0.0, reverse=True)
