"""proxy.span_encoding writes OTLP spans as protobuf bytes by hand; the protobuf library's own messages are
the reference. Every value an attribute can hold, every span part and the export request's framing must
parse back with the library to exactly what its own setters would have built."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from proxy.span_encoding import SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SpanEncoder, export_request, varint

INT64 = st.integers(-(1 << 63), (1 << 63) - 1)
VALUES = st.one_of(st.booleans(), INT64, st.floats(allow_nan=False), st.text(max_size=300))
KEYS = st.text(min_size=1, max_size=200)


def library_attribute(key: str, value: Any) -> KeyValue:
    kv = KeyValue(key=key)
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    else:
        kv.value.string_value = str(value)
    return kv


def parsed(raw: bytes) -> Span:
    span = Span()
    span.MergeFromString(raw)
    return span


@settings(max_examples=300, deadline=None)
@given(KEYS, VALUES)
def test_an_attribute_parses_back_as_the_library_sets_it(key: str, value: Any) -> None:
    enc = SpanEncoder()
    for _ in range(2):  # the second time from the per-key prefixes
        (got,) = parsed(enc.attribute(key, value)).attributes
        assert got == library_attribute(key, value)
        (again,) = parsed(enc.repeating(key, value)).attributes
        assert again == got


@given(INT64)
def test_varint_matches_the_library(n: int) -> None:
    assert b"\x18" + varint(n) == AnyValue(int_value=n).SerializeToString()  # int_value is field 3, a varint


def test_edge_values() -> None:
    enc = SpanEncoder()
    for key, value, expect in (
        ("n", 0, library_attribute("n", 0)),
        ("n", 127, library_attribute("n", 127)),
        ("n", 128, library_attribute("n", 128)),
        ("n", -1, library_attribute("n", -1)),
        ("n", (1 << 63) - 1, library_attribute("n", (1 << 63) - 1)),
        ("big", 1 << 70, library_attribute("big", float(1 << 70))),  # beyond int64: the double it rounds to
        ("f", float("inf"), library_attribute("f", float("inf"))),
        ("s", "\ud800x", library_attribute("s", "?x")),  # a lone surrogate: replaced, still valid UTF-8
        ("k" * 300, "v" * 70_000, library_attribute("k" * 300, "v" * 70_000)),  # multi-byte lengths
    ):
        (got,) = parsed(enc.attribute(key, value)).attributes
        assert got == expect, key


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, (1 << 128) - 1), st.integers(1, (1 << 64) - 1), st.none() | st.integers(1, (1 << 64) - 1),
    st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1), st.text(max_size=80),
    st.dictionaries(KEYS, VALUES, max_size=6), st.dictionaries(KEYS, VALUES, max_size=6),
    st.none() | st.text(max_size=300),
)  # fmt: skip
def test_a_whole_span_parses_back(trace_id: int, span_id: int, parent: int | None, start: int, end: int, name: str,
                                  static: dict[str, Any], fresh: dict[str, Any], error: str | None) -> None:
    enc = SpanEncoder(per_request_strings={"request_id"})
    raw = enc.fresh(trace_id, span_id, parent, start, end, [enc.attribute(k, v) for k, v in fresh.items()], error)
    raw += enc.static(name, SPAN_KIND_SERVER, static)
    want = Span(trace_id=trace_id.to_bytes(16, "big"), span_id=span_id.to_bytes(8, "big"), name=name,
                kind=SPAN_KIND_SERVER, start_time_unix_nano=start, end_time_unix_nano=end)  # fmt: skip
    if parent is not None:
        want.parent_span_id = parent.to_bytes(8, "big")
    want.attributes.extend([library_attribute(k, v) for k, v in fresh.items()])
    want.attributes.extend([library_attribute(k, v) for k, v in static.items()])
    if error is not None:
        want.status.code = Status.STATUS_CODE_ERROR
        want.status.message = error[:200]
    assert parsed(raw) == want


def test_the_export_request_frames_resources_scopes_and_spans() -> None:
    enc = SpanEncoder()
    resource = enc.key_value("service.name", "plano(llm)")
    resource_b = b"\x0a" + varint(len(resource)) + resource
    spans = [enc.span(7, 8, None, "POST /v1/responses", SPAN_KIND_INTERNAL, 1, 2, {"a": 1}),
             enc.span(7, 9, 8, "POST /v1/chat", SPAN_KIND_SERVER, 3, 4, {"b": "x"}, "HTTP 502")]  # fmt: skip
    req = ExportTraceServiceRequest.FromString(export_request([(resource_b, spans), (resource_b, [])], "planoai-tui"))
    (rs,) = req.resource_spans  # a resource with no spans is left out
    assert rs.resource.attributes[0].value.string_value == "plano(llm)"
    (ss,) = rs.scope_spans
    assert ss.scope.name == "planoai-tui"
    assert [s.name for s in ss.spans] == ["POST /v1/responses", "POST /v1/chat"]
    assert ss.spans[1].parent_span_id == (8).to_bytes(8, "big") and ss.spans[1].status.message == "HTTP 502"
    assert ss.spans[0].kind == Span.SPAN_KIND_INTERNAL and ss.spans[0].attributes[0].value.int_value == 1
