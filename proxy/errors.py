"""Errors the proxy raises, and their rendering in each client API's own error format.

A Codex client must get an OpenAI-shaped body, Claude Code an Anthropic-shaped one; the status code
decides whether the client retries (docs/codex-wire.md §6, §8), so deterministic failures
are always 4xx. This module is the one place that knows both shapes.
"""

from __future__ import annotations

from typing import Any

import orjson

from .wire.providers import Api

# Anthropic's error `type` by HTTP status (docs/codex-wire.md §10).
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    501: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# OpenAI's error `type` by status.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class ProxyError(Exception):
    """A failure with a status and a stable code, rendered per client API by `error_body`."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "proxy_error",
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def anthropic_type(status: int) -> str:
    return _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def openai_type(status: int) -> str:
    return _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_payload(api: Api, status: int, message: str, code: str, request_id: str = "") -> dict[str, Any]:
    if api is Api.MESSAGES:
        body: dict[str, Any] = {"type": "error", "error": {"type": anthropic_type(status), "message": message}}
        if request_id:
            body["request_id"] = request_id
        return body
    return {"error": {"message": message, "type": openai_type(status), "param": None, "code": code}}


def error_body(api: Api, status: int, message: str, code: str, request_id: str = "") -> bytes:
    return orjson.dumps(error_payload(api, status, message, code, request_id))


def extract_error_message(body: bytes) -> str:
    """Best-effort human message from any provider's error body (OpenAI, Anthropic, Ollama, text)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:300].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or err.get("type")
            if msg:
                return str(msg)[:500]
        elif isinstance(err, str):
            return err[:500]
        if "message" in data:
            return str(data["message"])[:500]
    return body[:300].decode("utf-8", "replace").strip()
