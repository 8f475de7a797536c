"""The seam between the two halves of a stream translator.

A *decoder* reads one upstream API (chat chunks, Anthropic events or Responses events) and calls a few
normalised operations on an *emitter*, which writes the client API's grammar into `out`. Any decoder
pairs with any other API's emitter, so six directions need three decoders and three emitters. `Pipe`
joins the halves into the `StreamTranslator` the handler drives, and owns the end-of-stream rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..wire.providers import Api
from ..wire.sse import SseEvent
from ..wire.usage import EMPTY, Usage


class Emitter:
    """Client side. Subclasses implement the operations; the base keeps the common bookkeeping."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.usage: Usage = EMPTY
        self.done = False  # the client's terminal event was written
        self.finished = False  # the upstream said the content is complete (finish/stop reason)
        self.started_output = False
        self.error: str | None = None
        self.error_code: str | None = None  # normalised (OpenAI-style) code of `error`
        self.model: str | None = None  # the upstream's model name, once known
        self.reasoning_field = "reasoning_content"  # which chat field the upstream's reasoning came in
        self.tool_names: list[str] = []  # tool calls started, by upstream name (proxy.turns)

    def take(self) -> bytes:
        out = self.out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def meta(self, upstream_id: str | None, model: str | None) -> None:
        # Our own ids are minted per client grammar; only the upstream's model name is shown back.
        if model and not self.model and isinstance(model, str):
            self.model = model

    # The operations. `key` identifies a tool call across its fragments (decoder-chosen, 0..n).
    def text(self, delta: str) -> None: ...
    def thinking(self, delta: str) -> None: ...
    def thinking_signature(self, signature: str) -> None: ...
    def redacted_thinking(self, data: str) -> None: ...
    def tool_start(self, key: int, call_id: str, name: str) -> None: ...
    def tool_args(self, key: int, delta: str) -> None: ...
    def tool_extra(self, key: int, extra: Any) -> None: ...
    def close_block(self) -> None: ...
    def finish(self, reason: str) -> None: ...
    def end(self) -> None: ...
    def fail(self, message: str, code: str) -> None: ...
    def body(self) -> dict[str, Any]:
        raise NotImplementedError  # every emitter builds its API's complete body


class Decoder(Protocol):
    ended: bool

    def feed(self, event: SseEvent) -> None: ...

    def feed_body(self, body: dict[str, Any]) -> None: ...


class Pipe:
    """A `StreamTranslator`: upstream events in, client bytes out."""

    __slots__ = ("_dec", "_em")

    def __init__(self, decoder: Decoder, emitter: Emitter) -> None:
        self._dec = decoder
        self._em = emitter

    @property
    def usage(self) -> Usage:
        return self._em.usage

    @property
    def error(self) -> str | None:
        return self._em.error

    @property
    def tool_names(self) -> tuple[str, ...]:
        return tuple(self._em.tool_names)

    @property
    def error_code(self) -> str | None:
        """Normalised code of `error` (e.g. rate_limit_exceeded, stream_incomplete)."""
        return self._em.error_code

    @property
    def done(self) -> bool:
        return self._em.done

    @property
    def started_output(self) -> bool:
        return self._em.started_output

    def feed(self, event: SseEvent) -> bytes:
        em = self._em
        if em.done:
            return b""  # anything after the terminal event (e.g. a trailing [DONE]) is moot
        self._dec.feed(event)
        return em.take() if em.out else b""

    def finish(self) -> bytes:
        em = self._em
        if not em.done:
            if em.finished or self._dec.ended:
                # The content was complete (finish/stop reason seen) even if the last marker
                # ([DONE] / message_stop) is missing: Claude Code itself accepts that (§8).
                em.end()
            else:
                em.fail("upstream stream ended before completion", "stream_incomplete")
        return em.take()

    def fail(self, message: str, code: str = "upstream_error") -> bytes:
        em = self._em
        if not em.done:
            em.fail(message, code)
        return em.take()


def complete_body(decoder: Decoder, emitter: Emitter, body: dict[str, Any]) -> dict[str, Any]:
    """Non-streaming: drive the same emitter with a whole upstream body, return the client body."""
    decoder.feed_body(body)
    if not emitter.done:
        emitter.end()
    emitter.out.clear()
    return emitter.body()



class ClientSide:
    """Base of the three client sides (chat_client, messages_client, responses_client): which client API
    it reads and writes, which upstream API its translator targets and that API's decoder class. A side
    names its emitter; the whole-body and streaming answers are built the same way for all three."""

    client: Api

    def __init__(self, upstream: Api, decoder: Callable[[Emitter], Decoder]) -> None:
        self.upstream = upstream
        self._decoder = decoder

    def emitter(self, state: Any, streaming: bool) -> Emitter:
        """The client API's emitter for one answer, from the state `read()` returned."""
        raise NotImplementedError

    def response(self, body: dict[str, Any], state: Any) -> dict[str, Any]:
        em = self.emitter(state, False)
        return complete_body(self._decoder(em), em, body)

    def stream(self, state: Any) -> Pipe:
        em = self.emitter(state, True)
        return Pipe(self._decoder(em), em)
