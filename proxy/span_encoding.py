"""OTLP spans serialized straight to protobuf bytes, for the export thread of proxy.tracing.

Why by hand: at 100 % sampling the export thread serialized every span through the protobuf library's
message objects (`Span()`, `attributes.add()`, a setter per value): ~15 µs of CPU per span on this VM,
about 6 % of a small request's whole cost, and on the same core as the requests. A span is a dozen
scalar fields; writing their wire encoding directly costs a fraction of that. The bytes go out as they
are (the OTLP exporter's channel, with a stub that takes bytes); a collector refuses a malformed batch,
which costs that batch, never a request. tests/test_span_encoding.py checks every encoder here against
the protobuf library's own serializer, and the tracing tests read our spans with Plano's `trace listen`.

Field numbers are those of opentelemetry/proto/trace/v1/trace.proto and common/v1/common.proto. Protobuf
defines concatenated encodings of a message as their merge (repeated fields append), which is what lets a
span be the fragment that changes per request joined to fragments serialized once per request shape.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

_U64 = struct.Struct("<Q").pack
_F64 = struct.Struct("<d").pack
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

# Span (trace.proto)
SPAN_KIND_SERVER = 2
SPAN_KIND_INTERNAL = 1
_TRACE_ID, _SPAN_ID, _PARENT_ID = b"\x0a\x10", b"\x12\x08", b"\x22\x08"  # bytes fields 1, 2, 4 with their lengths
_NAME = b"\x2a"  # 5, length-delimited
_KIND = b"\x30"  # 6, varint
_START, _END = b"\x39", b"\x41"  # 7, 8: fixed64
_ATTRIBUTE = b"\x4a"  # 9: KeyValue
_STATUS = b"\x7a"  # 15: Status {message = 2, code = 3}
_STATUS_ERROR = b"\x18\x02"  # code = STATUS_CODE_ERROR
# KeyValue {key = 1, value = 2: AnyValue {string_value = 1, bool_value = 2, int_value = 3, double_value = 4}}
_BOOL = {True: b"\x12\x02\x10\x01", False: b"\x12\x02\x10\x00"}  # value, its length, bool_value, the flag
_DOUBLE = b"\x12\x09\x21"  # value (9 bytes) holding double_value
# Export request: ResourceSpans {resource = 1, scope_spans = 2: ScopeSpans {scope = 1, spans = 2}}
_RESOURCE_SPANS, _RESOURCE, _SCOPE_SPANS, _SCOPE, _SPANS = b"\x0a", b"\x0a", b"\x12", b"\x0a", b"\x12"


_SMALL = tuple(bytes((i,)) for i in range(128))  # the one-byte varints


def varint(n: int) -> bytes:
    """Protobuf's base-128 varint; negative numbers as int64 does (ten bytes, two's complement)."""
    if 0 <= n < 0x80:
        return _SMALL[n]
    if 0 < n < 0x4000:  # token counts in the hundreds and thousands: two bytes, without the loop
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, the payload's length, the payload."""
    return tag + varint(len(payload)) + payload


def _utf8(s: str) -> bytes:
    # "replace": a lone surrogate would make invalid UTF-8, which the collector's parse (and ours, of the
    # whole batch) refuses; one odd character must not cost a second of spans.
    return s.encode("utf-8", "replace")


def _string(s: str) -> bytes:
    """A string as field 1 (KeyValue.key, AnyValue.string_value, InstrumentationScope.name)."""
    return field(b"\x0a", _utf8(s))


