"""The request filter line: a small query language over finished requests (no Textual here).

Terms are ANDed; each is `key:value`, a comparison, a bare flag, or free text:

    model:codex        client model, alias target or upstream model contains "codex"
    alias:arch.codex   alias contains …           provider:anthropic   provider contains …
    route:code         route name contains …      session:019a         session id starts with …
    api:messages       client or upstream API     status:4xx / status:429 / status:ok / status:err
    slow>2s  slow>500ms (latency)   ttft>1s      tokens>10k (input tokens)
    fallback           served after a failover    marked               rows marked with `m`
    translated         client and upstream APIs differ
    anything else      free text: request id, models, provider, route, error, notes

`-term` negates a term. Values may be quoted ("route:code generation" → `route:"code generation"`).
Notices (alias changes, reloads, cooldowns) match free text only.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from proxy.events import RequestRecord

Predicate = Callable[[RequestRecord, bool], bool]  # (record, marked) → match

_COMPARE = re.compile(r"^(slow|latency|ttft|tokens)\s*([<>]=?)\s*([\d.]+)\s*(ms|s|k|m)?$", re.I)
_STATUS_CLASS = re.compile(r"^([1-5])xx$", re.I)


class QueryError(ValueError):
    """A term the filter line cannot read; the message says which and why."""


@dataclass(frozen=True)
class Query:
    text: str
    terms: tuple[tuple[bool, Predicate], ...]  # (negated, predicate)
    free: tuple[str, ...]  # lowercased free-text words (for notices too)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, record: RequestRecord, marked: bool = False) -> bool:
        return all(p(record, marked) != neg for neg, p in self.terms)

    def matches_notice(self, text: str) -> bool:
        """Notices have no fields: they match only a query made of free text that they contain."""
        if not self.free or len(self.free) != len(self.terms):
            return False
        low = text.lower()
        return all(w in low for w in self.free)


def parse(text: str) -> Query:
    """Parse a filter line; raises QueryError with a readable message on a bad term."""
    try:
        words = shlex.split(text)
    except ValueError as exc:  # an unclosed quote
        raise QueryError(f"cannot read {text!r}: {exc}") from None
    terms: list[tuple[bool, Predicate]] = []
    free: list[str] = []
    for word in words:
        neg = word.startswith("-") and len(word) > 1
        body = word[1:] if neg else word
        pred, free_word = _term(body)
        terms.append((neg, pred))
        if free_word is not None and not neg:
            free.append(free_word)
    return Query(text, tuple(terms), tuple(free))


def _contains(get: Callable[[RequestRecord], tuple[str | None, ...]], needle: str) -> Predicate:
    n = needle.lower()
    return lambda r, _m: any(v is not None and n in v.lower() for v in get(r))


def _term(body: str) -> tuple[Predicate, str | None]:
    low = body.lower()
    if m := _COMPARE.match(body):
        return _comparison(m.group(1).lower(), m.group(2), float(m.group(3)), (m.group(4) or "").lower()), None
    if low == "fallback":
        return (lambda r, _m: len(r.attempts) > 1), None
    if low == "marked":
        return (lambda _r, m: m), None
    if low == "translated":
        return (lambda r, _m: "→" in r.translation), None
    key, sep, value = body.partition(":")
    if sep and key.lower() in _FIELDS:
        if not value:
            raise QueryError(f"{key}: needs a value, e.g. {key.lower()}:{_EXAMPLES[key.lower()]}")
        return _field(key.lower(), value), None
    return _contains(_free_text, body), low


_EXAMPLES = {"model": "codex", "alias": "arch.codex", "provider": "openai", "route": "code", "session": "019a",
             "status": "4xx", "api": "messages"}
_FIELDS = set(_EXAMPLES)


def _field(key: str, value: str) -> Predicate:
    if key == "model":
        return _contains(lambda r: (r.client_model, r.alias_target, r.upstream_model), value)
    if key == "alias":
        return _contains(lambda r: (r.alias,), value)
    if key == "provider":
        return _contains(lambda r: (r.provider,), value)
    if key == "route":
        return _contains(lambda r: (r.route.route if r.route else None,), value)
    if key == "api":
        return _contains(lambda r: (r.client_api, r.upstream_api), value)
    if key == "session":
        v = value.lower()
        return lambda r, _m: r.session_id is not None and r.session_id.lower().startswith(v)
    return _status(value)


def _status(value: str) -> Predicate:
    low = value.lower()
    if low == "ok":
        return lambda r, _m: r.ok
    if low in ("err", "error", "failed"):
        return lambda r, _m: not r.ok
    if m := _STATUS_CLASS.match(low):
        lo = int(m.group(1)) * 100
        return lambda r, _m: lo <= r.status < lo + 100
    if low.isdigit():
        code = int(low)
        return lambda r, _m: r.status == code
    raise QueryError(f"status:{value}: use a code (429), a class (4xx), ok or err")


def _comparison(what: str, op: str, number: float, unit: str) -> Predicate:
    if what in ("slow", "latency", "ttft"):
        if unit in ("k", "m"):
            raise QueryError(f"{what}{op}{number:g}{unit}: durations take ms or s")
        # A bare number is seconds when small ("slow>2") and milliseconds when large ("slow>800").
        seconds = unit == "s" or (unit == "" and number < 100)
        limit = number * 1000 if seconds else number

        def value(r: RequestRecord) -> float | None:
            return r.latency_ms if what != "ttft" else r.ttft_ms
    else:
        if unit in ("ms", "s"):
            raise QueryError(f"tokens{op}{number:g}{unit}: token counts take k or m")
        limit = number * {"k": 1_000, "m": 1_000_000}.get(unit, 1)

        def value(r: RequestRecord) -> float | None:
            return float(r.usage.input_tokens)

    ops: dict[str, Callable[[float, float], bool]] = {
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}
    cmp = ops[op]

    def pred(r: RequestRecord, _m: bool) -> bool:
        v = value(r)
        return v is not None and cmp(v, limit)

    return pred


def _free_text(r: RequestRecord) -> tuple[str | None, ...]:
    return (r.request_id, r.client_model, r.alias, r.alias_target, r.upstream_model, r.provider,
            r.route.route if r.route else None, r.error, r.session_id, *r.notes)
