"""proxy.event_codec: what the admin stream sends an attached dashboard decodes to the same values."""

from __future__ import annotations

from dataclasses import replace

import orjson

from proxy import event_codec as codec
from proxy.cost import Cost
from proxy.events import (
    AliasChanged,
    Attempt,
    ConfigReloaded,
    ProviderCooling,
    RequestFailed,
    RequestFinished,
    RequestRecord,
    RouteInfo,
    ServiceNotice,
)
from proxy.local_link import config_view
from proxy.stats import Stats
from proxy.wire.usage import Usage

from .conftest import make_config


def full_record(i: int = 1, status: int = 200) -> RequestRecord:
    return RequestRecord(
        request_id=f"r{i}", started_at=1.7e9 + i, client_api="responses", path="/v1/responses",
        client_model="arch.codex.default", stream=True, status=status, latency_ms=812.5,
        provider="anthropic/claude-sonnet-4-5", upstream_model="claude-sonnet-4-5", upstream_api="messages",
        upstream_url="http://127.0.0.1:9/v1/messages", alias="arch.codex.default", alias_target="claude-sonnet-4-5",
        via="alias", route=RouteInfo("code generation", "local", 1.5, "raw", None,
                        span_attrs=(("plano.cache.idle_ms", 5),)), ttft_ms=120.0,
        usage=Usage(1000, 800, 50, 10, 120), cost=Cost(0.0031, 0.00024, 0.00075),
        error=None if status < 400 else "boom", error_code=None,
        notes=("dropped web_search",), session_id="s-1",
        attempts=(Attempt("openai/gpt-5.3-codex", "gpt-5.3-codex", 503, "down", 12.0),
                  Attempt("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5", 200, None, 800.0)),
        request_headers=(("authorization", "Bearer ***"), ("x-trace", "t")), request_body=b'{"input":"\xc3\xa9"}',
        upstream_body=b"\x00\x01binary", response_body=b"data: {}\n\n", metadata={"codex_model_metadata": {"a": 1}})


def wire(obj: object) -> object:
    return orjson.loads(orjson.dumps(obj))


def test_record_round_trip_with_and_without_bodies() -> None:
    r = full_record()
    assert codec.record_from_json(wire(codec.record_to_json(r, bodies=True))) == r  # type: ignore[arg-type]
    light = codec.record_from_json(wire(codec.record_to_json(r)))  # type: ignore[arg-type]
    assert (light.request_body, light.upstream_body, light.response_body, light.request_headers) == (
        None, None, None, ())
    assert not light.detailed and light.usage == r.usage and light.attempts == r.attempts and light.route == r.route


def test_event_round_trips() -> None:
    events = [RequestFinished(full_record()), RequestFailed(full_record(2, 502)),
              AliasChanged("arch.codex.default", None, "llama3.1", "dashboard"),
              ConfigReloaded("/x/config.yaml", False, "config.yaml:3: bad", ("+provider a",)),
              ProviderCooling("openai/gpt-5.3-codex", 1.7e9, "3 failures in a row"),
              ServiceNotice(1.7e9, "warning", "shared_state", "session cache: Redis at redis://***@h unavailable")]
    for ev in events:
        back = codec.event_from_json(wire(codec.event_to_json(ev)))  # type: ignore[arg-type]
        if isinstance(ev, RequestFinished | RequestFailed):
            assert type(back) is type(ev) and back.record.request_id == ev.record.request_id  # type: ignore[union-attr]
        else:
            assert back == ev


def test_stats_and_config_round_trip() -> None:
    stats = Stats()
    for i in range(20):
        stats.add(full_record(i, 200 if i % 5 else 503))
    snap = stats.snapshot()
    assert codec.stats_from_json(wire(codec.stats_to_json(snap))) == snap  # type: ignore[arg-type]
    view = config_view(make_config("http://127.0.0.1:9"))
    assert codec.config_from_json(wire(codec.config_to_json(view))) == view  # type: ignore[arg-type]
    assert view.provider_named("openai/gpt-5.3-codex") is not None and view.missing_keys


def test_a_record_without_details_is_sent_as_it_is() -> None:
    """The admin stream writes such a record as the dataclass itself (no dict copy): the same JSON as
    record_to_json, and the same record back."""
    r = replace(full_record(), request_headers=(), request_body=None, upstream_body=None, response_body=None,
                detailed=False)
    sent = wire(codec.event_to_json(RequestFailed(r)))
    assert sent["record"] == wire(codec.record_to_json(r))  # type: ignore[index]
    back = codec.event_from_json(sent)  # type: ignore[arg-type]
    assert isinstance(back, RequestFailed) and back.record == r
