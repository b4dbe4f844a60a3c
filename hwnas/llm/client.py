"""`LLMClient`: every agent's LLM call goes through `structured`, whatever the provider.

One call: the agent's messages plus a JSON-schema instruction go to the chat model (with the provider's
native JSON mode where it has one); the reply is parsed and validated with pydantic; an invalid reply is
sent back with the validation error for at most `repair_rounds` more tries, then `LLMReplyError`.
Remote calls are retried with exponential backoff on 429, 5xx, connection errors and timeouts, at most
`max_retries` times per request.

Each model invocation (first try or repair) is written to the trace as one `kind="llm_call"` record:
the request (messages, schema name and JSON schema, parameters), the raw reply, the parsed result or the
error, tokens in/out, wall time and cost. The record also carries `request_key` (see `request_key`:
agent, round, messages and schema, but not how the schema reached the model) and `occurrence` (how
many times this process had already sent that request), which is what `replay:PATH` looks replies up by.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

from hwnas.errors import UsageError
from hwnas.llm.errors import LLMBudgetExceeded, LLMError, LLMRateLimited, LLMReplyError, LLMUnreachable
from hwnas.trace import redact_secrets

if TYPE_CHECKING:
    from hwnas.llm.replay import ReplayBook
    from hwnas.trace import TraceWriter

T = TypeVar("T", bound=BaseModel)
JsonMode = Literal["llama", "openai", "prompt"]
"""How a chat model is asked for JSON: llama.cpp grammar, OpenAI `response_format`, or the prompt alone."""

MAX_BACKOFF_S = 30.0
_FEEDBACK_CHARS = 600


@dataclass(frozen=True)
class PriceTable:
    """USD per million tokens (input, output) by model name; a model not listed has unknown cost."""

    usd_per_million: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def cost(self, model: str, tokens_in: int | None, tokens_out: int | None) -> float | None:
        """Cost of one call, or None when the model has no price or the provider reported no tokens."""
        price = self.usd_per_million.get(model)
        if price is None or tokens_in is None or tokens_out is None:
            return None
        return (tokens_in * price[0] + tokens_out * price[1]) / 1e6

    @classmethod
    def from_json(cls, path: str | Path) -> PriceTable:
        """Read `{"model": {"input": USD_PER_1M, "output": USD_PER_1M}, ...}`."""
        try:
            raw = json.loads(Path(path).read_text())
            return cls({name: (float(p["input"]), float(p["output"])) for name, p in raw.items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise UsageError(
                f"price table {path} unreadable ({error}); expected {{\"MODEL\": {{\"input\": X, \"output\": Y}}}}"
            ) from None


DEFAULT_PRICES = PriceTable(
    {  # OpenAI list prices (USD per 1M tokens, standard tier) when this table was written; override with prices=
        "gpt-4o": (2.50, 10.00),
        "gpt-4o-mini": (0.15, 0.60),
        "gpt-4.1": (2.00, 8.00),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
    }
)


@dataclass(frozen=True)
class LLMUsage:
    """Running totals of one client: invocations, tokens, cost (known part), wall time, retries, repairs."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    wall_s: float = 0.0
    retries: int = 0
    repairs: int = 0
    failures: int = 0


@dataclass(frozen=True)
class Reply:
    """What one model invocation returned."""

    text: str
    tokens_in: int | None
    tokens_out: int | None
    finish_reason: str | None = None
    retries: int = 0
    model_s: float | None = None
    """Seconds the model itself worked, where the provider says (the embedded model: without queueing)."""


@dataclass(frozen=True)
class Transport:
    """How to ask a chat model for JSON, and whether its failures are worth retrying."""

    json_mode: JsonMode = "prompt"
    remote: bool = False
    build_params: Mapping[str, Any] = field(default_factory=dict)
    """Fixed sampling settings, recorded with every call. Prompt mode: the model was built with them and
    nothing is sent per call. Other modes: sent with each call, beside temperature, max_tokens, seed."""


