"""The request filter line's query language (plano_tui/dashboard/query.py) and the filtered view of the store."""

from __future__ import annotations

from dataclasses import replace

import pytest

from plano_tui.dashboard.query import QueryError, parse
from plano_tui.dashboard.store import FilteredRows, RequestStore
from proxy.events import Attempt, RequestRecord, RouteInfo
from proxy.wire.usage import Usage


def rec(**kw: object) -> RequestRecord:
    base = RequestRecord(
        request_id="abc123", started_at=0.0, client_api="responses", path="/v1/responses",
        client_model="arch.codex.default", stream=True, status=200, latency_ms=900.0, provider="openai/gpt-5.3-codex",
        upstream_model="gpt-5.3-codex", upstream_api="responses", alias="arch.codex.default",
        alias_target="gpt-5.3-codex", ttft_ms=300.0, usage=Usage(24_000, 18_000, 200), session_id="019a7c2e-s1",
    )
    return replace(base, **kw)


CLAUDE = rec(client_api="messages", client_model="arch.claude", provider="anthropic/claude-sonnet-4-5",
             upstream_model="claude-sonnet-4-5", upstream_api="messages", alias="arch.claude",
             alias_target="claude-sonnet-4-5", session_id="c0ffee-s2", latency_ms=3100.0, ttft_ms=1200.0)
FAILED = rec(status=429, error="Rate limit reached", usage=Usage(), ttft_ms=None, latency_ms=200.0)
FALLBACK = rec(attempts=(Attempt("openai/gpt-5.3-codex", "gpt-5.3-codex", 503, "down", 10.0),
                         Attempt("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5", 200, None, 900.0)),
               route=RouteInfo("code generation", "local"), client_api="chat", upstream_api="messages")
ALL = {"codex": rec(), "claude": CLAUDE, "failed": FAILED, "fallback": FALLBACK}


def hits(text: str, marked: frozenset[str] = frozenset()) -> set[str]:
    q = parse(text)
    return {name for name, r in ALL.items() if q.matches(r, name in marked)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model:claude", {"claude"}),
        ("model:gpt-5.3", {"codex", "failed", "fallback"}),
        ("alias:arch.claude", {"claude"}),
        ("provider:anthropic", {"claude"}),
        ("status:4xx", {"failed"}),
        ("status:429", {"failed"}),
        ("status:err", {"failed"}),
        ("-status:ok", {"failed"}),
        ("status:ok model:codex", {"codex", "fallback"}),
        ("slow>2s", {"claude"}),
        ("slow>2", {"claude"}),
        ("slow>800", {"codex", "claude", "fallback"}),
        ("slow<=200ms", {"failed"}),
        ("ttft>1s", {"claude"}),
        ("tokens>10k", {"codex", "claude", "fallback"}),
        ("fallback", {"fallback"}),
        ("route:code", {"fallback"}),
        ('route:"code generation"', {"fallback"}),
        ("session:c0ffee", {"claude"}),
        ("api:chat", {"fallback"}),
        ("translated", {"fallback"}),
        ("rate limit", {"failed"}),
        ("ABC123", set(ALL)),
        ("", set(ALL)),
    ],
)
def test_terms(text: str, expected: set[str]) -> None:
    assert hits(text) == expected


def test_marked() -> None:
    assert hits("marked", frozenset({"claude"})) == {"claude"}
    assert hits("-marked", frozenset({"claude"})) == {"codex", "failed", "fallback"}


@pytest.mark.parametrize("bad", ['route:"open', "status:teapot", "model:", "slow>3k", "tokens>2s"])
def test_bad_terms_say_what_is_wrong(bad: str) -> None:
    with pytest.raises(QueryError) as e:
        parse(bad)
    assert str(e.value)


def test_notices_match_free_text_only() -> None:
    q = parse("alias arch.local")
    assert q.matches_notice("⇄ alias arch.local: llama3.1 → claude (dashboard)")
    assert not parse("status:4xx").matches_notice("⇄ alias arch.local: …")


def test_filtered_view_follows_the_store_and_its_trimming() -> None:
    store = RequestStore(capacity=5)
    for r in (rec(), CLAUDE, rec()):
        store.add_record(r)
    view = FilteredRows(store, parse("model:claude"), set())
    assert [row.record.client_model for row in view] == ["arch.claude"]
    for r in (CLAUDE, rec()):
        store.add_record(r)
    assert view.take_new(2) == 1 and len(view) == 2
    for _ in range(4):  # the two claude rows fall off the end of a 5-row store
        store.add_record(rec())
    assert view.take_new(4) == 0 and len(view) == 0
    store.add_record(CLAUDE)
    store.clear()
    assert view.take_new(0) == 0 and len(view) == 0
