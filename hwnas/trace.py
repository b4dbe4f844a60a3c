"""The run trace: one JSON object per line, appended as decisions happen, readable after a crash.

Every record carries the format version `v`, a timestamp `ts`, a `kind` (`llm_call`, `decision`,
`tool_call`, `guardrail`, `note`...), and, where they apply, `agent`, `round` and `partition`.
Writes are line-buffered and flushed per record, so a killed run leaves every complete line readable;
a torn last line is skipped by `read_trace` with a note instead of failing.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

TRACE_VERSION = 1

# Keys whose values must never reach a trace, whatever object they sit in.
_SECRET_KEY = re.compile(r"(api[_-]?key|authorization|secret|token_value|password)", re.IGNORECASE)


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: ("<redacted>" if _SECRET_KEY.search(str(k)) else _redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


_given_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Treat `value` (a credential given on the command line, e.g. inside `--base-url`) as a secret."""
    if len(value) >= 8:
        _given_secrets.add(value)


def _secret_values() -> list[str]:
    """Credentials to scrub: environment variables that look like one, and those registered; longest first."""
    found = {v for k, v in os.environ.items() if _SECRET_KEY.search(k) and len(v) >= 8} | _given_secrets
    return sorted(found, key=len, reverse=True)


def redact_secrets(text: str) -> str:
    """`text` with every known secret value replaced by `<redacted>`.

    Applied to what a model replies (a server may echo the Authorization header) before any agent sees
    it, so no checkpoint, knowledge base, export or report can hold a key; and to every trace record.
    """
    for secret in _secret_values():
        text = text.replace(secret, "<redacted>")
    return text


class TraceWriter:
    """Appends records to a JSONL file; safe to share between the graph's parallel branches."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)  # its folder is created with the first record, not before
        self._lock = threading.Lock()

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one record and return it as written."""
        record = {"v": TRACE_VERSION, "ts": round(time.time(), 3), "kind": kind, **_redact(fields)}
        line = redact_secrets(json.dumps(record, default=str, ensure_ascii=False))
        with self._lock:
            if not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
        return record


def read_trace(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield complete records in order; a torn final line (a killed writer) is reported, not raised."""
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith("\n"):
                note = f"trace ends with an incomplete record at line {number}"
                yield {"v": TRACE_VERSION, "kind": "note", "text": note}
                return
            if line.strip():
                yield json.loads(line)
