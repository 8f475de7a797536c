"""The dashboard's non-widget parts: the bounded store, the formatters, the coalescing bridge."""

from __future__ import annotations

from dataclasses import replace

from plano_tui.dashboard import format as fmt
from plano_tui.dashboard.bridge import EventBridge, log_pause
from plano_tui.dashboard.store import RequestRow, RequestStore
from proxy.bus import EventBus
from proxy.events import AliasChanged, FirstToken, RequestFailed, RequestFinished, RequestRecord, RouteInfo
from proxy.wire.usage import Usage


def rec(i: int = 1, **kw: object) -> RequestRecord:
    base = RequestRecord(request_id=f"r{i}", started_at=1_700_000_000.0 + i, client_api="responses",
                         path="/v1/responses", client_model="arch.codex.default", stream=True, status=200,
                         latency_ms=1200.0, provider="openai/gpt-5.3-codex", upstream_model="gpt-5.3-codex",
                         upstream_api="responses", alias="arch.codex.default", alias_target="gpt-5.3-codex",
                         ttft_ms=200.0, usage=Usage(12_345, 4_000, 512, 100),
                         request_body=b'{"model":"x"}', response_body=b"data: {}\n\n")
    return replace(base, **kw)  # type: ignore[arg-type]


def test_store_is_newest_first_and_bounded() -> None:
    store = RequestStore(capacity=5)
    for i in range(12):
        store.add_record(rec(i))
    assert len(store) == 5
    assert [r.record.request_id for r in store if isinstance(r, RequestRow)] == ["r11", "r10", "r9", "r8", "r7"]
    assert store.requests_seen == 12
    store.add_notice(1.0, "alias", "⇄ alias")
    assert len(store) == 5 and store[0].kind == "alias"  # type: ignore[union-attr]


def test_only_recent_rows_keep_their_bodies() -> None:
    store = RequestStore(capacity=100, keep_bodies=3)
    rows = [store.add_record(rec(i)) for i in range(6)]
    kept = [r for r in rows if r.record.request_body is not None]
    assert [r.record.request_id for r in kept] == ["r3", "r4", "r5"]
    assert all(r.bodies_dropped and r.record.response_body is None for r in rows[:3])
    assert rows[0].record.usage.input_tokens == 12_345  # everything else is kept
    store.add_record(rec(9, request_body=None, response_body=None))  # no bodies: does not evict
    assert rows[3].record.request_body is not None


def test_formatters() -> None:
    assert [fmt.ms(v) for v in (None, 12.4, 999, 1234, 12_345, 125_000)] == ["—", "12ms", "999ms", "1.23s",
                                                                                "12.3s", "2m05s"]
    assert [fmt.count(n) for n in (512, 1_234, 45_678, 1_234_567)] == ["512", "1.2k", "46k", "1.2M"]
    assert fmt.duration(3725) == "1h02m" and fmt.duration(42) == "42s"
    assert fmt.tokens(rec()) == "12k/4.0k/512"
    assert fmt.model_chain(rec(route=RouteInfo(route="debugging"))) == ("arch.codex.default", "gpt-5.3-codex",
                                                                         "debugging")
    assert fmt.model_chain(rec(client_model="", upstream_model=None)) == ("(default)", "✗", None)
    blocks = fmt.sparkline([100, 200, 300, 400], 3)
    assert [b for b, _ in blocks] == ["▁", "▅", "█"]


def test_short_reasons() -> None:
    nf = rec(status=400, error="Model 'gpt-9' not found in configured providers", error_code="model_not_found",
             client_model="gpt-9")
    assert fmt.short_reason(nf) == "unknown model 'gpt-9'"
    key = rec(status=400, error="provider 'xai' has no API key: export XAI_API_KEY=... (or add it…)",
              error_code="missing_api_key")
    assert fmt.short_reason(key) == "no API key: export XAI_API_KEY"
    up = rec(status=429, error="openai/gpt-5.3-codex: Rate limit reached", error_code="upstream_error")
    assert fmt.short_reason(up) == "Rate limit reached"


def test_body_text_pretty_prints_and_truncates() -> None:
    text, lexer, cut = fmt.body_text(b'{"a":1,"b":[1,2]}', 1000)
    assert lexer == "json" and '"a": 1' in text and not cut
    text, lexer, cut = fmt.body_text(b"event: x\ndata: {}\n\n" * 100, 50)
    assert lexer == "text" and len(text) == 50 and cut