def request_key(
    agent: str, round_number: Any, conversation: list[tuple[str, str]], schema_name: str, schema_json: dict[str, Any]
) -> str:
    """Stable hash of what a call asks: agent, round, messages and schema.

    The instruction that conveys the schema is taken out of the conversation first: the embedded model
    gets a line saying a grammar enforces the schema, other providers get the schema pasted, and a
    replay must find the same call either way. Provider, sampling parameters and seed are not part of it.
    """
    semantic = without_instruction(conversation, schema_name, schema_json)
    payload = json.dumps([agent, round_number, [list(m) for m in semantic], schema_json], sort_keys=True,
                         ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def _sampling_seed(base: int, agent: str, conversation: list[tuple[str, str]], schema_json: dict[str, Any],
                   occurrence: int) -> int:
    """A seed per prompt (as the model sees it) and occurrence: a call's sample does not depend on what ran before."""
    payload = json.dumps([agent, [list(m) for m in conversation], schema_json], sort_keys=True, ensure_ascii=False)
    return (base + int(hashlib.sha256(payload.encode("utf-8")).hexdigest()[:8], 16) + occurrence) % 2**31


def without_instruction(
    conversation: list[tuple[str, str]], schema_name: str, schema_json: dict[str, Any]
) -> list[tuple[str, str]]:
    """The conversation as the agent wrote it: the schema instruction `with_instruction` added, removed."""
    if not conversation or conversation[0][0] != "system":
        return conversation
    text = conversation[0][1]
    for enforced in (False, True):
        instruction = schema_instruction(schema_name, schema_json, enforced)
        if text == instruction:
            return conversation[1:]
        if text.endswith(f"\n\n{instruction}"):
            return [("system", text[: -len(instruction) - 2]), *conversation[1:]]
    return conversation


def schema_instruction(schema_name: str, schema_json: dict[str, Any], enforced: bool = False) -> str:
    """The text that tells a model what JSON to answer with.

    `enforced`: the decoder itself admits only this schema (llama.cpp grammar), so the schema is not
    repeated in the prompt. On the embedded model it was about 40 % of every prompt, prompt tokens cost
    most of a call's time there, and a schema that changes per call would defeat llama.cpp's reuse of
    the common prompt prefix.
    """
    if enforced:
        return (f"Answer with one JSON object only, a {schema_name}: its fields and allowed values are "
                "enforced while you write it.")
    compact = json.dumps(schema_json, separators=(",", ":"), ensure_ascii=False)
    return (
        f"Answer with one JSON object only (no prose, no code fences) that is a valid {schema_name} "
        f"under this JSON schema:\n{compact}"
    )


def with_instruction(messages: list[tuple[str, str]], instruction: str) -> list[tuple[str, str]]:
    """Append the instruction to the leading system message (one system message suits every provider)."""
    if messages and messages[0][0] == "system":
        return [("system", f"{messages[0][1]}\n\n{instruction}"), *messages[1:]]
    return [("system", instruction), *messages]


def parse_json_reply(text: str) -> Any:
    """The first JSON value in a reply, tolerating prose or a ``` fence around it."""
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("the reply contains no JSON object")
    try:
        value, _ = json.JSONDecoder(strict=False).raw_decode(text, start)  # raw newlines in strings are fine
    except json.JSONDecodeError as error:
        raise ValueError(f"the reply is not valid JSON ({error.msg} at character {error.pos})") from None
    return value


def describe_invalid(error: ValidationError) -> str:
    """A validation error in one short line a model can act on."""
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()]
    return "; ".join(parts)[:_FEEDBACK_CHARS]


def _to_langchain(messages: list[tuple[str, str]]) -> list[BaseMessage]:
    kinds: dict[str, type[BaseMessage]] = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[role](content=text) for role, text in messages]


def _check_roles(messages: list[tuple[str, str]]) -> None:
    for role, text in messages:
        if role not in ("system", "user", "assistant") or not isinstance(text, str):
            raise ValueError(f"messages are (role, text) with role system/user/assistant, got {role!r}")


def _retry_kind(error: BaseException) -> Literal["rate", "server", "unreachable"] | None:
    """Which retryable failure this is, or None for one that retrying cannot fix."""
    import httpx
    import openai

    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        if status == 429:
            return "rate"
        return "server" if status >= 500 else None
    if isinstance(error, openai.APIConnectionError | httpx.TransportError | TimeoutError | ConnectionError):
        return "unreachable"
    return None


def _exhausted(kind: str, who: str, error: BaseException, retries: int) -> LLMError:
    """The error for a retryable failure that outlasted every retry."""
    if kind == "rate":
        return LLMRateLimited(f"{who} rate limited (HTTP 429) after {retries} retries")
    if kind == "server":
        status = getattr(error, "status_code", "5xx")
        return LLMUnreachable(f"{who} server error (HTTP {status}) after {retries} retries")
    return LLMUnreachable(f"{who} unreachable ({error}) after {retries} retries")


def _retry_after_s(error: BaseException) -> float | None:
    headers = getattr(getattr(error, "response", None), "headers", None)
    if headers is None:
        return None
    with contextlib.suppress(TypeError, ValueError):
        return float(headers.get("retry-after"))
    return None


