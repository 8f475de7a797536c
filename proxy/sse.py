"""Incremental Server-Sent-Events parsing and encoding, at byte level.

`SseParser.feed()` takes network chunks split anywhere — mid-line, mid-`\\r\\n`, mid-UTF-8 sequence —
and returns complete events; text is only decoded per complete line, so a split multi-byte character
is never corrupted. `close()` flushes a final event that lacks its blank line (Plano#980).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class SseEvent:
    event: str | None
    data: bytes  # data lines joined with b"\n"

    def json(self) -> Any:
        """The data as JSON, or None when it is not JSON (e.g. `[DONE]`)."""
        try:
            return orjson.loads(self.data)
        except orjson.JSONDecodeError:
            return None


class SseParser:
    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[SseEvent]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[SseEvent] = []
        start = 0
        find = buf.find
        while True:
            nl = find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if line[-1:] == b"\r":
                line = line[:-1]
            self._line(line, out)
        self._buf = buf[start:]
        return out

    def close(self) -> list[SseEvent]:
        out: list[SseEvent] = []
        if self._buf:
            line, self._buf = self._buf.rstrip(b"\r"), b""
            self._line(line, out)
        if self._data:
            out.append(SseEvent(self._event, b"\n".join(self._data)))
        self._event, self._data = None, []
        return out

    def _line(self, line: bytes, out: list[SseEvent]) -> None:
        if not line:
            if self._data:
                out.append(SseEvent(self._event, b"\n".join(self._data)))
            self._event, self._data = None, []
            return
        if line[0] == 58:  # ':' comment / keep-alive
            return
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")


def encode(data: Any, event: str | None = None) -> bytes:
    """One SSE frame. `event:` lines are what Anthropic clients need; OpenAI clients ignore them."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    if event:
        return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"
    return b"data: " + payload + b"\n\n"


DONE = b"data: [DONE]\n\n"
