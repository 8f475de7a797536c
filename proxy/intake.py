"""A client's LLM request, read the same way on every path that takes one: the proxy's LLM endpoints
(proxy.handler) and the decision-only `/routing/v1/*` (proxy.routing.api). Each step turns bad input
into a `ProxyError` with a 4xx the client's own error shape can carry, never a 5xx an agent retries."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from .errors import ProxyError
from .resolve import AliasTable, ModelNotFound, Resolution, Resolver
from .wire.providers import Api

# The headers a session is known by, first match wins: Plano's affinity header, Codex, Claude Code.
SESSION_HEADERS = ("x-model-affinity", "session-id", "session_id", "x-claude-code-session-id", "thread-id")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request's bytes; a 413 the client can read when they exceed the proxy's body limit."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ProxyError(413, f"request body exceeds the proxy limit of {limit} bytes", "request_too_large") from None


def parse_client_body(raw: bytes) -> tuple[dict[str, Any], str | None]:
    """The JSON object of an LLM request and its `model`; a `ProxyError(400)` for anything else."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProxyError(400, f"request body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(body, dict):
        raise ProxyError(400, "request body must be a JSON object", "invalid_request")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise ProxyError(400, "`model` must be a string", "invalid_request")
    return body, model


def session_key(headers: Any, body: dict[str, Any]) -> str | None:
    """The client's own session id (a header, else the Responses `prompt_cache_key`), if it sent one."""
    for h in SESSION_HEADERS:
        v = headers.get(h)
        if v:
            return str(v)
    key = body.get("prompt_cache_key")
    return str(key) if key else None


def resolve_or_4xx(resolver: Resolver, aliases: AliasTable, model: str | None, client_api: Api) -> Resolution:
    """`model` resolved by `resolver` (the caller reads the state's once, so a reload mid-request does not
    change the request's view of the config).
    Unknown: Anthropic's clients get the 404 `not_found_error` Claude Code explains as a model problem,
    OpenAI's a 400 `model_not_found`; either way the message lists what is configured."""
    try:
        return resolver.resolve(model)
    except ModelNotFound as exc:
        status = 404 if client_api is Api.MESSAGES else 400
        names = [*resolver.model_choices()[:8], *(a.name for a in aliases.items())]
        raise ProxyError(status, f"{exc}. Configured: {', '.join(names)}", "model_not_found") from None
