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

    @property
    def at_boundary(self) -> bool:
        """Between events: no partial line, no event half-read."""
        return not self._buf and self._event is None and not self._data

    def feed(self, chunk: bytes) -> list[SseEvent]:
        buf = self._buf + chunk if self._buf else chunk
        self._buf = b""
        out: list[SseEvent] = []
        if b"\r" in buf:  # CR or CRLF line ends: the general parser for the whole chunk
            self._lines(buf, out, 0, False)
            return out
        start = 0
        if self._event is not None or self._data:  # finish the event a previous chunk left open
            start = self._lines(buf, out, 0, True)
        if start < 0:
            return out
        # At an event boundary: split whole events at once. Nearly every event upstreams send is one
        # `data:` line, with or without one `event:` line before it; those become an SseEvent in a few
        # C-level operations. Anything else goes through the line parser.
        blocks = buf[start:].split(b"\n\n") if start else buf.split(b"\n\n")
        tail = blocks.pop()  # the incomplete rest (b"" when the chunk ended on a blank line)
        append = out.append
        for block in blocks:
            if block[:6] == b"data: ":
                if b"\n" not in block:
                    append(SseEvent(None, block[6:]))
                    continue
            elif block[:7] == b"event: ":
                nl = block.find(b"\n")
                if nl > 0 and block[nl + 1 : nl + 7] == b"data: " and block.find(b"\n", nl + 1) < 0:
                    append(SseEvent(block[7:nl].decode("utf-8", "replace"), block[nl + 7 :]))
                    continue
            elif not block:
                continue  # extra blank lines between events
            self._lines(block + b"\n\n", out, 0, False)
        if tail:
            self._lines(tail, out, 0, False)
        return out

    def _lines(self, buf: bytes, out: list[SseEvent], start: int, stop_at_boundary: bool) -> int:
        """The general parser: complete lines of `buf` from `start`; a partial last line is kept for the
        next chunk. With `stop_at_boundary`, returns where the first completed event ends (or -1 when
        none did, everything consumed)."""
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
            if stop_at_boundary and not line and self._event is None and not self._data:
                return start
        self._buf = buf[start:]
        return -1

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
