"""The SSE parser survives any chunking: split at every byte offset, mid-line, mid-CRLF, mid-UTF-8."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.wire.sse import SseEvent, SseParser, encode

from .fakes import chat_events, messages_events, responses_events


def parse_all(chunks: list[bytes]) -> list[SseEvent]:
    p = SseParser()
    out: list[SseEvent] = []
    for c in chunks:
        out += p.feed(c)
    return out + p.close()


def streams() -> list[bytes]:
    return [
        b"".join(responses_events("m", text="héllo wörld ✓ 🎉 日本語")),
        b"".join(messages_events("m", text="naïve café", tool_use={"name": "Bash", "input": {"c": "ls é"}})),
        b"".join(chat_events("m", text="ünïcödé", tool_calls=[{"name": "f", "arguments": '{"a":"ß"}'}])),
    ]


def test_every_two_way_split_gives_the_same_events() -> None:
    for blob in streams():
        whole = parse_all([blob])
        assert whole and all(e.data for e in whole)
        for i in range(len(blob) + 1):
            assert parse_all([blob[:i], blob[i:]]) == whole, f"split at {i}"


def test_byte_by_byte_and_crlf() -> None:
    blob = b"".join(responses_events("m", text="日本語テキスト"))
    crlf = blob.replace(b"\n", b"\r\n")
    expected = parse_all([blob])
    assert parse_all([bytes([b]) for b in blob]) == expected
    assert parse_all([bytes([b]) for b in crlf]) == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=200))
def test_random_chunkings(sizes: list[int]) -> None:
    blob = streams()[1]
    chunks, i = [], 0
    for n in sizes:
        chunks.append(blob[i : i + n])
        i += n
    chunks.append(blob[i:])
    assert parse_all(chunks) == parse_all([blob])


def test_comments_multiline_data_and_final_event_without_blank_line() -> None:
    events = parse_all([b': keepalive\n\nevent: x\ndata: a\ndata: b\n\ndata: {"tail":1}'])
    assert events == [SseEvent("x", b"a\nb"), SseEvent(None, b'{"tail":1}')]
    assert events[1].json() == {"tail": 1}


def test_encode_round_trip() -> None:
    frame = encode({"type": "message_stop"}, "message_stop")
    assert parse_all([frame]) == [SseEvent("message_stop", b'{"type":"message_stop"}')]


def reference_parse(blob: bytes) -> list[SseEvent]:
    """The SSE rules written the plain way (line by line, whole input at once), to check the parser's
    fast path for whole `event:`/`data:` blocks against."""
    out: list[SseEvent] = []
    event: str | None = None
    data: list[bytes] = []
    lines = blob.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    for i, line in enumerate(lines):
        if i == len(lines) - 1 and line == b"":
            break
        if not line:
            if data:
                out.append(SseEvent(event, b"\n".join(data)))
            event, data = None, []
            continue
        if line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if data:
        out.append(SseEvent(event, b"\n".join(data)))
    return out


sse_lines = st.sampled_from([
    b"event: response.output_text.delta", b"event:x", b"event: ", b'data: {"a":1}', b"data: [DONE]", b"data:",
    b"data", b"data:  two spaces", b": keep-alive", b"id: 7", b"retry: 10", b"", b"", b"", "data: é✓".encode(),
])


@settings(max_examples=200, deadline=None)
@given(st.lists(sse_lines, max_size=40), st.booleans(), st.lists(st.integers(min_value=1, max_value=25), max_size=30))
def test_parser_matches_the_reference_on_any_stream_and_chunking(lines: list[bytes], crlf: bool,
                                                                 sizes: list[int]) -> None:
    blob = b"".join(line + (b"\r\n" if crlf else b"\n") for line in lines)
    chunks, i = [], 0
    for n in sizes:
        chunks.append(blob[i : i + n])
        i += n
    chunks.append(blob[i:])
    assert parse_all(chunks) == reference_parse(blob)
    assert parse_all([blob]) == reference_parse(blob)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["responses", "chat", "messages"]), st.booleans(),
       st.lists(st.integers(min_value=1, max_value=120), max_size=40), st.sampled_from(["split", "whole", "runs"]))
def test_stream_watcher_skipping_whole_chunks_sees_what_parsing_everything_sees(
        api: str, failed: bool, sizes: list[int], coalesce: str) -> None:
    """The watcher skips the events of a chunk that cannot matter once output started (most of a
    stream: text deltas). Whatever the chunking — an event per chunk, split events, the whole stream at
    once, runs of events cut anywhere — it must end with the same usage, error and done state as
    observing every event."""
    from proxy.watch import StreamWatcher
    from proxy.wire.providers import Api

    from .fakes import chat_events, messages_events, responses_events

    text = "the error handler is fine " * 8
    if api == "responses":
        frames = responses_events("m", text=text)
        if failed:  # a terminal failure instead of response.completed
            frames = [*frames[:-1], encode({"type": "response.failed", "response": {
                "id": "r", "status": "failed", "error": {"code": "server_error", "message": "boom"}}},
                "response.failed")]
    elif api == "chat":
        frames = chat_events("m", text=text)
    else:
        frames = messages_events("m", text=text)
    chunks: list[bytes] = []
    if coalesce == "split":
        for frame in frames:  # whole events per chunk, sometimes split
            i = 0
            for n in sizes[:2]:
                chunks.append(frame[i : i + n])
                i += n
            chunks.append(frame[i:])
    elif coalesce == "whole":  # loopback: the whole stream in one chunk
        chunks = [b"".join(frames)]
    else:  # several events per chunk, cut anywhere
        blob, i = b"".join(frames), 0
        for n in sizes:
            chunks.append(blob[i : i + n * 7])
            i += n * 7
        chunks.append(blob[i:])
    chunks = [c for c in chunks if c]

    full = StreamWatcher(Api(api))
    for ev in parse_all(chunks):
        full.observe(ev)
    fast, parser = StreamWatcher(Api(api)), SseParser()
    for c in chunks:
        fast.observe_chunk(parser, c)
    for ev in parser.close():
        fast.observe(ev)
    state = ("usage", "done", "error", "error_code", "saw_output")
    assert [getattr(fast, k) for k in state] == [getattr(full, k) for k in state]
    failed = failed and api == "responses"
    assert full.done and (full.error == "boom") == failed and (failed or full.usage.output_tokens)
