"""Progress of a long command: a live status line on a terminal, plain log lines anywhere else.

    with Progress(120, unit="evaluated") as progress:
        progress.update(42, round=3, front=7, hv_b=0.81, llm_calls=31)   # redraws the status line
        progress.log("round 3 | evaluated 42/120 | front 7")               # a permanent line

On a terminal the status line (a bar, done/total, elapsed time, the fields) is redrawn in place at most
every `REDRAW_S` seconds and permanent lines scroll above it. When the stream is not a terminal (CI, a
file, a pipe) or `TERM=dumb`, `update` writes nothing and `log` writes plain lines, so logs stay short.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from types import TracebackType
from typing import Any, Final, TextIO

REDRAW_S: Final = 0.1
BAR_WIDTH: Final = 20
_CLEAR_LINE: Final = "\r\x1b[2K"


def format_fields(fields: dict[str, Any]) -> str:
    """`name value | name value`, floats to 4 decimals, underscores as spaces (`hv_b` stays `HV_B`)."""
    parts = []
    for name, value in fields.items():
        if value is None:
            continue
        label = "HV_B" if name == "hv_b" else "IGD" if name == "igd" else name.replace("_", " ")
        parts.append(f"{label} {value:.4f}" if isinstance(value, float) else f"{label} {value}")
    return " | ".join(parts)


class Progress:
    """A status line for `total` units of work (`unit` names them), written to `stream` (default stderr)."""

    def __init__(self, total: int, *, unit: str, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        if live is None:
            live = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.live = live
        self._started = time.monotonic()
        self._drawn_at = float("-inf")
        self._line = ""
        self._done = 0
        self._fields: dict[str, Any] = {}

    def status_line(self) -> str:
        """The live line as it would be drawn now."""
        filled = round(BAR_WIDTH * min(self._done / self.total, 1.0)) if self.total else BAR_WIDTH
        elapsed = int(time.monotonic() - self._started)
        extra = format_fields(self._fields)
        return (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self._done}/{self.total} {self.unit} "
            f"{elapsed // 60}:{elapsed % 60:02d}{' | ' + extra if extra else ''}"
        )

    def _draw(self) -> None:
        width = shutil.get_terminal_size().columns
        self._line = self.status_line()[: max(width - 1, 10)]  # a wrapped line could not be redrawn in place
        self.stream.write(_CLEAR_LINE + self._line)
        self.stream.flush()
        self._drawn_at = time.monotonic()

    def due(self) -> bool:
        """Whether an `update` now would redraw: callers skip gathering costly fields when it would not."""
        return self.live and time.monotonic() - self._drawn_at >= REDRAW_S

    def update(self, done: int, **fields: Any) -> None:
        """Record progress; on a terminal, redraw the status line (throttled, always on completion)."""
        self._done, self._fields = done, fields
        if self.due() or (self.live and done >= self.total):
            self._draw()

    def log(self, message: str) -> None:
        """Write a permanent line (above the status line on a terminal)."""
        if self.live and self._line:
            self.stream.write(_CLEAR_LINE)
        self.stream.write(message + "\n")
        if self.live and self._line:
            self._draw()
        else:
            self.stream.flush()

    def close(self) -> None:
        """Leave the final status line on a terminal; nothing to do elsewhere."""
        if self.live and self._line:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self._line = ""

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
