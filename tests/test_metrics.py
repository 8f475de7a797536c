"""`/metrics` on a real proxy under mixed traffic: Plano's brightstaff_* families with its labels, our
planoai_* families, bounded labels, and the access rules (admin rule on the proxy port, a separate port)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.cost_hook import Cost
from proxy.server import ProxyServer
from proxy.state import ProxyOptions, ProxyState
from proxy.telemetry import Telemetry, install
from proxy.wire.usage import Usage

from .conftest import eventually
from .fakes import FakeUpstream
from .telemetry_traffic import drive, telemetry_config


def price(provider: str, model: str, usage: Usage) -> Cost:
    return Cost(usage.input_tokens * 1e-6, usage.output_tokens * 4e-6)


@pytest.fixture
async def metered(upstream: FakeUpstream) -> AsyncIterator[tuple[ProxyServer, Telemetry]]:
    state = ProxyState(telemetry_config(upstream.url), options=ProxyOptions(admin_token=None))
    server = ProxyServer(state, host="127.0.0.1", port=0)
    tel = install(server, metrics_host="127.0.0.1", metrics_port=0, pricer=price)
    await server.start()
    await tel.start()
    yield server, tel
    await tel.stop()
    await server.stop(drain_s=0)


async def scrape(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers or {}) as r:
        return r.status, await r.text()


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for fam in text_string_to_metric_families(text) for s in fam.samples]


def value(text: str, name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples(text) if n == name and labels.items() <= lab.items())


async def test_brightstaff_and_planoai_families_under_mixed_traffic(metered, upstream) -> None:
    server, tel = metered
    await drive(server, upstream)
    # The terminal records are published just after the client sees its answer.
    await eventually(lambda: value(tel.metrics.render().decode(), "planoai_requests_total") >= 7)
    status, text = await scrape(f"http://127.0.0.1:{tel.listener.port}/metrics")
    assert status == 200
    # HTTP RED with brightstaff's handler vocabulary.
    assert value(text, "brightstaff_http_requests_total", handler="llm_chat", method="POST", status_class="2xx") == 6
    assert value(text, "brightstaff_http_requests_total", handler="llm_chat", status_class="5xx") == 1
    assert value(text, "brightstaff_http_requests_total", handler="list_models", method="GET") == 1
    assert value(text, "brightstaff_http_requests_total", handler="routing_decision") == 1
    assert value(text, "brightstaff_http_request_duration_seconds_count", handler="llm_chat") == 7
    assert value(text, "brightstaff_http_in_flight_requests", handler="llm_chat") == 0
    # Upstream calls: provider is the prefix, model the upstream model; a down provider is a connect error.
    assert value(text, "brightstaff_llm_upstream_requests_total", provider="xai", error_class="connect") == 1
    assert value(text, "brightstaff_llm_upstream_requests_total", provider="openai", status_class="5xx") == 1
    assert value(text, "brightstaff_llm_time_to_first_token_seconds_count", model="gpt-5-mini") >= 2
    assert value(text, "brightstaff_llm_tokens_total", provider="openai", kind="prompt") > 0
    assert value(text, "brightstaff_llm_tokens_total", kind="completion") > 0
    # Routing: a routed decision, a no-route decision (brightstaff's fallback="true"), pin hits, skips.
    assert value(text, "brightstaff_router_decisions_total", route="llm", fallback="false") >= 1
    assert value(text, "brightstaff_router_decisions_total", route="llm", selected_model="none", fallback="true") >= 1
    assert value(text, "brightstaff_router_decisions_total", route="routing") == 1
    assert value(text, "brightstaff_routing_service_requests_total", outcome="decision_served") == 1
    assert value(text, "brightstaff_session_cache_events_total", outcome="hit") >= 1
    assert value(text, "brightstaff_session_cache_events_total", outcome="miss") >= 1
    assert value(text, "brightstaff_router_skips_total", reason="not_user_turn") >= 1
    assert value(text, "brightstaff_prompt_cache_requests_total", outcome="miss") >= 1
    assert value(text, "brightstaff_build_info") == 1
    assert value(text, "process_resident_memory_bytes") > 0
    # Ours: fallback, translation path, cost per alias and per session (as a distribution).
    assert value(text, "planoai_fallback_attempts_total", provider="xai", error_class="connect") == 1
    assert value(text, "planoai_requests_served_by_fallback_total", model="gpt-5-mini") == 1
    assert value(text, "planoai_translation_requests_total", client_api="chat", upstream_api="responses") >= 1
    assert value(text, "planoai_alias_cost_usd_total", alias="arch.codex.default") > 0
    assert value(text, "planoai_session_cost_usd_gcount") >= 1
    assert value(text, "planoai_events_dropped") == 0
    # Bounded labels: no request id, no session id anywhere.
    label_values = {v for _, lab, _ in samples(text) for v in lab.values()}
    assert not any(v.startswith(server.state._id_prefix) for v in label_values)
    assert "sess-A" not in text


async def test_cooldowns_are_counted_and_shown_while_they_last(metered, upstream) -> None:
    server, _ = metered
    server.state.health.failure("xai/grok-down", "down", retry_after_s=60)
    status, text = await scrape(server.url + "/metrics")
    assert status == 200
    assert value(text, "planoai_provider_cooldowns_total", provider="xai") == 1
    assert value(text, "planoai_provider_cooling", provider="xai/grok-down") == 1
    assert 0 < value(text, "planoai_provider_cooldown_remaining_seconds", provider="xai/grok-down") <= 60


async def test_proxy_port_metrics_follow_the_admin_rule(upstream) -> None:
    state = ProxyState(telemetry_config(upstream.url), options=ProxyOptions(admin_token="tok"))
    server = ProxyServer(state, host="127.0.0.1", port=0)
    tel = install(server)
    assert tel.listener is None  # no --metrics-port: only the proxy port serves /metrics
    async with server:
        assert (await scrape(server.url + "/metrics"))[0] == 401
        status, text = await scrape(server.url + "/metrics", {"Authorization": "Bearer tok"})
        assert status == 200 and "brightstaff_build_info" in text


async def test_other_routes_are_counted_as_they_answer_and_unknown_ones_answer_as_before(metered) -> None:
    """Routes other than the LLM endpoints are counted by a wrapper, not a response signal (which every
    LLM response would pay for): a 404 and a 405 still answer as aiohttp does, and are counted."""
    server, tel = metered
    assert len(server.app.on_response_prepare) == 0
    async with aiohttp.ClientSession() as s:
        async with s.get(server.url + "/no/such/route") as r:
            assert r.status == 404 and await r.text() == "404: Not Found"
        async with s.get(server.url + "/v1/responses") as r:  # exists for POST only
            assert r.status == 405 and r.headers["Allow"] == "POST"
        async with s.delete(server.url + "/admin/aliases") as r:
            assert r.status == 405 and set(r.headers["Allow"].split(",")) == {"GET", "HEAD", "PUT", "POST"}
        async with s.get(server.url + "/healthz") as r:
            assert r.status == 200
    text = tel.metrics.render().decode()
    assert value(text, "brightstaff_http_requests_total", handler="not_found", method="GET", status_class="4xx") == 1
    assert value(text, "brightstaff_http_requests_total", handler="admin", method="DELETE", status_class="4xx") == 1
    assert value(text, "brightstaff_http_requests_total", handler="healthz", method="GET", status_class="2xx") == 1
    # A wrong method on an LLM endpoint is not an LLM request: not counted under llm_chat (nothing to record).
    assert value(text, "brightstaff_http_requests_total", handler="llm_chat") == 0


async def test_metrics_off_installs_nothing(upstream) -> None:
    state = ProxyState(telemetry_config(upstream.url))
    server = ProxyServer(state, host="127.0.0.1", port=0)
    before = (len(server.app.middlewares), len(server.app.on_response_prepare))
    tel = install(server, metrics=False)
    assert tel.metrics is None and (len(server.app.middlewares), len(server.app.on_response_prepare)) == before
    async with server:
        assert (await scrape(server.url + "/metrics"))[0] == 404


@pytest.mark.slow  # a `planoai` subprocess: scheduled first (tests/conftest.py)
async def test_cli_serves_metrics_on_the_proxy_and_the_scraper_port(tmp_path, upstream) -> None:
    import openai

    from .test_cli import free_port, start_cli

    mport = free_port()
    proc, port = await start_cli(tmp_path, upstream, "--metrics-port", str(mport), "--metrics-host", "127.0.0.1")
    try:
        async with openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0) as oai:
            await oai.responses.create(model="arch.codex.default", input="hi")

        async def counted() -> bool:
            _, text = await scrape(f"http://127.0.0.1:{mport}/metrics")
            return value(text, "brightstaff_llm_upstream_requests_total", provider="openai", status_class="2xx") == 1

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not await counted():
            assert loop.time() < deadline
            await asyncio.sleep(0.05)
        status, text = await scrape(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and value(text, "brightstaff_http_requests_total", handler="llm_chat") == 1
    finally:
        proc.terminate()
        await proc.wait()


def test_token_kinds_and_cache_outcome_per_record_whatever_kinds_came_before(upstream) -> None:
    """A fold adds each record's own token kinds: records of one kind share precomputed labels, and a
    record reporting cache reads, writes, both or neither must not borrow another kind's."""
    from proxy.events import Attempt, RequestRecord
    from proxy.metrics import Metrics

    m = Metrics(ProxyState(telemetry_config(upstream.url)))
    provider = "openai/gpt-5-mini"

    def rec(usage: Usage) -> RequestRecord:
        return RequestRecord("r", 1.0, "responses", "/v1/responses", "gpt-5-mini", False, 200, 3.0,
                             provider=provider, upstream_model="gpt-5-mini", usage=usage,
                             attempts=(Attempt(provider, "gpt-5-mini", 200, None, 2.0),))  # fmt: skip

    # (input, cached, output, reasoning, cache_write), twice over so the second pass reuses the plans
    usages = [Usage(100, 0, 10), Usage(100, 40, 10), Usage(100, 0, 10, 0, 60), Usage(100, 30, 10, 0, 50), Usage()]
    for u in usages * 2:
        m.observe(rec(u))
    text = m.render().decode()

    def tokens(kind: str) -> float:
        return value(text, "brightstaff_llm_tokens_total", model="gpt-5-mini", kind=kind)

    assert (tokens("prompt"), tokens("completion")) == (800, 80)
    assert (tokens("cache_read"), tokens("cache_write")) == (140, 220)
    assert value(text, "brightstaff_prompt_cache_requests_total", outcome="hit") == 6
    assert value(text, "brightstaff_prompt_cache_requests_total", outcome="miss") == 2
    assert value(text, "brightstaff_llm_tokens_usage_missing_total", model="gpt-5-mini") == 2
    assert value(text, "brightstaff_http_requests_total", handler="llm_chat", status_class="2xx") == 10