class SpanEncoder:
    """Spans as protobuf bytes. Keys, names and the attributes that repeat across requests are encoded
    once and kept (bounded); numbers, ids and times are encoded per span. Only the export thread uses it."""

    def __init__(self, per_request_strings: Iterable[str] = ()) -> None:
        self._per_request_strings = frozenset(per_request_strings)  # ids and messages: never worth keeping
        self._keys: dict[str, bytes] = {}
        self._ints: dict[str, tuple[bytes, ...]] = {}
        self._doubles: dict[str, bytes] = {}
        self._strings: dict[tuple[str, int], bytes] = {}  # (key, UTF-8 length) → all bytes before the text
        self._repeating: dict[tuple[str, Any, type], bytes] = {}
        self._names: dict[str, bytes] = {}

    # ------------------------------------------------------------------ one attribute
    # An attribute is `9: KeyValue{1: key, 2: AnyValue{...}}`. Everything before the value's own bytes
    # depends only on the key and on the value's type and encoded length, so it is built once per key
    # (per length, for varints) and a number costs one lookup, its bytes and a concatenation.
    def _key(self, key: str) -> bytes:
        b = self._keys.get(key)
        if b is None:
            if len(self._keys) > 4096:  # custom attributes are an open vocabulary: bounded
                self._keys.clear()
                self._ints.clear()
                self._doubles.clear()
                self._strings.clear()
            b = self._keys[key] = _string(key)
        return b

    def _int_prefixes(self, key: str) -> tuple[bytes, ...]:
        k = self._key(key)
        # index n: the prefix for a value whose varint is n bytes long (1..10)
        out = (b"", *(_ATTRIBUTE + varint(len(k) + 3 + n) + k + b"\x12" + bytes((n + 1,)) + b"\x18"
                      for n in range(1, 11)))  # fmt: skip
        self._ints[key] = out
        return out

    def _double_prefix(self, key: str) -> bytes:
        k = self._key(key)
        out = self._doubles[key] = _ATTRIBUTE + varint(len(k) + 11) + k + _DOUBLE
        return out

    def attribute(self, key: str, value: Any) -> bytes:
        """One entry of a span's `attributes`: a bool, an int64, a double, or any other value as its string."""
        t = type(value)
        if t is int and 0 <= value <= _INT64_MAX:  # token counts, sizes: the common case first
            v = _SMALL[value] if value < 128 else varint(value)
            return (self._ints.get(key) or self._int_prefixes(key))[len(v)] + v
        if t is float:
            return (self._doubles.get(key) or self._double_prefix(key)) + _F64(value)
        if t is str:  # ids, messages: the framing depends only on the key and the text's length
            data = _utf8(value)
            pre = self._strings.get((key, len(data)))
            if pre is None:
                pre = self._string_prefix(key, len(data))
            return pre + data
        kv = self.key_value(key, value)
        return _ATTRIBUTE + varint(len(kv)) + kv

    def _string_prefix(self, key: str, n: int) -> bytes:
        k = self._key(key)
        value = b"\x0a" + varint(n)  # AnyValue.string_value's tag and length
        kv = k + b"\x12" + varint(len(value) + n) + value
        if len(self._strings) > 16384:  # bounded: an open set of keys times lengths
            self._strings.clear()
        out = self._strings[(key, n)] = _ATTRIBUTE + varint(len(kv) + n) + kv
        return out

    def key_value(self, key: str, value: Any) -> bytes:
        """A `KeyValue` (a span's attribute, or a resource's)."""
        t = type(value)
        if t is bool:
            return self._key(key) + _BOOL[value]
        if t is int and _INT64_MIN <= value <= _INT64_MAX:
            iv = b"\x18" + varint(value)
            return self._key(key) + b"\x12" + bytes((len(iv),)) + iv  # an int64 varint is at most 10 bytes
        if t is float or t is int:  # an int beyond int64 is sent as the double it rounds to
            return self._key(key) + _DOUBLE + _F64(float(value))
        return self._key(key) + field(b"\x12", _string(value if t is str else str(value)))

    def repeating(self, key: str, value: Any) -> bytes:
        """`attribute()` for a value from a small vocabulary (paths, models, flags): encoded once."""
        ck = (key, value, type(value))
        b = self._repeating.get(ck)
        if b is None:
            if len(self._repeating) > 16384:  # bounded: session ids and models are open vocabularies
                self._repeating.clear()
            b = self._repeating[ck] = self.attribute(key, value)
        return b

    # ------------------------------------------------------------------ span parts
    def static(self, name: str, kind: int, attrs: Mapping[str, Any]) -> bytes:
        """Name, kind and attributes. Strings (but `per_request_strings`), flags and the status code are
        encoded once per value; other numbers vary per request and are encoded afresh."""
        b = self._names.get(name)
        if b is None:
            if len(self._names) > 4096:
                self._names.clear()
            b = self._names[name] = field(_NAME, _utf8(name))
        parts = [b, _KIND, varint(kind)]
        fresh = self._per_request_strings
        for k, v in attrs.items():
            t = type(v)
            if (t is str and k not in fresh) or t is bool or k == "http.status_code":
                parts.append(self.repeating(k, v))
            else:
                parts.append(self.attribute(k, v))
        return b"".join(parts)

    def fresh(
        self,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        start: int,
        end: int,
        attributes: Iterable[bytes],
        error: str | None = None,
    ) -> bytes:
        """Ids, times, status and the attributes that change every request (each from `attribute()`)."""
        parts = [
            _TRACE_ID, trace_id.to_bytes(16, "big"), _SPAN_ID, span_id.to_bytes(8, "big"),
            _START, _U64(start), _END, _U64(end),
        ]  # fmt: skip
        if parent_id is not None:
            parts += (_PARENT_ID, parent_id.to_bytes(8, "big"))
        parts += attributes
        if error is not None:
            parts.append(field(_STATUS, field(b"\x12", _utf8(error[:200])) + _STATUS_ERROR))
        return b"".join(parts)

    def span(
        self,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        name: str,
        kind: int,
        start: int,
        end: int,
        attrs: Mapping[str, Any],
        error: str | None = None,
    ) -> bytes:
        """A whole span whose attributes the caller has not split (routing spans)."""
        return self.fresh(trace_id, span_id, parent_id, start, end, (), error) + self.static(name, kind, attrs)


def export_request(batches: Iterable[tuple[bytes, list[bytes]]], scope: str) -> bytes:
    """An `ExportTraceServiceRequest`: per (serialized Resource, its spans), one ResourceSpans holding one
    ScopeSpans named `scope`. The lengths are summed first and the whole request joined once: nesting
    `field()` calls copied a second's worth of spans (hundreds of KB) once per level."""
    scope_b = field(_SCOPE, _string(scope))
    out: list[bytes] = []
    for resource, spans in batches:
        if not spans:
            continue
        framed: list[bytes] = []
        for sp in spans:
            framed += (_SPANS, varint(len(sp)), sp)
        scope_len = len(scope_b) + sum(map(len, framed))  # ScopeSpans: its scope, then the framed spans
        res = field(_RESOURCE, resource)
        scope_hdr = varint(scope_len)
        inner_len = len(res) + len(_SCOPE_SPANS) + len(scope_hdr) + scope_len  # ResourceSpans
        out += (_RESOURCE_SPANS, varint(inner_len), res, _SCOPE_SPANS, scope_hdr, scope_b, *framed)
    return b"".join(out)
