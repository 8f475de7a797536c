"""The SSE parser survives any chunking: split at every byte offset, mid-line, mid-CRLF, mid-UTF-8."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.sse import SseEvent, SseParser, encode

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
