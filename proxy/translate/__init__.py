"""Cross-API translation: pure dict/event in → dict/bytes out, one module per direction.

The handler (proxy/handler.py) asks `get_translation(client_api, upstream_api)` for a `Translation`
and uses it three ways: `request()` maps the client body to the upstream API, `response()` maps a
complete upstream body back, and `stream()` returns a `StreamTranslator` that turns upstream SSE events
into the client's exact event grammar. Nothing here imports aiohttp: translators are testable and
benchmarkable on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..wire.models import ModelCaps
from ..wire.providers import Api
from ..wire.sse import SseEvent
from ..wire.usage import Usage


@dataclass
class TranslatedRequest:
    body: dict[str, Any]  # the upstream request body
    state: Any = None  # carried into response()/stream(): tool kinds, namespaces, client model, …
    notes: list[str] = field(default_factory=list)  # e.g. "dropped web_search tool" (shown in the UI)


class StreamTranslator(Protocol):
    @property
    def usage(self) -> Usage:
        """The latest usage seen upstream."""
        ...

    @property
    def error(self) -> str | None:
        """An in-stream upstream error, if any."""
        ...

    @property
    def error_code(self) -> str | None:
        """The normalised (OpenAI-style) code of `error`, e.g. rate_limit_exceeded, stream_incomplete."""
        ...

    @property
    def tool_names(self) -> tuple[str, ...]:
        """The tool calls started so far, by upstream name (proxy.turns)."""
        ...

    @property
    def done(self) -> bool:
        """True once a terminal client event (completed/failed/message_stop/[DONE]) was emitted."""
        ...

    @property
    def started_output(self) -> bool:
        """True once any client-visible output item/block was emitted (no failover after that)."""
        ...

    def feed(self, event: SseEvent) -> bytes:
        """One upstream event → the client bytes to write now (possibly b"")."""
        ...

    def finish(self) -> bytes:
        """Upstream EOF. Emits what is still open, plus a terminal event; if the upstream never sent
        its own end, the terminal event is a failure (never a silently closed stream)."""
        ...

    def fail(self, message: str, code: str = "upstream_error") -> bytes:
        """Terminate the client stream with an in-stream error in the client's grammar."""
        ...


class Translation(Protocol):
    client: Api
    upstream: Api

    def request(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None = None) -> TranslatedRequest:
        """Raises `Untranslatable` (proxy.wire.errors) for requests whose meaning cannot be kept (e.g.
        file_search). `caps`: what the target accepts (proxy.wire.models); by default looked up from the
        model id alone."""
        ...

    def response(self, body: dict[str, Any], state: Any) -> dict[str, Any]: ...

    def stream(self, state: Any) -> StreamTranslator: ...


_REGISTRY: dict[tuple[Api, Api], Translation] = {}


def register(t: Translation) -> Translation:
    _REGISTRY[(t.client, t.upstream)] = t
    return t


def get_translation(client: Api, upstream: Api) -> Translation | None:
    if not _REGISTRY:
        _load()
    return _REGISTRY.get((client, upstream))


def _load() -> None:
    # Lazy: the direction modules (each registers itself) load on the first translated request, not at
    # start-up.
    from . import (  # noqa: F401
        chat_to_messages,
        chat_to_responses,
        messages_to_chat,
        messages_to_responses,
        responses_to_chat,
        responses_to_messages,
    )
