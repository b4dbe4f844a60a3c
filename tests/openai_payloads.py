"""What an OpenAI-compatible server answers, for the tests' fake servers (one shape for all of them)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


def chat_completion(model: str, content: str) -> dict[str, Any]:
    """A `chat.completion` whose one choice says `content`, with token counts."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
    """Answer the handler's request with `payload` as JSON."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
