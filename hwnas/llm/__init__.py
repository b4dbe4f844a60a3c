"""LLM providers: one factory, structured output, recording and replay.

`make_llm("embedded" | "openai:MODEL" | "openai-compatible:MODEL" | "replay:TRACE" | "PROVIDER:MODEL")`
gives an `LLMClient`; every agent asks it `structured(agent=..., messages=[(role, text), ...],
schema=PydanticModel, context={"round": 3})` and gets a validated instance of the schema back.
"""

from hwnas.llm.client import DEFAULT_PRICES, LLMClient, LLMUsage, PriceTable
from hwnas.llm.errors import (
    JsonModeUnavailable,
    LLMBudgetExceeded,
    LLMError,
    LLMProviderFailed,
    LLMRateLimited,
    LLMReplyError,
    LLMUnreachable,
    ReplayMismatch,
)
from hwnas.llm.providers import SPEC_HELP, make_llm

__all__ = [
    "DEFAULT_PRICES",
    "SPEC_HELP",
    "JsonModeUnavailable",
    "LLMBudgetExceeded",
    "LLMClient",
    "LLMError",
    "LLMProviderFailed",
    "LLMRateLimited",
    "LLMReplyError",
    "LLMUnreachable",
    "LLMUsage",
    "PriceTable",
    "ReplayMismatch",
    "make_llm",
]
