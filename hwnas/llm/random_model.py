"""`random`: a stand-in for an LLM that answers every structured call with a random valid instance.

It reads the JSON schema the client puts in the system prompt and draws each enum value, integer and
array length uniformly, from a generator seeded by the run's seed and the request. In the agent graph
that means random legal edits, plans and heuristics inside the same loop: the "no LLM" ablation. Tests
use it as an offline model that keeps working whatever an agent's schema becomes.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

SCHEMA_MARKER = "JSON schema:\n"


def random_instance(node: dict[str, Any], defs: dict[str, Any], rng: np.random.Generator) -> Any:
    """A value valid under the JSON schema `node` (the subset pydantic emits for agent schemas)."""
    if "$ref" in node:
        return random_instance(defs[node["$ref"].rsplit("/", 1)[-1]], defs, rng)
    if "anyOf" in node:
        return random_instance(node["anyOf"][int(rng.integers(len(node["anyOf"])))], defs, rng)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][int(rng.integers(len(node["enum"])))]
    kind = node.get("type")
    if kind == "object":
        return {key: random_instance(value, defs, rng) for key, value in node.get("properties", {}).items()}
    if kind == "array":
        low = node.get("minItems", 0)
        count = int(rng.integers(low, node.get("maxItems", low + 3) + 1))
        return [random_instance(node.get("items", {}), defs, rng) for _ in range(count)]
    if kind == "integer":
        low = node.get("minimum", 0)
        return int(rng.integers(low, node.get("maximum", low + 3) + 1))
    if kind == "number":
        return float(node.get("minimum", 0.0))
    if kind == "string":
        return "random"[: node.get("maxLength", 6)]
    return False if kind == "boolean" else None


class RandomChatModel(BaseChatModel):
    """Replies with a random instance of the schema in its system prompt; same seed and request, same reply."""

    seed: int = 0

    @property
    def _llm_type(self) -> str:
        return "random"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **_: Any) -> ChatResult:
        system = "\n".join(str(m.content) for m in messages if m.type == "system")
        if SCHEMA_MARKER not in system:
            raise ValueError("the random model needs the JSON schema in the system prompt")
        schema = json.loads(system.rsplit(SCHEMA_MARKER, 1)[1].split("\n", 1)[0])
        request = zlib.crc32("".join(str(m.content) for m in messages).encode())
        rng = np.random.default_rng([self.seed, request])
        reply = json.dumps(random_instance(schema, schema.get("$defs", {}), rng))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])
