"""Inspecting runs: find them, read their status, trace, archive and knowledge base, and export them.

    from hwnas.runs import list_runs, resolve_run, TraceFilter, format_records
    run = resolve_run("demo", Path("runs"))
    for text in format_records(TraceFilter(agent="generator", round=2).apply(run.records())):
        print(text)

The CLI verbs `hwnas runs`, `hwnas trace` and `hwnas export` are thin shells over these functions;
the trace format they read is documented in `docs/trace-format.md`.
"""

from hwnas.runs.export import export_csv, export_document, export_json, run_summary
from hwnas.runs.records import AGENTS, TraceFilter, distinct_llm_calls, format_record, format_records, llm_usage
from hwnas.runs.schema import ArchiveRow, read_archive_csv, read_bench_csv
from hwnas.runs.store import (
    RUNNING_WINDOW_S,
    Run,
    RunInfo,
    find_runs,
    list_runs,
    read_records,
    resolve_run,
    run_info,
    run_lock,
)

__all__ = [
    "AGENTS",
    "RUNNING_WINDOW_S",
    "ArchiveRow",
    "Run",
    "RunInfo",
    "TraceFilter",
    "distinct_llm_calls",
    "export_csv",
    "export_document",
    "export_json",
    "find_runs",
    "format_record",
    "format_records",
    "list_runs",
    "llm_usage",
    "read_archive_csv",
    "read_bench_csv",
    "read_records",
    "resolve_run",
    "run_info",
    "run_lock",
    "run_summary",
]