async def test_counted_routes_report_every_outcome_of_a_wrapped_handler() -> None:
    """`CountedRoutes` reports what the client got: the handler's answer, an HTTP exception it raised, the
    500 aiohttp gives for one that crashed, and the catch-all's 404 / 405."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from proxy.counted_routes import CountedRoutes

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def gone(request: web.Request) -> web.Response:
        raise web.HTTPGone()

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = web.Application()
    routes = CountedRoutes(app.router)
    seen: list[tuple[str, str, int, bool]] = []
    routes.count = lambda request, status, resp: seen.append((request.method, request.path, status, resp is not None))
    routes.add_get("/ok", ok)
    routes.add_get("/gone", gone)
    routes.add_post("/boom", boom)
    routes.add_fallback()
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as s:
        for method, path, status in (("GET", "/ok", 200), ("GET", "/gone", 410), ("POST", "/boom", 500),
                                     ("GET", "/nowhere", 404), ("GET", "/boom", 405)):  # fmt: skip
            async with s.request(method, server.make_url(path)) as r:
                assert r.status == status
    assert seen == [("GET", "/ok", 200, True), ("GET", "/gone", 410, False), ("POST", "/boom", 500, False),
                    ("GET", "/nowhere", 404, False), ("GET", "/boom", 405, False)]  # fmt: skip
