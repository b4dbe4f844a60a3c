"""Structured-output modes: how a JSON schema travels to a chat model, and how `auto` picks one.

Servers speaking the OpenAI chat API differ in where they take a JSON schema:

- `json_schema`: OpenAI's `response_format: {"type": "json_schema", "json_schema": {...}}` (OpenAI,
  recent vLLM, Ollama, LM Studio);
- `json_object`: `response_format: {"type": "json_object", "schema": {...}}` (llama-cpp-python's
  server, which turns the schema into a decoding grammar; the embedded model takes the same);
- `guided`: vLLM's `guided_json` extra body field (vLLM before 0.12, which removed it);
- `prompt`: nothing but the schema pasted into the prompt (any server).

`auto` probes once per run, in that order, with a tiny request whose schema appears only in the
structured-output field and admits a single answer (`PROBE_SCHEMA`). A mode is *rejected* when the
server answers it with an HTTP error, *accepted* when it answers, and *followed* when the reply is the
one answer the schema admits: the server itself applied the schema, so the prompt need not repeat it.
The first followed mode wins; else the first accepted one (schema also in the prompt); a server that
rejects all four is a usage error naming them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

from hwnas.llm.errors import JsonModeUnavailable

JsonMode = Literal["json_schema", "json_object", "guided", "prompt"]
JSON_MODES: tuple[JsonMode, ...] = get_args(JsonMode)
"""Every mode, in the order `auto` tries them."""
ModeSetting = Literal["auto", "json_schema", "json_object", "guided", "prompt"]
"""What a user may ask for: a mode, or `auto` to negotiate one."""
JSON_MODE_CHOICES: tuple[ModeSetting, ...] = get_args(ModeSetting)
JSON_MODE_HELP = (
    "how the JSON schema is sent: auto (probe the server once, default for openai-compatible), "
    "json_schema (OpenAI response_format, default for openai), json_object (llama-cpp-python), "
    "guided (vLLM guided_json), prompt (schema in the prompt only)"
)

PROBE_VALUE = "k7q"
PROBE_SCHEMA: dict[str, Any] = {
    "title": "Probe",
    "type": "object",
    "properties": {"probe": {"type": "string", "enum": [PROBE_VALUE]}},
    "required": ["probe"],
}
"""A schema with one legal reply that no model guesses from the prompt alone."""
PROBE_MESSAGES = [("system", "Reply with one JSON object."), ("user", "Reply now.")]
PROBE_MAX_TOKENS = 24

# Words a server's error uses when it objects to how the schema was sent rather than to the call.
_MODE_WORDS = ("response_format", "json_schema", "json_object", "guided", "schema", "grammar")
_DETAIL_CHARS = 160


Outcome = Literal["followed", "accepted", "rejected"]


@dataclass(frozen=True)
class ModeTrial:
    """One probe of one mode: the outcome, what the server said, and how long the call took."""

    mode: JsonMode
    outcome: Outcome
    detail: str
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        """For the trace."""
        return {"mode": self.mode, "outcome": self.outcome, "detail": self.detail, "wall_s": round(self.wall_s, 3)}

    def describe(self) -> str:
        """One line for `hwnas llm check`."""
        verdict = {
            "followed": "accepted, schema followed",
            "accepted": "accepted, schema not followed",
            "rejected": "rejected",
        }[self.outcome]
        return f"{self.mode:<11} {verdict} ({self.detail}), {self.wall_s:.2f} s"


@dataclass(frozen=True)
class ModeChoice:
    """The mode a client uses, whether the server applies the schema itself, and why it was chosen."""

    mode: JsonMode
    schema_enforced: bool
    reason: str
    trials: tuple[ModeTrial, ...] = ()


def mode_kwargs(mode: JsonMode, name: str, schema_json: dict[str, Any], *, remote: bool) -> dict[str, Any]:
    """The call arguments that carry `schema_json` in `mode` (none for `prompt`).

    Remote fields go through langchain-openai's `extra_body`, so they reach the server as written:
    a `response_format` given directly would make it switch to the SDK's `parse()`, which raises on a
    cut-off reply and loses its text. The embedded model takes `response_format` as a call argument.
    """
    if mode == "json_schema":
        field: dict[str, Any] = {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema_json, "strict": False},
            }
        }
    elif mode == "json_object":
        field = {"response_format": {"type": "json_object", "schema": schema_json}}
    elif mode == "guided":
        field = {"guided_json": schema_json}
    else:
        return {}
    return {"extra_body": field} if remote else field


def names_the_mode(error: BaseException) -> bool:
    """Whether an HTTP error objects to the structured-output field: a mode problem, not worth a retry.

    Credentials (401/403), a wrong model or URL (404) and rate limits (429) are not; any other error
    status whose message names the field or its schema is (llama-cpp-python answers an unknown
    `response_format` type with HTTP 500, OpenAI and vLLM with 400).
    """
    status = getattr(error, "status_code", None)
    if not isinstance(status, int) or status < 400 or status in (401, 403, 404, 429):
        return False
    text = str(error).lower()
    return any(word in text for word in _MODE_WORDS)


def short_detail(error: BaseException) -> str:
    """An error in a few words: its HTTP status and the start of its message, on one line."""
    status = getattr(error, "status_code", None)
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        message = str(error)
    message = " ".join(message.split())
    if len(message) > _DETAIL_CHARS:
        message = message[:_DETAIL_CHARS] + "..."
    return f"HTTP {status}: {message}" if isinstance(status, int) else message


def probe_outcome(text: str) -> tuple[Outcome, str]:
    """Whether a probe reply is the one answer `PROBE_SCHEMA` admits."""
    from hwnas.llm.client import parse_json_reply  # the client imports this module

    try:
        value = parse_json_reply(text)
    except ValueError as error:
        return "accepted", f"reply is not the schema's: {error}"
    if value == {"probe": PROBE_VALUE}:
        return "followed", "reply is the schema's only answer"
    return "accepted", f"reply is not the schema's: {json.dumps(value)[:60]}"


def choose(trials: list[ModeTrial]) -> ModeChoice:
    """`auto`'s pick from probed modes (see the module docstring); `JsonModeUnavailable` if none answered."""
    followed = [t for t in trials if t.outcome == "followed"]
    if followed:
        return ModeChoice(
            followed[0].mode,
            True,
            "the first mode whose reply followed a schema sent only in the structured-output field",
            tuple(trials),
        )
    accepted = [t for t in trials if t.outcome == "accepted"]
    if accepted:
        return ModeChoice(
            accepted[0].mode,
            False,
            "the first mode the server accepted; none applied the schema, so it also goes in the prompt",
            tuple(trials),
        )
    tried = "; ".join(f"{t.mode}: {t.detail}" for t in trials)
    raise JsonModeUnavailable(f"the server accepts no structured-output mode (tried {tried})")
