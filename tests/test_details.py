"""Which records keep headers and bodies (proxy.details): all by default, none headless, a budget under
the dashboard, and a failed request always."""

from __future__ import annotations

import aiohttp

from proxy.details import DetailBudget
from proxy.events import TERMINAL, RequestRecord
from proxy.state import ProxyState

from .conftest import ProxyFactory, make_config
from .fakes import FakeUpstream, Script


def test_budget_is_a_token_bucket() -> None:
    now = [100.0]
    budget = DetailBudget(rate=2.0, burst=3, clock=lambda: now[0])
    assert [budget.take() for _ in range(5)] == [True, True, True, False, False]  # the burst, then dry
    now[0] += 0.5  # one token back at 2/s
    assert [budget.take(), budget.take()] == [True, False]
    now[0] += 60  # refills only up to the burst
    assert sum(budget.take() for _ in range(10)) == 3
    unlimited = DetailBudget()
    assert all(unlimited.take() for _ in range(1000))


async def _records(state: ProxyState, make_proxy: ProxyFactory, upstream: FakeUpstream,
                   models: list[str]) -> list[RequestRecord]:
    seen: list[RequestRecord] = []
    state.bus.subscribe(lambda ev: seen.append(ev.record), TERMINAL)  # type: ignore[union-attr]
    server = await make_proxy(state.config, state=state)
    async with aiohttp.ClientSession() as s:
        for model in models:
            body = {"model": model, "input": "hi", "stream": True}
            async with s.post(f"{server.url}/v1/responses", json=body,
                              headers={"Authorization": "Bearer sk-secret-client", "X-Trace": "t-1"}) as r:
                await r.read()
    return seen


async def test_over_the_budget_records_skip_headers_and_bodies_but_failures_keep_them(
    upstream: FakeUpstream, make_proxy: ProxyFactory
) -> None:
    state = ProxyState(make_config(upstream.url))
    state.details = DetailBudget(rate=0.0, burst=1)  # exactly one successful request keeps details
    recs = await _records(state, make_proxy, upstream, ["gpt-5.3-codex", "gpt-5.3-codex", "gpt-9"])
    first, second, failed = recs
    assert first.ok and first.detailed
    assert ("X-Trace", "t-1") in first.request_headers and ("Authorization", "<redacted>") in first.request_headers
    assert first.request_body and b'"hi"' in first.request_body
    assert first.response_body and b"response.completed" in first.response_body
    # Over the budget: the row's facts, none of the heavy parts.
    assert second.ok and not second.detailed
    assert second.request_headers == () and second.request_body is None and second.response_body is None
    assert second.usage.total > 0 and second.ttft_ms is not None and second.upstream_model == "gpt-5.3-codex"
    # A failure is the request someone opens: it keeps them whatever the budget.
    assert not failed.ok and failed.status == 400 and failed.detailed
    assert ("Authorization", "<redacted>") in failed.request_headers
    assert failed.request_body and b"gpt-9" in failed.request_body
    assert failed.response_body and b"model_not_found" in failed.response_body


async def test_headless_keeps_no_details_and_a_cut_stream_still_fails_cleanly(
    upstream: FakeUpstream, make_proxy: ProxyFactory
) -> None:
    from .fakes import responses_events

    state = ProxyState(make_config(upstream.url))
    state.details = None  # what `planoai tui --no-ui` sets: nothing shows headers or bodies
    upstream.script("/responses", Script(), Script(frames=responses_events("gpt-5.3-codex"), cut_after=3))
    recs = await _records(state, make_proxy, upstream, ["gpt-5.3-codex", "gpt-5.3-codex", "gpt-9"])
    ok, cut, unknown = recs
    assert ok.ok and not ok.detailed and ok.request_headers == () and ok.response_body is None
    assert not cut.ok and cut.error and not cut.detailed and cut.request_headers == ()
    assert not unknown.ok and unknown.status == 400 and unknown.request_body is None
