"""`replay:PATH`: answer every LLM call from a recorded trace, offline and at zero cost.

A reply is looked up by the call's `request_key` (agent, messages, schema) and `occurrence` (how many
times this process had already sent that same request), both written into every `llm_call` record.
Because the key is the request itself, a resumed run that skips finished calls still finds the replies
of the calls it does make. A recorded failure (timeout, rate limit...) is raised again as the same error
type, so a replayed run takes the same path. A call the recording lacks raises `ReplayMismatch`: there
is no fallback to another model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwnas.errors import UsageError
from hwnas.llm import errors
from hwnas.llm.client import Reply
from hwnas.trace import read_trace

_REPLAYABLE_ERRORS: dict[str, type[errors.LLMError]] = {
    cls.__name__: cls
    for cls in (errors.LLMError, errors.LLMReplyError, errors.LLMRateLimited, errors.LLMBudgetExceeded,
                errors.LLMUnreachable)
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
        for record in _records(path, hint):
            if record.get("kind") != "llm_call":
                continue
            try:
                key = (str(record["request_key"]), int(record["occurrence"]))
            except (KeyError, TypeError, ValueError):
                raise UsageError(f"replay file {path} has an llm_call record without request_key/occurrence; "
                                 f"{hint}") from None
            # A resumed recording can hold the same call twice (the one interrupted); both carry the
            # same request, and the first answer is the one the original run continued from.
            records.setdefault(key, record)
        if not records:
            raise UsageError(f"replay file {path} holds no llm_call records; {hint}")
        first = next(iter(records.values()))
        return cls(path, records, str(first.get("provider", "")), str(first.get("model", "")))

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