def test_bridge_buffers_only_what_the_dashboard_shows() -> None:
    bus = EventBus()
    bridge = EventBridge(bus)
    for i in range(500):
        bus.publish(FirstToken(f"r{i}", 1.0))  # not shown: filtered out
        bus.publish(RequestFinished(rec(i)) if i % 10 else RequestFailed(rec(i, status=500, error="x")))
    assert bridge.pending == 500 and not bridge.urgent
    batch = bridge.take()
    assert len(batch.events) == 500 and not any(isinstance(e, FirstToken) for e in batch.events)
    assert sum(isinstance(e, RequestFailed) for e in batch.events) == 50
    assert bridge.pending == 0 and bridge.batches == 1
    bus.publish(AliasChanged("arch.codex.default", "a", "b", "admin"))
    assert bridge.urgent  # a notice does not wait for the requests pane's pause
    bridge.close()
    assert bus._callbacks == []


def test_requests_pane_pause_grows_with_traffic() -> None:
    # every tick (0.25 s) at a few req/s; every 2 s from ~100 req/s on (100 rows in a second's batch)
    assert log_pause(1) < 0.125 and log_pause(5) < 0.125
    assert 0.25 < log_pause(25) < 1.0
    assert log_pause(100) == log_pause(10_000) == 2.0


def test_bridge_counts_drops_instead_of_blocking() -> None:
    bus = EventBus()
    bridge = EventBridge(bus, capacity=10)
    for i in range(25):
        bus.publish(RequestFinished(rec(i)))
    assert bridge.dropped == 15 and bridge.pending == 10
    assert [e.record.request_id for e in bridge.take().events] == [f"r{i}" for i in range(10)]  # type: ignore[union-attr]
    bridge.close()
    bus.publish(RequestFinished(rec(99)))
    assert bridge.pending == 0


def test_bridge_drops_bodies_of_all_but_the_newest_pending_requests() -> None:
    """Under load a batch holds up to a second of requests; only the newest `keep_bodies` keep their
    (40–70 KB) bodies while they wait, exactly what the store would keep of them anyway."""
    bus = EventBus()
    bridge = EventBridge(bus, keep_bodies=3)
    for i in range(8):
        bus.publish(RequestFinished(rec(i)) if i != 6 else RequestFailed(rec(i, status=500, error="boom")))
    bus.publish(RequestFinished(rec(20, request_body=None, response_body=None)))  # nothing to drop
    batch = bridge.take()
    records = [e.record for e in batch.events]  # type: ignore[union-attr]
    assert [r.request_id for r in records] == [f"r{i}" for i in range(8)] + ["r20"]
    assert [r.request_body is not None for r in records] == [False] * 5 + [True] * 3 + [False]
    assert batch.stripped == {f"r{i}" for i in range(5)}
    assert isinstance(batch.events[6], RequestFailed) and records[6].error == "boom"
    assert all(r.usage.input_tokens == 12_345 for r in records)  # only the bodies go

    store = RequestStore(keep_bodies=3)
    for r in records:
        store.add_record(r, bodies_dropped=r.request_id in batch.stripped)
    rows = {row.record.request_id: row for row in store if isinstance(row, RequestRow)}
    assert rows["r0"].bodies_dropped and not rows["r7"].bodies_dropped and not rows["r20"].bodies_dropped
    bridge.close()


def test_uncut_strips_do_not_refer_to_themselves() -> None:
    """plano_tui.dashboard.strip_cycles: Textual's `Strip.divide` caches `[self]` for a line needing no cut, a
    cycle that left every repainted line to the cyclic GC. The patched method returns the same
    results without that cache entry."""
    import gc

    from rich.segment import Segment
    from textual.strip import Strip

    from plano_tui.dashboard import strip_cycles

    strip_cycles.install()
    strip_cycles.install()  # idempotent
    s = Strip([Segment("hello"), Segment(" world")], 11)
    assert s.divide([11]) == [s] and s.divide([11, 40]) == [s]
    assert not any(s in v for v in s._divide_cache._cache.values())  # no self-reference left behind
    assert [x.text for x in s.divide([5, 11])] == ["hello", " world"]  # Textual's own path, unchanged
    assert s.divide([20]) == [] and [x.text for x in s.divide([3])] == ["hel"]
    gc.collect()
    gc.disable()
    try:
        t = Strip([Segment("once")], 4)
        t.divide([4])
        before = len(gc.get_objects())
        del t
        assert len(gc.get_objects()) < before  # freed by reference counting, no collection needed
    finally:
        gc.enable()
