"""What can go wrong in an LLM call, as types the agent graph can tell apart.

`LLMError` and its subclasses are the failures a search survives (a node catches them and records a
failed decision). A replay that diverges from its recording is different: it means the run is not the
recorded one, so `ReplayMismatch` is a `UsageError` and deliberately not an `LLMError`, so that no
agent's `except LLMError` turns it into a silent fallback.
"""

from __future__ import annotations

from hwnas.errors import UsageError


class LLMError(Exception):
    """An LLM call failed; the message says which agent, which provider and why."""


class LLMReplyError(LLMError):
    """The model's replies stayed invalid (not JSON, or not the schema) through every repair round."""


class LLMRateLimited(LLMError):
    """The provider kept answering HTTP 429 after every allowed retry."""


class LLMBudgetExceeded(LLMError):
    """The client's spending cap is reached; no further calls are made."""


class LLMUnreachable(LLMError):
    """The provider could not be reached, timed out, or kept failing with server errors (5xx)."""


class JsonModeRejected(LLMError):
    """The server refused a request because of its structured-output field: a mode problem, not retried."""


class JsonModeUnavailable(UsageError):
    """No structured-output mode works with the server, or the one chosen with `--json-mode` does not."""


class LLMProviderFailed(UsageError):
    """The provider failed every call so far, or several in a row: the run stops instead of going on blind.

    A `UsageError` and not an `LLMError` for the reason `ReplayMismatch` is: no agent may turn it into a
    fallback decision, so it ends the run with exit code 2 (its checkpoint intact, to resume later).
    """


class ReplayMismatch(UsageError):
    """A replayed run asked for a call its recording does not contain."""
