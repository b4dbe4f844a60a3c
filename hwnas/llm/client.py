"""`LLMClient`: every agent's LLM call goes through `structured`, whatever the provider.

One call: the agent's messages plus a JSON-schema instruction go to the chat model, the schema also in
the provider's structured-output field where it has one (`hwnas.llm.modes`; `auto` negotiates the mode
once, on first use); the reply is parsed and validated with pydantic; an invalid reply is
sent back with the validation error for at most `repair_rounds` more tries, then `LLMReplyError`.
Remote calls are retried with exponential backoff on 429, 5xx, connection errors and timeouts, at most
`max_retries` times per request. A remote provider that fails its first call, or `max_consecutive_failures`
calls in a row, stops the run (`LLMProviderFailed`, exit code 2) instead of letting every agent fall back
for the rest of the search.

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
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

from hwnas.errors import UsageError
from hwnas.llm.errors import (
    JsonModeRejected,
    JsonModeUnavailable,
    LLMBudgetExceeded,
    LLMError,
    LLMProviderFailed,
    LLMRateLimited,
    LLMReplyError,
    LLMUnreachable,
)
from hwnas.llm.modes import (
    JSON_MODES,
    PROBE_MAX_TOKENS,
    PROBE_MESSAGES,
    PROBE_SCHEMA,
    JsonMode,
    ModeChoice,
    ModeSetting,
    ModeTrial,
    choose,
    mode_kwargs,
    names_the_mode,
    probe_outcome,
    short_detail,
)
from hwnas.trace import redact_secrets

if TYPE_CHECKING:
    from hwnas.llm.blind import Blinding
    from hwnas.llm.replay import ReplayBook
    from hwnas.trace import TraceWriter

T = TypeVar("T", bound=BaseModel)

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

    json_mode: ModeSetting = "prompt"
    schema_enforced: bool = False
    """The decoder admits only the schema (a grammar), so the prompt need not repeat it; `auto` finds out."""
    mode_reason: str = "the provider's only mode"
    remote: bool = False
    per_call_params: bool = False
    """The model takes temperature, max_tokens and seed per call (else it was built with them)."""
    build_params: Mapping[str, Any] = field(default_factory=dict)
    """Fixed sampling settings, recorded with every call, and sent with each call where the model takes
    per-call parameters."""


class _ModeSwitched(Exception):
    """The server rejected the current mode mid-run and `auto` moved to the next: ask again."""


def request_key(
    agent: str, round_number: Any, conversation: list[tuple[str, str]], schema_name: str, schema_json: dict[str, Any]
) -> str:
    """Stable hash of what a call asks: agent, round, messages and schema.

    The instruction that conveys the schema is taken out of the conversation first: the embedded model
    gets a line saying a grammar enforces the schema, other providers get the schema pasted, and a
    replay must find the same call either way. Provider, sampling parameters and seed are not part of it.
    """
    semantic = without_instruction(conversation, schema_name, schema_json)
    payload = json.dumps(
        [agent, round_number, [list(m) for m in semantic], schema_json], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def _sampling_seed(
    base: int, agent: str, conversation: list[tuple[str, str]], schema_json: dict[str, Any], occurrence: int
) -> int:
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
        return (
            f"Answer with one JSON object only, a {schema_name}: its fields and allowed values are "
            "enforced while you write it."
        )
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
        max_consecutive_failures: int = 3,
        blinding: Blinding | None = None,
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
        self._max_consecutive_failures = max_consecutive_failures
        self._consecutive_failures = 0
        self._answered = False
        self._mode_lock = threading.Lock()
        self._choice: ModeChoice | None = None
        self._blinding = blinding

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
        `LLMRateLimited`, `LLMUnreachable` or `LLMBudgetExceeded` when the provider could not answer;
        `LLMProviderFailed` (a remote provider failing persistently) and `JsonModeUnavailable` are usage
        errors, which no agent catches: they end the run with exit code 2.
        """
        _check_roles(messages)
        while True:
            try:
                return self._structured(agent, messages, schema, context, repair_rounds, max_tokens or self._max_tokens)
            except _ModeSwitched:
                continue

    def _structured(
        self,
        agent: str,
        messages: list[tuple[str, str]],
        schema: type[T],
        context: dict[str, Any] | None,
        repair_rounds: int,
        limit: int,
    ) -> T:
        choice = self.json_mode()
        schema_json = schema.model_json_schema()
        blind = self._blinding
        if blind is not None:  # the model reads hidden names; the agents get real ones back
            messages = [(role, blind.hide(text)) for role, text in messages]
            schema_json = blind.hide_json(schema_json)
        conversation = with_instruction(
            messages, schema_instruction(schema.__name__, schema_json, choice.schema_enforced)
        )
        last_error = ""
        for repair in range(repair_rounds + 1):
            reply, record = self._invoke_recorded(
                agent, conversation, schema, schema_json, context, repair, limit, choice.mode
            )
            try:
                if reply.finish_reason == "length":
                    raise ValueError(f"the reply was cut off at the {limit}-token limit")
                parsed = parse_json_reply(reply.text)
                result = schema.model_validate(parsed if blind is None else blind.reveal_json(parsed))
            except (ValueError, ValidationError) as error:
                last_error = describe_invalid(error) if isinstance(error, ValidationError) else str(error)
                if blind is not None:
                    last_error = blind.hide(last_error)
                self._write({**record, "error": last_error})
                turns = [
                    ("assistant", reply.text),
                    (
                        "user",
                        f"That reply is invalid: {last_error}. Answer again with only the corrected JSON "
                        "object, shorter if it was cut off.",
                    ),
                ]
                conversation = [*conversation, *turns]
                continue
            self._write({**record, "parsed": result.model_dump(mode="json")})
            self._add_usage(repairs=repair)
            return result
        self._add_usage(repairs=repair_rounds, failures=1)
        raise LLMReplyError(
            f"{agent}: {self.provider}:{self.model} gave no valid {schema.__name__} in "
            f"{repair_rounds + 1} tries; last error: {last_error}"
        )

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
        mode: JsonMode,
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
        if self._transport.per_call_params:
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
                "json_mode": mode,
            },
        }
        start = time.perf_counter()
        try:
            if self._replay is not None:
                reply = self._replay.answer(key, occurrence, agent)
            else:
                self._check_budget(agent)
                reply = self._invoke(conversation, schema, schema_json, params, mode)
        except _ModeSwitched:
            with self._lock:  # the call is asked again in the new mode: it was not sent in this one
                self._occurrences[key] -= 1
            raise
        except LLMError as error:
            self._add_usage(failures=1)
            self._write(
                {
                    **record,
                    "reply": None,
                    "error": str(error),
                    "error_type": type(error).__name__,
                    "tokens_in": None,
                    "tokens_out": None,
                    "cost_usd": 0.0,
                    "wall_s": round(time.perf_counter() - start, 4),
                }
            )
            if self._transport.remote and not isinstance(error, LLMBudgetExceeded):
                self._count_failure(error)
            raise
        with self._lock:
            self._consecutive_failures = 0
            self._answered = True
        wall_s = time.perf_counter() - start
        reply = replace(reply, text=redact_secrets(reply.text))  # a server may echo the key; no agent sees it
        cost = 0.0 if self._replay is not None else self._prices.cost(self.model, reply.tokens_in, reply.tokens_out)
        self._add_usage(
            calls=1,
            tokens_in=reply.tokens_in or 0,
            tokens_out=reply.tokens_out or 0,
            cost_usd=cost or 0.0,
            wall_s=wall_s,
            retries=reply.retries,
        )
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

    def _note_mode(self, **fields: Any) -> None:
        """An `llm_mode` record: the structured-output mode chosen or switched to, and why."""
        if self._trace is not None:
            self._trace.write("llm_mode", provider=self.provider, model=self.model, **fields)

    def _check_budget(self, agent: str) -> None:
        if self._budget_usd is not None and self.usage.cost_usd >= self._budget_usd:
            raise LLMBudgetExceeded(
                f"{agent}: LLM budget of ${self._budget_usd:.2f} spent (${self.usage.cost_usd:.4f}); no more calls"
            )

    def _count_failure(self, error: LLMError) -> None:
        """Stop the run when the provider has answered nothing yet, or failed too many calls in a row."""
        with self._lock:
            self._consecutive_failures += 1
            failed, answered = self._consecutive_failures, self._answered
        if failed >= (self._max_consecutive_failures if answered else 1):
            raise LLMProviderFailed(
                f"{self.provider}:{self.model}: {failed} LLM call(s) failed in a row"
                f"{'' if answered else ' and none was answered'}; the last: {error}. Stopping: "
                "check --base-url, the server and the key, then run the same command again"
            ) from error

    def _invoke(
        self,
        conversation: list[tuple[str, str]],
        schema: type[BaseModel],
        schema_json: dict[str, Any],
        params: dict[str, Any],
        mode: JsonMode,
    ) -> Reply:
        kwargs = {**params, **mode_kwargs(mode, schema.__name__, schema_json, remote=self._transport.remote)}
        try:
            message, retries = self._send(_to_langchain(conversation), kwargs, mode)
        except JsonModeRejected as error:
            self._switch_mode(mode, str(error))
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

    def _send(
        self, messages: list[BaseMessage], kwargs: dict[str, Any], mode: JsonMode, probe: bool = False
    ) -> tuple[BaseMessage, int]:
        """One request with retries on transient failures; returns the answer and the retries it took.

        An error that objects to the structured-output field raises `JsonModeRejected` at once (sending
        the same request again cannot help); in a `probe`, so does any HTTP error but a rate limit.
        """
        assert self.chat_model is not None
        retries = 0
        while True:
            try:
                return self.chat_model.invoke(messages, **kwargs), retries
            except (LLMError, UsageError):
                raise
            except Exception as error:
                status = getattr(error, "status_code", None)
                if status in (401, 403):
                    raise UsageError(
                        f"{self.provider} rejected the credentials (HTTP {status}); check the API "
                        "key in the environment"
                    ) from None
                if status == 404:
                    raise UsageError(
                        f"{self.provider}:{self.model}: the server answered {short_detail(error)}; "
                        "check the model name and --base-url (it usually ends in /v1)"
                    ) from None
                if (mode != "prompt" and names_the_mode(error)) or (
                    probe and isinstance(status, int) and status != 429
                ):
                    raise JsonModeRejected(short_detail(error)) from error
                kind = _retry_kind(error) if self._transport.remote else None
                if kind is None:
                    raise LLMError(
                        f"{self.provider}:{self.model} failed: {type(error).__name__}: {str(error)[:300]}"
                    ) from error
                if retries >= self._max_retries:
                    raise _exhausted(kind, f"{self.provider}:{self.model}", error, retries) from error
                delay = _retry_after_s(error) or self._backoff_s * 2**retries * (0.5 + random.random())
                time.sleep(min(delay, MAX_BACKOFF_S))
                retries += 1

    def json_mode(self) -> ModeChoice:
        """The structured-output mode in use; `auto` negotiates it on the first call (once per client)."""
        with self._mode_lock:
            if self._choice is None:
                self._choice = self._negotiate(every_mode=False)
            return self._choice

    def negotiate(self, every_mode: bool = True) -> ModeChoice:
        """Probe the server now and choose the mode (what `hwnas llm check` shows).

        `every_mode`: under `auto`, probe all four modes even after one was followed; a mode set
        explicitly is probed alone, and `JsonModeUnavailable` raised if the server rejects it.
        """
        with self._mode_lock:
            self._choice = self._negotiate(every_mode)
            return self._choice

    def served_models(self) -> list[str] | None:
        """The model names an OpenAI-compatible server lists (GET /models), or None where it lists none."""
        client = getattr(self.chat_model, "root_client", None)
        if client is None:
            return None
        try:
            return sorted(str(model.id) for model in client.models.list())
        except Exception:  # a server without /models, or one that is down: the probe will say which
            return None

    def _negotiate(self, every_mode: bool) -> ModeChoice:
        """The mode chosen (see `hwnas.llm.modes`), written to the trace; probes only remote servers."""
        transport = self._transport
        if not transport.remote:
            return ModeChoice(
                transport.json_mode if transport.json_mode != "auto" else "prompt",
                transport.schema_enforced,
                transport.mode_reason,
            )
        if self.provider == "openai-compatible":
            served = self.served_models()
            if served and self.model not in served:
                raise UsageError(f"the server does not serve model {self.model!r}; it serves: {', '.join(served)}")
        if transport.json_mode != "auto" and not every_mode:
            choice = ModeChoice(transport.json_mode, transport.schema_enforced, transport.mode_reason)
        else:
            modes = JSON_MODES if transport.json_mode == "auto" else (transport.json_mode,)
            trials: list[ModeTrial] = []
            for mode in modes:
                trials.append(self._probe(mode))
                if trials[-1].outcome == "followed" and not every_mode:
                    break
            try:
                choice = choose(trials)
            except JsonModeUnavailable as error:
                self._note_mode(error=str(error), trials=[t.as_dict() for t in trials])
                raise JsonModeUnavailable(f"{self.provider}:{self.model}: {error}") from None
            if transport.json_mode != "auto":
                choice = replace(choice, schema_enforced=transport.schema_enforced, reason=transport.mode_reason)
        self._note_mode(
            mode=choice.mode,
            schema_enforced=choice.schema_enforced,
            reason=choice.reason,
            trials=[t.as_dict() for t in choice.trials],
        )
        return choice

    def _probe(self, mode: JsonMode) -> ModeTrial:
        """One tiny request in `mode` (see `PROBE_SCHEMA`); an unreachable server stops everything."""
        params = (
            {**self._transport.build_params, "temperature": 0.0, "max_tokens": PROBE_MAX_TOKENS, "seed": self._seed}
            if self._transport.per_call_params
            else {}
        )
        kwargs = {**params, **mode_kwargs(mode, "Probe", PROBE_SCHEMA, remote=self._transport.remote)}
        start = time.perf_counter()
        try:
            message, _ = self._send(_to_langchain(PROBE_MESSAGES), kwargs, mode, probe=True)
        except JsonModeRejected as error:
            return ModeTrial(mode, "rejected", str(error), time.perf_counter() - start)
        except LLMError as error:
            self._note_mode(mode=mode, error=str(error))
            raise LLMProviderFailed(
                f"{self.provider}:{self.model}: 1 LLM call (the structured-output probe) failed "
                f"and none was answered; the last: {error}. Stopping: check --base-url and that "
                "the server is running"
            ) from error
        wall_s = time.perf_counter() - start
        if mode == "prompt":  # the probe's schema was sent nowhere: answering is all this mode can show
            return ModeTrial(mode, "accepted", "answered", wall_s)
        outcome, detail = probe_outcome(message.text)
        return ModeTrial(mode, outcome, detail, wall_s)

    def _switch_mode(self, rejected: JsonMode, detail: str) -> NoReturn:
        """After a mid-run rejection: `auto` moves to the next mode and the call is asked again."""
        with self._mode_lock:
            current = self._choice
            if current is not None and current.mode != rejected:  # a parallel branch switched already
                raise _ModeSwitched
            if self._transport.json_mode != "auto" or current is None:
                raise JsonModeUnavailable(
                    f"{self.provider}:{self.model}: the server rejects --json-mode {rejected} "
                    f"({detail}); try --json-mode auto"
                )
            probed = {t.mode: t for t in current.trials}
            later = [
                m
                for m in JSON_MODES[JSON_MODES.index(rejected) + 1 :]
                if m not in probed or probed[m].outcome != "rejected"
            ]
            mode = later[0]  # never empty: prompt mode sends no field to reject
            enforced = mode in probed and probed[mode].outcome == "followed"
            self._choice = ModeChoice(
                mode, enforced, f"the server rejected {rejected} in a call ({detail})", current.trials
            )
            self._note_mode(mode=mode, schema_enforced=enforced, reason=self._choice.reason)
        raise _ModeSwitched
