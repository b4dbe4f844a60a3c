"""Export a run's archive, front, knowledge base and summary as one JSON document or as CSV files.

An unfinished run is exported from its latest checkpoint; its summary then holds only what is known
(status, budget used, rounds, front size).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Final

from hwnas.errors import UsageError
from hwnas.pareto import non_dominated_records
from hwnas.runs.schema import ArchiveRow, archive_columns, join_latencies, row_objectives
from hwnas.runs.store import Run

HEURISTIC_COLUMNS: Final = ("id", "from_op", "to_op", "edge", "accuracy", "latency", "evidence", "round", "text")
HISTORY_COLUMNS: Final = (
    "round",
    "change",
    "id",
    "action",
    "from_op",
    "to_op",
    "edge",
    "accuracy",
    "latency",
    "evidence",
    "text",
    "reason",
)


def run_summary(run: Run, archive: list[ArchiveRow]) -> dict[str, Any]:
    """`summary.json` with the run's status, or what an unfinished run's checkpoint tells."""
    summary = run.summary()
    if summary is None:
        summary = {
            "settings": run.settings(),
            "budget_used": len(archive),
            "rounds": max((r.round for r in archive), default=0),
            "front_size": len(non_dominated_records(archive, row_objectives(archive))),
        }
    return {"status": run.status(), **summary}


def export_document(run: Run) -> dict[str, Any]:
    """Everything exported, as plain JSON data; a damaged settings file is refused, as `report` and `runs` do."""
    run.settings()
    archive = run.archive()
    return {
        "run": run.name,
        "summary": run_summary(run, archive),
        "archive": [r.as_dict() for r in archive],
        "front": [r.as_dict() for r in non_dominated_records(archive, row_objectives(archive))],
        "knowledge_base": run.knowledge(),
    }


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _flatten(item, f"{prefix}{key}.")]
    return [(prefix.rstrip("."), json.dumps(value) if isinstance(value, list) else value)]


def _write(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def export_csv(run: Run, folder: Path) -> list[Path]:
    """Write archive.csv, front.csv, knowledge_base.csv, knowledge_history.csv and summary.csv to `folder`."""
    document = export_document(run)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {folder} cannot be created: {error.strerror}") from None

    def as_csv_row(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "parents": ";".join(row["parents"]), "latencies": join_latencies(row.get("latencies", []))}

    columns = archive_columns(document["archive"])

    knowledge = document["knowledge_base"]
    history = [
        {"round": entry.get("round"), "change": change, **item}
        for entry in knowledge.get("history", [])
        for change in ("added", "revised", "retired", "rejected")
        for item in entry.get(change, [])
    ]
    return [
        _write(folder / "archive.csv", columns, [as_csv_row(r) for r in document["archive"]]),
        _write(folder / "front.csv", columns, [as_csv_row(r) for r in document["front"]]),
        _write(folder / "knowledge_base.csv", HEURISTIC_COLUMNS, knowledge.get("heuristics", [])),
        _write(folder / "knowledge_history.csv", HISTORY_COLUMNS, history),
        _write(
            folder / "summary.csv", ("key", "value"), [{"key": k, "value": v} for k, v in _flatten(document["summary"])]
        ),
    ]


def export_json(run: Run) -> str:
    """The export document as indented JSON text."""
    return json.dumps(export_document(run), indent=2, ensure_ascii=False)
