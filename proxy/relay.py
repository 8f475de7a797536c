"""Stream relays: what the handler's one relay loop drives, whatever the pair of APIs.

A relay takes the upstream's network chunks and returns the bytes the client gets, and knows what the
stream said so far (output started, terminal event, usage, in-stream error). Two kinds:

- `PassthroughRelay`: client and upstream speak the same API. Bytes go out unchanged; a `StreamWatcher`
  reads them on the side (TTFT, usage, the terminal event, errors).
- `TranslatedRelay`: another API upstream. Chunks are parsed into SSE events and a `StreamTranslator`
  (proxy.translate) writes the client's grammar.

Both end a stream the same way: `close()` at upstream EOF returns what is still owed, ending with a
terminal failure if the upstream never finished; `fail()` ends it with an error event in the client's
grammar. So the handler relays every stream with one loop and no branch on the kind.
"""

from __future__ import annotations

from typing import Protocol

from .translate import StreamTranslator
from .watch import StreamWatcher, terminal_error_event
from .wire.providers import Api
from .wire.sse import SseParser
from .wire.usage import Usage

INCOMPLETE = "upstream stream ended before completion"


class Relay(Protocol):
    @property
    def usage(self) -> Usage: ...

    @property
    def error(self) -> str | None:
        """An in-stream error (the upstream's, or the incomplete end `close()` found)."""
        ...

    @property
    def error_code(self) -> str | None: ...

    @property
    def started_output(self) -> bool:
        """Client-visible output has begun: no failover to another provider after this."""
        ...

    @property
    def tool_names(self) -> tuple[str, ...]:
        """The tool calls the answer carried so far, by name (proxy.turns)."""
        ...

    @property
    def done(self) -> bool:
        """The client's terminal event went out (or, passing through, came from the upstream)."""
        ...

    def feed(self, chunk: bytes) -> bytes:
        """One network chunk from the upstream → the bytes to write to the client now (maybe b"")."""
        ...

    def close(self) -> bytes:
        """Upstream EOF → the rest, ending in a terminal failure event if the stream was incomplete."""
        ...

    def fail(self, message: str, code: str) -> bytes:
        """End the client's stream with an in-stream error in its own grammar."""
        ...


class PassthroughRelay:
    __slots__ = ("_api", "_parser", "_watcher")

    def __init__(self, api: Api) -> None:
        self._api = api
        self._parser = SseParser()
        self._watcher = StreamWatcher(api)

    @property
    def usage(self) -> Usage:
        return self._watcher.usage

    @property
    def error(self) -> str | None:
        return self._watcher.error

    @property
    def error_code(self) -> str | None:
        return self._watcher.error_code

    @property
    def started_output(self) -> bool:
        return self._watcher.saw_output

    @property
    def tool_names(self) -> tuple[str, ...]:
        return self._watcher.tool_names

    @property
    def done(self) -> bool:
        return self._watcher.done

    def feed(self, chunk: bytes) -> bytes:
        self._watcher.observe_chunk(self._parser, chunk)
        return chunk

    def close(self) -> bytes:
        w = self._watcher
        for ev in self._parser.close():
            w.observe(ev)
        if w.done:
            return b""
        return self.fail(INCOMPLETE, "stream_incomplete")

    def fail(self, message: str, code: str) -> bytes:
        w = self._watcher
        if not w.error:
            w.error, w.error_code = message, code
        w.done = True
        # Relayed bytes may end mid-line: close that event first so ours parses on its own.
        return b"\n\n" + terminal_error_event(self._api, message, code)


class TranslatedRelay:
    __slots__ = ("_parser", "_st")

    def __init__(self, translator: StreamTranslator) -> None:
        self._parser = SseParser()
        self._st = translator

    @property
    def usage(self) -> Usage:
        return self._st.usage

    @property
    def error(self) -> str | None:
        return self._st.error

    @property
    def error_code(self) -> str | None:
        return self._st.error_code

    @property
    def started_output(self) -> bool:
        return self._st.started_output

    @property
    def tool_names(self) -> tuple[str, ...]:
        return self._st.tool_names

    @property
    def done(self) -> bool:
        return self._st.done

    def feed(self, chunk: bytes) -> bytes:
        feed = self._st.feed
        return b"".join([feed(ev) for ev in self._parser.feed(chunk)])

    def close(self) -> bytes:
        feed = self._st.feed
        return b"".join([feed(ev) for ev in self._parser.close()]) + self._st.finish()

    def fail(self, message: str, code: str) -> bytes:
        return self._st.fail(message, code)
