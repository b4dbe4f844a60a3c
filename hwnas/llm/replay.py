"""`replay:PATH`: answer every LLM call from a recorded trace, offline and at zero cost.

A reply is looked up by the call's `request_key` (agent, round, messages, schema: see
`hwnas.llm.client.request_key`) and `occurrence` (how many times this process had already sent that
same request). The key is computed again from each recorded request, so a recording answers whether
its model had the schema pasted into the prompt or enforced by a grammar (the embedded model), and
recordings made before the key took that form still replay. Because the key is the request itself, a
resumed run that skips finished calls still finds the replies of the calls it does make. A finished
run that made no LLM call is a valid (empty) recording. A recorded failure (timeout, rate limit...) is
raised again as the same error type, so a replayed run takes the same path. A call the recording lacks
raises `ReplayMismatch`: there is no fallback to another model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwnas.errors import UsageError
from hwnas.llm import errors
from hwnas.llm.client import Reply, request_key
from hwnas.trace import read_trace

_REPLAYABLE_ERRORS: dict[str, type[errors.LLMError]] = {
    cls.__name__: cls
    for cls in (
        errors.LLMError,
        errors.LLMReplyError,
        errors.LLMRateLimited,
        errors.LLMBudgetExceeded,
        errors.LLMUnreachable,
    )
}


@dataclass(frozen=True)
class ReplayBook:
    """The recorded `llm_call` records of one trace, indexed by (request_key, occurrence)."""

    path: Path
    records: dict[tuple[str, int], dict[str, Any]]
    provider: str
    model: str

    @classmethod
    def load(cls, path: str | Path) -> ReplayBook:
        """Index a trace; a missing, damaged or empty recording is a `UsageError`."""
        path = Path(path)
        hint = "pass replay:PATH with the trace.jsonl of a recorded run"
        if not path.is_file():
            raise UsageError(f"replay file {path} not found; {hint}")
        records: dict[tuple[str, int], dict[str, Any]] = {}
        finished = False
        for record in _records(path, hint):
            finished = finished or (record.get("kind") == "note" and record.get("text") == "finished")
            if record.get("kind") != "llm_call":
                continue
            try:
                key = (_recorded_key(record), int(record["occurrence"]))
            except (KeyError, TypeError, ValueError):
                raise UsageError(
                    f"replay file {path} has an llm_call record without request_key/occurrence; {hint}"
                ) from None
            # A resumed recording can hold the same call twice (the one interrupted); both carry the
            # same request, and the first answer is the one the original run continued from.
            records.setdefault(key, record)
        if not records and not finished:
            raise UsageError(f"replay file {path} holds no llm_call records; {hint}")
        first = next(iter(records.values()), {})
        return cls(path, records, str(first.get("provider", "")), str(first.get("model", "replay")))

    def answer(self, key: str, occurrence: int, agent: str) -> Reply:
        """The recorded reply of this request, or the recorded error raised again."""
        record = self.records.get((key, occurrence))
        if record is None:
            seen = sum(1 for k, _ in self.records if k == key)
            raise errors.ReplayMismatch(
                f"replay {self.path}: no recorded reply for {agent}'s request {key} (occurrence {occurrence}; "
                f"the recording has {seen}); this run asks something the recorded run did not"
            )
        if record.get("reply") is None:
            error_type = _REPLAYABLE_ERRORS.get(str(record.get("error_type")), errors.LLMError)
            raise error_type(f"(replayed) {record.get('error')}")
        return Reply(
            text=str(record["reply"]),
            tokens_in=record.get("tokens_in"),
            tokens_out=record.get("tokens_out"),
            finish_reason=record.get("finish_reason"),
        )


def _recorded_key(record: dict[str, Any]) -> str:
    """The request key of a recorded call, computed from its request where the record holds one."""
    request = record.get("request")
    if isinstance(request, dict) and {"messages", "schema_name", "schema"} <= request.keys():
        conversation = [(str(role), str(text)) for role, text in request["messages"]]
        return request_key(
            str(record["agent"]), record.get("round"), conversation, str(request["schema_name"]), request["schema"]
        )
    return str(record["request_key"])


def _records(path: Path, hint: str) -> Iterator[dict[str, Any]]:
    try:
        for record in read_trace(path):
            if not isinstance(record, dict):
                raise UsageError(f"replay file {path} is damaged (a line is not a JSON object); {hint}")
            yield record
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"replay file {path} is damaged (not JSON Lines: {error}); {hint}") from None
    except OSError as error:
        raise UsageError(f"replay file {path} unreadable ({error.strerror}); {hint}") from None
