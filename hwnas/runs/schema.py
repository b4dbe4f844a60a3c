"""The run-folder schema: the archive columns, and the one reader and writer of each archive file.

An agent run's `archive.csv` and `front.csv` (`ARCHIVE_COLUMNS`, one row per evaluated architecture with
where it came from) and a benchmark's `<method>/seed<k>.csv` (`BENCH_COLUMNS`, in evaluation order with
the true test accuracy) are written and read only here; `hwnas.graph.runner`, `hwnas.harness`, the
campaign and `hwnas.runs` call these functions. The other files of a run folder (settings, checkpoints,
trace, knowledge base, summary) are JSON or SQLite documented in `hwnas.graph.runner`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from hwnas.core.evaluation import EvaluationRecord
from hwnas.core.objectives import Objective, objectives_on
from hwnas.errors import UsageError

ARCHIVE_COLUMNS: Final = ("arch_str", "partition", "score", "latency_ms", "round", "operator", "parents", "rationale")
FLEET_ARCHIVE_COLUMNS: Final = (*ARCHIVE_COLUMNS, "latencies")
"""A fleet run's archive (`--device fpga,raspi4`): `latency_ms` is the first device's, `latencies` each
device's in device order, `;`-separated."""
BENCH_COLUMNS: Final = ("step", "arch_str", "score", "latency_ms", "test_acc")


@dataclass(frozen=True, slots=True)
class ArchiveRow:
    """One evaluated architecture of a run, as in `archive.csv`."""

    arch: str
    partition: int
    score: float
    latency_ms: float
    round: int
    operator: str
    parents: tuple[str, ...]
    rationale: str
    latencies: tuple[float, ...] = ()
    """On a fleet: each device's latency in device order (else empty)."""

    @classmethod
    def from_evaluated(cls, record: Mapping[str, Any]) -> ArchiveRow:
        """A row from the graph's `Evaluated` record (or a mapping with the same keys); ValueError if malformed."""
        return cls(
            arch=str(record["arch"]),
            partition=int(record["partition"]),
            score=float(record["score"]),
            latency_ms=float(record["latency_ms"]),
            round=int(record["round"]),
            operator=str(record["operator"]),
            parents=tuple(record["parents"]),
            rationale=str(record["rationale"]),
            latencies=tuple(float(v) for v in record.get("latencies") or ()),
        )

    def as_dict(self) -> dict[str, Any]:
        """The row as `archive.csv` names its columns (parents as a list; `latencies` only on a fleet)."""
        return {
            "arch_str": self.arch,
            "partition": self.partition,
            "score": self.score,
            "latency_ms": self.latency_ms,
            "round": self.round,
            "operator": self.operator,
            "parents": list(self.parents),
            "rationale": self.rationale,
            **({"latencies": list(self.latencies)} if self.latencies else {}),
        }


def join_latencies(values: Sequence[float]) -> str:
    """A fleet's per-device latencies as one CSV field (`read_archive_csv` splits it back)."""
    return ";".join(repr(float(v)) for v in values)


def row_objectives(rows: Sequence[ArchiveRow]) -> tuple[Objective, ...]:
    """What a run's rows were searched on: accuracy and latency, or on a fleet each device's latency."""
    return objectives_on(len(rows[0].latencies) if rows else 1)


def archive_columns(rows: Iterable[Mapping[str, Any] | ArchiveRow]) -> tuple[str, ...]:
    """`FLEET_ARCHIVE_COLUMNS` when the rows carry per-device latencies, else `ARCHIVE_COLUMNS`."""
    fleet = any((r.get("latencies") if isinstance(r, Mapping) else r.latencies) for r in rows)
    return FLEET_ARCHIVE_COLUMNS if fleet else ARCHIVE_COLUMNS


def write_archive_csv(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Write an agent run's archive (or front): the graph's `Evaluated` records, parents joined by `;`.

    A fleet's per-device latencies go to a last column, `;`-joined too.
    """
    rows = [ArchiveRow.from_evaluated(r) for r in records]
    columns = archive_columns(rows)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            fleet = [join_latencies(row.latencies)] if columns == FLEET_ARCHIVE_COLUMNS else []
            fields = [*(row.as_dict()[c] for c in ARCHIVE_COLUMNS[:6]), ";".join(row.parents), row.rationale]
            writer.writerow([*fields, *fleet])


def write_bench_csv(path: Path, records: Sequence[EvaluationRecord], test_acc: np.ndarray) -> None:
    """One row per evaluated architecture: step, arch_str, predicted score, latency, true test accuracy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(BENCH_COLUMNS)
        for record, accuracy in zip(records, test_acc, strict=True):
            writer.writerow([record.step, record.arch_str, record.score, record.latency_ms, float(accuracy)])


def _damaged_csv(path: Path, line: int, problem: str) -> UsageError:
    return UsageError(f"archive {path} is damaged at line {line}: {problem}; restore it or re-run")


def _read_csv(path: Path, columns: Sequence[str], *alternatives: Sequence[str]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or list(reader.fieldnames) not in [list(c) for c in (columns, *alternatives)]:
                raise _damaged_csv(path, 1, f"header {reader.fieldnames}, expected {list(columns)}")
            rows = list(reader)
    except (csv.Error, UnicodeDecodeError) as error:
        raise _damaged_csv(path, 0, str(error)) from None
    for line, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            raise _damaged_csv(path, line, f"{len(columns)} fields expected")
    return rows


def read_archive_csv(path: Path) -> list[ArchiveRow]:
    """Read an agent run's `archive.csv` (or `front.csv`), checking every field."""
    rows = []
    for line, row in enumerate(_read_csv(path, ARCHIVE_COLUMNS, FLEET_ARCHIVE_COLUMNS), start=2):
        try:
            parents = [p for p in row["parents"].split(";") if p]
            latencies = [float(v) for v in row.get("latencies", "").split(";") if v]
            rows.append(
                ArchiveRow.from_evaluated({**row, "arch": row["arch_str"], "parents": parents, "latencies": latencies})
            )
        except ValueError as error:
            raise _damaged_csv(path, line, str(error)) from None
    return rows


def read_bench_csv(path: Path) -> list[ArchiveRow]:
    """Read one benchmark archive (`<out>/<method>/seed<k>.csv`) as rows of a single round 0, partition -1."""
    method = path.parent.name
    rows = []
    for line, row in enumerate(_read_csv(path, BENCH_COLUMNS), start=2):
        try:
            rows.append(
                ArchiveRow(row["arch_str"], -1, float(row["score"]), float(row["latency_ms"]), 0, method, (), "")
            )
        except ValueError as error:
            raise _damaged_csv(path, line, str(error)) from None
    return rows