class LLMClient:
    """Structured calls to one provider with validation, repair, retries, recording and usage totals.

    Build it with `make_llm`; `provider` and `model` name what answers. Safe to call from the graph's
    parallel branches.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        chat_model: BaseChatModel | None = None,
        replay: ReplayBook | None = None,
        transport: Transport | None = None,
        trace: TraceWriter | None = None,
        temperature: float = 0.7,
        seed: int = 0,
        max_tokens: int = 512,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        prices: PriceTable | None = None,
        budget_usd: float | None = None,
        load_s: float = 0.0,
    ) -> None:
        if (chat_model is None) == (replay is None):
            raise ValueError("an LLMClient answers from exactly one of chat_model and replay")
        self.provider = provider
        self.model = model
        self.chat_model = chat_model
        self.load_s = load_s
        """Seconds spent loading the model (the embedded GGUF) when the client was built."""
        self._replay = replay
        self._transport = transport or Transport()
        self._trace = trace
        self._temperature = temperature
        self._seed = seed
        self._max_tokens = max_tokens
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._prices = prices or PriceTable()
        self._budget_usd = budget_usd
        self._lock = threading.Lock()
        self._usage = LLMUsage()
        self._occurrences: dict[str, int] = {}
        self._native_json = True

    def __repr__(self) -> str:
        return f"LLMClient(provider={self.provider!r}, model={self.model!r})"

    @property
    def usage(self) -> LLMUsage:
        """A snapshot of the running totals."""
        with self._lock:
            return self._usage

    def structured(
        self,
        *,
        agent: str,
        messages: list[tuple[str, str]],
        schema: type[T],
        context: dict[str, Any] | None = None,
        repair_rounds: int = 2,
        max_tokens: int | None = None,
    ) -> T:
        """Ask for one reply of `schema`; validated, repaired up to `repair_rounds` times, recorded.

        `messages` are (role, text) pairs, roles system/user/assistant; `context` (round, partition...)
        is copied into each trace record. Raises `LLMReplyError` when every try was invalid, and
        `LLMRateLimited`, `LLMUnreachable` or `LLMBudgetExceeded` when the provider could not answer.
        """
        _check_roles(messages)
        schema_json = schema.model_json_schema()
        enforced = self._transport.json_mode == "llama"
        conversation = with_instruction(messages, schema_instruction(schema.__name__, schema_json, enforced))
        limit = max_tokens or self._max_tokens
        last_error = ""
        for repair in range(repair_rounds + 1):
            reply, record = self._invoke_recorded(agent, conversation, schema, schema_json, context, repair, limit)
            try:
                if reply.finish_reason == "length":
                    raise ValueError(f"the reply was cut off at the {limit}-token limit")
                result = schema.model_validate(parse_json_reply(reply.text))
            except (ValueError, ValidationError) as error:
                last_error = describe_invalid(error) if isinstance(error, ValidationError) else str(error)
                self._write({**record, "error": last_error})
                conversation = [
                    *conversation,
                    ("assistant", reply.text),
                    ("user", f"That reply is invalid: {last_error}. Answer again with only the corrected JSON "
                             "object, shorter if it was cut off."),
                ]
                continue
            self._write({**record, "parsed": result.model_dump(mode="json")})
            self._add_usage(repairs=repair)
            return result
        self._add_usage(repairs=repair_rounds, failures=1)
        raise LLMReplyError(f"{agent}: {self.provider}:{self.model} gave no valid {schema.__name__} in "
                            f"{repair_rounds + 1} tries; last error: {last_error}")

    def _add_usage(self, **increments: float) -> None:
        with self._lock:
            self._usage = replace(
                self._usage, **{name: getattr(self._usage, name) + value for name, value in increments.items()}
            )

    def _invoke_recorded(
        self,
        agent: str,
        conversation: list[tuple[str, str]],
        schema: type[BaseModel],
        schema_json: dict[str, Any],
        context: dict[str, Any] | None,
        repair: int,
        max_tokens: int,
    ) -> tuple[Reply, dict[str, Any]]:
        """One invocation (or replayed answer) and its trace record, still without the parse outcome.

        A failed invocation is written to the trace at once (with `error_type`, so a replay fails the
        same way) and re-raised.
        """
        key = request_key(agent, (context or {}).get("round"), conversation, schema.__name__, schema_json)
        with self._lock:
            occurrence = self._occurrences.get(key, 0)
            self._occurrences[key] = occurrence + 1
        params: dict[str, Any] = dict(self._transport.build_params)
        if self._transport.json_mode != "prompt":
            seed = _sampling_seed(self._seed, agent, conversation, schema_json, occurrence)
            params.update(temperature=self._temperature, max_tokens=max_tokens, seed=seed)
        record: dict[str, Any] = {
            **(context or {}),
            "agent": agent,
            "provider": self.provider,
            "model": self.model,
            "request_key": key,
            "occurrence": occurrence,
            "repair_round": repair,
            "request": {
                "messages": [list(m) for m in conversation],
                "schema_name": schema.__name__,
                "schema": schema_json,
                "params": params,
            },
        }
        start = time.perf_counter()
        try:
            if self._replay is not None:
                reply = self._replay.answer(key, occurrence, agent)
            else:
                self._check_budget(agent)
                reply = self._invoke(conversation, schema, schema_json, params)
        except LLMError as error:
            self._add_usage(failures=1)
            self._write({**record, "reply": None, "error": str(error), "error_type": type(error).__name__,
                         "tokens_in": None, "tokens_out": None, "cost_usd": 0.0,
                         "wall_s": round(time.perf_counter() - start, 4)})
            raise
        wall_s = time.perf_counter() - start
        reply = replace(reply, text=redact_secrets(reply.text))  # a server may echo the key; no agent sees it
        cost = 0.0 if self._replay is not None else self._prices.cost(self.model, reply.tokens_in, reply.tokens_out)
        self._add_usage(calls=1, tokens_in=reply.tokens_in or 0, tokens_out=reply.tokens_out or 0,
                        cost_usd=cost or 0.0, wall_s=wall_s, retries=reply.retries)
        return reply, {
            **record,
            "reply": reply.text,
            "finish_reason": reply.finish_reason,
            "parsed": None,
            "error": None,
            "tokens_in": reply.tokens_in,
            "tokens_out": reply.tokens_out,
            "wall_s": round(wall_s, 4),
            "model_s": None if reply.model_s is None else round(reply.model_s, 4),
            "cost_usd": cost,
            "retries": reply.retries,
        }

    def _write(self, record: dict[str, Any]) -> None:
        if self._trace is not None:
            self._trace.write("llm_call", **record)

    def _check_budget(self, agent: str) -> None:
        if self._budget_usd is not None and self.usage.cost_usd >= self._budget_usd:
            raise LLMBudgetExceeded(
                f"{agent}: LLM budget of ${self._budget_usd:.2f} spent (${self.usage.cost_usd:.4f}); no more calls"
            )

    def _invoke(
        self, conversation: list[tuple[str, str]], schema: type[BaseModel], schema_json: dict[str, Any],
        params: dict[str, Any],
    ) -> Reply:
        assert self.chat_model is not None
        messages = _to_langchain(conversation)
        retries = 0
        while True:
            kwargs = {**params, **self._json_mode_kwargs(schema, schema_json)}
            try:
                message = self.chat_model.invoke(messages, **kwargs)
                break
            except (LLMError, UsageError):
                raise
            except Exception as error:
                status = getattr(error, "status_code", None)
                if status == 400 and "extra_body" in kwargs and self._native_json:
                    # Some OpenAI-compatible servers reject json_schema response formats: fall back to
                    # the schema in the prompt for the rest of this client's life.
                    self._native_json = False
                    continue
                if status in (401, 403):
                    raise UsageError(f"{self.provider} rejected the credentials (HTTP {status}); check the API "
                                     "key in the environment") from None
                kind = _retry_kind(error) if self._transport.remote else None
                if kind is None:
                    raise LLMError(f"{self.provider}:{self.model} failed: {type(error).__name__}: "
                                   f"{str(error)[:300]}") from error
                if retries >= self._max_retries:
                    raise _exhausted(kind, f"{self.provider}:{self.model}", error, retries) from error
                delay = _retry_after_s(error) or self._backoff_s * 2**retries * (0.5 + random.random())
                time.sleep(min(delay, MAX_BACKOFF_S))
                retries += 1
        usage = getattr(message, "usage_metadata", None) or {}
        metadata = getattr(message, "response_metadata", None) or {}
        return Reply(
            text=message.text,
            tokens_in=usage.get("input_tokens"),
            tokens_out=usage.get("output_tokens"),
            finish_reason=metadata.get("finish_reason"),
            retries=retries,
            model_s=metadata.get("model_seconds"),
        )

    def _json_mode_kwargs(self, schema: type[BaseModel], schema_json: dict[str, Any]) -> dict[str, Any]:
        """The provider's native JSON-mode arguments for one call (none in prompt mode)."""
        if self._transport.json_mode == "llama":
            return {"response_format": {"type": "json_object", "schema": schema_json}}
        if self._transport.json_mode == "openai" and self._native_json:
            # Through extra_body, so langchain-openai sends it as is instead of switching to the SDK's
            # parse(), which raises on a cut-off reply and loses its text.
            response_format = {"name": schema.__name__, "schema": schema_json, "strict": False}
            return {"extra_body": {"response_format": {"type": "json_schema", "json_schema": response_format}}}
        return {}
