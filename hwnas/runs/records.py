"""Trace records for people: filter them by agent, round and partition, and format each for a terminal.

Formats follow `docs/trace-format.md`. A record of a kind or with fields this version does not know is
still shown, as its fields, so a reader never hides what a trace holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hwnas.runs.store import read_records

AGENTS: Final = ("navigator", "generator", "memory", "coordinator")
SHORT_CHARS: Final = 240
"""Prompts and replies are cut to this many characters unless the full form is asked for."""
SHORT_RESULTS: Final = 5
"""Tool results and proposals shown per record unless the full form is asked for."""
_PER_PARTITION: Final = ("rejected", "final", "hypervolume")
_ENVELOPE: Final = frozenset({"v", "ts", "kind", "agent", "round", "partition", "attempt"})
_BOOKKEEPING: Final = frozenset({"request_key", "occurrence", "finish_reason", "retries"})
"""LLM-call fields for replay and diagnosis, shown only in the full form."""


def distinct_llm_calls(
    records: Iterable[dict[str, Any]], seen: set[tuple[Any, Any]] | None = None
) -> list[dict[str, Any]]:
    """The `llm_call` records, answered or failed, each call once.

    A call that a resume repeated (its step was cut off before the checkpoint kept its result) has the
    same `request_key` and `occurrence` as the first; only the first is kept, so a resumed run counts
    what an uninterrupted run would. The summary, the progress line and the report all count this way.
    `seen` carries the calls already counted from one batch of records to the next.
    """
    seen = set() if seen is None else seen
    calls = []
    for record in records:
        if record.get("kind") != "llm_call":
            continue
        if "request_key" in record:
            call = (record["request_key"], record.get("occurrence"))
            if call in seen:
                continue
            seen.add(call)
        calls.append(record)
    return calls


def llm_usage(trace_path: Path) -> dict[str, float]:
    """LLM calls (answered or failed), tokens and cost over the whole trace, every session of the run.

    Each call counts once, also when a resume repeated it (see `distinct_llm_calls`).
    """
    usage = {"llm_calls": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0, "llm_seconds": 0.0}
    if not trace_path.exists():
        return usage
    for record in distinct_llm_calls(read_records(trace_path)):
        usage["llm_calls"] += 1
        usage["tokens_in"] += record.get("tokens_in", 0) or 0
        usage["tokens_out"] += record.get("tokens_out", 0) or 0
        usage["cost_usd"] += record.get("cost_usd", 0.0) or 0.0
        usage["llm_seconds"] += record.get("model_s") or record.get("wall_s") or 0.0
    return usage


@dataclass(frozen=True)
class TraceFilter:
    """Which records to keep; None keeps all.

    A record matches a partition when its `partition` field is that partition, or when it holds a
    per-partition table (`rejected`, `final` orders, stop-test `hypervolume`) with an entry for it.
    Records without a round (notes) are dropped by a round filter.
    """

    agent: str | None = None
    round: int | None = None
    partition: int | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether `record` passes every filter given."""
        if self.agent is not None and record.get("agent") != self.agent:
            return False
        if self.round is not None and record.get("round") != self.round:
            return False
        if self.partition is not None and record.get("partition") != self.partition:
            tables = [table for key in _PER_PARTITION if isinstance(table := record.get(key), dict)]
            if not any(str(self.partition) in table for table in tables):
                return False
        return True

    def apply(self, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The matching records, in order."""
        return [r for r in records if self.matches(r)]


def _cut(text: str, full: bool) -> str:
    text = text if full else " ".join(text.split())
    return text if full or len(text) <= SHORT_CHARS else text[: SHORT_CHARS - 1] + "…"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def _indent(lines: Iterable[str], prefix: str = "    ") -> list[str]:
    return [prefix + line for text in lines for line in str(text).splitlines() or [""]]


def _header(record: dict[str, Any], start: float | None) -> str:
    where = [f"{key} {record[key]}" for key in ("round", "partition", "attempt") if record.get(key) is not None]
    who = record.get("agent") or ""
    what = record["kind"].replace("_", " ")
    if record.get("step"):
        what += f" ({record['step']})"
    clock = f"+{record['ts'] - start:8.2f}s" if start is not None and isinstance(record.get("ts"), int | float) else ""
    return " ".join(part for part in (clock, f"[{', '.join(where)}]" if where else "", who, what) if part)


def _llm_call(record: dict[str, Any], full: bool) -> list[str]:
    request = record.get("request") or {}
    messages = request.get("messages") or []
    lines = [
        f"model {record.get('provider', '?')}:{record.get('model', '?')}, schema "
        f"{request.get('schema_name', '?')}, repair round {record.get('repair_round', 0)}"
    ]
    if full:
        for role, text in messages:
            lines += [f"{role}:", *_indent([text])]
        if request.get("params"):
            lines.append(f"params: {_compact(request['params'])}")
    elif messages:
        lines.append(f"prompt: {_cut(str(messages[-1][1]), full)}")
    if record.get("reply") is not None:
        lines.append(f"reply: {_cut(str(record['reply']), full)}")
    if record.get("parsed") is not None:
        lines.append(f"parsed: {_cut(_compact(record['parsed']), full)}")
    if record.get("error"):
        lines.append(f"error: {record['error']}")
    cost = record.get("cost_usd")
    lines.append(
        f"tokens {record.get('tokens_in')} in / {record.get('tokens_out')} out, {record.get('wall_s', 0):.2f} s, "
        + (f"${cost:.4f}" if isinstance(cost, int | float) else "cost unknown")
    )
    return lines


def _listed(items: list[Any], full: bool, show: Any) -> list[str]:
    shown = items if full else items[:SHORT_RESULTS]
    lines = [show(item) for item in shown]
    if len(items) > len(shown):
        lines.append(f"... {len(items) - len(shown)} more (--full shows all)")
    return lines


def _decision(record: dict[str, Any], full: bool) -> list[str]:
    lines: list[str] = []
    if record.get("outcome") == "failed":
        lines.append(f"FAILED: {record.get('error', '')}")
    if "plan" in record:
        lines.append(f"plan: {_cut(str((record['plan'] or {}).get('summary', '')), full)}")
    for partition, order in (record.get("final") or {}).items():
        note = f" - {order.get('note')}" if order.get("note") else ""
        lines.append(f"partition {partition}: {order.get('candidates')} slot(s), {order.get('strategy')}{note}")
    if "proposals" in record:
        proposals = record["proposals"]
        lines.append(f"{len(proposals)} proposal(s)")
        lines += _listed(proposals, full, lambda p: f"  + {p.get('arch')} ({p.get('operator')}) {p.get('rationale')}")
    if "accepted" in record:
        lines.append(f"accepted {len(record['accepted'])}")
        lines += _listed(record["accepted"], full, lambda arch: f"  + {arch}")
    rejected = record.get("rejected")
    for partition, reasons in rejected.items() if isinstance(rejected, dict) else ():
        lines.append(f"rejected in partition {partition}:")
        lines += _listed(reasons, full, lambda reason: f"  - {reason}")
    if "budget_used" in record:
        lines.append(f"budget used {record['budget_used']}")
    if "evaluated" in record:
        lines.append(f"evaluated {record['evaluated']}" + (f" ({record['note']})" if record.get("note") else ""))
    if "hypervolume" in record:
        hv = ", ".join(f"p{p} {v:.4f}" for p, v in record["hypervolume"].items())
        lines.append(f"front hypervolume: {hv}; stable: {record.get('stable', [])}")
        lines.append(f"stop: {record.get('stop_reason') or 'no, another round'}")
    if "proposed" in record:
        actions = (record["proposed"] or {}).get("actions", [])
        lines.append(f"proposed {len(actions)} action(s)")
        lines += _listed(
            actions,
            full,
            lambda a: f"  ? {a.get('action')} #{a.get('target_id')}: {_heuristic_text(a.get('heuristic') or {})}",
        )
    for change in ("added", "revised", "retired"):
        for item in record.get(change) or []:
            evidence = f" (evidence {item['evidence']})" if "evidence" in item else ""
            reason = f": {item['reason']}" if item.get("reason") else ""
            body = _heuristic_text(item) if "to_op" in item else ""
            lines.append(f"  {change} #{item.get('id')} {body}{evidence}{reason}".rstrip())
    if isinstance(record.get("rejected"), list):
        for item in record["rejected"]:
            lines.append(f"  rejected {item.get('action')} #{item.get('id', '-')}: {item.get('reason')}")
    return lines


def _heuristic_text(h: dict[str, Any]) -> str:
    edge = "any edge" if h.get("edge", -1) < 0 else f"edge {h.get('edge')}"
    text = f' "{h["text"]}"' if h.get("text") else ""
    return (
        f"{h.get('from_op')} -> {h.get('to_op')} on {edge}: accuracy {h.get('accuracy')}, "
        f"latency {h.get('latency')}{text}"
    )


def _tool_call(record: dict[str, Any], full: bool) -> list[str]:
    results = record.get("results") or []
    lines = [f"tool {record.get('tool')}: {len(results)} result(s)"]

    def show(result: Any) -> str:
        if isinstance(result, dict) and {"arch", "latency_ms", "score"} <= result.keys():
            return f"  {result['arch']}  {result['latency_ms']:.3f} ms  score {result['score']:.4f}"
        return f"  {_compact(result)}"

    return lines + _listed(results, full, show)


def _note(record: dict[str, Any], full: bool) -> list[str]:
    lines = [str(record.get("text", ""))]
    summary = record.get("summary")
    if isinstance(summary, dict):
        lines += [f"{key}: {_compact(value)}" for key, value in summary.items()]
    if full and isinstance(record.get("settings"), dict):
        lines.append(f"settings: {_compact(record['settings'])}")
    return lines


_KNOWN_FIELDS: Final = {
    "llm_call": {
        "request",
        "reply",
        "parsed",
        "error",
        "tokens_in",
        "tokens_out",
        "wall_s",
        "cost_usd",
        "provider",
        "model",
        "repair_round",
    },
    "decision": {
        "outcome",
        "error",
        "plan",
        "final",
        "proposals",
        "accepted",
        "rejected",
        "budget_used",
        "evaluated",
        "note",
        "hypervolume",
        "stable",
        "stop_reason",
        "proposed",
        "added",
        "revised",
        "retired",
        "step",
    },
    "tool_call": {"tool", "results"},
    "guardrail": {"overrides"},
    "note": {"text", "summary", "settings"},
}


def format_record(record: dict[str, Any], *, full: bool = False, start: float | None = None) -> str:
    """A record as a header line plus indented body lines; `start` (a timestamp) shows times relative to it."""
    kind = record["kind"]
    if kind == "llm_call":
        body = _llm_call(record, full)
    elif kind == "decision":
        body = _decision(record, full)
    elif kind == "tool_call":
        body = _tool_call(record, full)
    elif kind == "guardrail":
        body = [f"override: {line}" for line in record.get("overrides", [])]
    elif kind == "note":
        body = _note(record, full)
    else:
        body = []
    hidden = _KNOWN_FIELDS.get(kind, set()) | _ENVELOPE | (set() if full else _BOOKKEEPING)
    body += [f"{key}: {_cut(_compact(value), full)}" for key, value in record.items() if key not in hidden]
    return "\n".join([_header(record, start), *_indent(body)])


def format_records(records: list[dict[str, Any]], *, full: bool = False) -> Iterator[str]:
    """Every record formatted, times relative to the first timestamped record."""
    start = next((r["ts"] for r in records if isinstance(r.get("ts"), int | float)), None)
    for record in records:
        yield format_record(record, full=full, start=start)
