"""The core's warnings (a cost feed down, the OTLP collector refusing spans, Redis: tests/test_shared_state.py)
reach every front end as `ServiceNotice` events (proxy.notices): a row in the dashboard, in process and
attached, and a `SERVICE_NOTICE` line headless. Under Textual, stderr is captured and dropped, so before
this a degraded service was invisible in the dashboard. Credentials in a URL never reach a notice."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from concurrent import futures

import aiohttp
import grpc
import openai
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from plano_tui.dashboard.store import NoticeRow
from plano_tui.headless import notice_line
from proxy import event_codec as codec
from proxy.config import parse_config
from proxy.events import ServiceNotice
from proxy.redaction import without_credentials
from proxy.server import ProxyServer
from proxy.state import ProxyState
from proxy.telemetry import install
from proxy.trace_settings import TraceSettings

from .conftest import FAKE_KEYS, ProxyFactory, eventually, proxy_config_yaml
from .fakes import FakeUpstream
from .telemetry_traffic import closed_port, telemetry_config
from .test_attach import attached_app, free_port, links  # noqa: F401 (the fixture)
from .test_cost import DIGITALOCEAN, feed  # noqa: F401 (the fixture)
from .test_ui_app import SIZE, make_app, until

FEED_SECRET, FEED_KEY = "feed-pa55word", "feed-k3y-value"


def feed_down_config(upstream: str, port: int) -> str:
    return proxy_config_yaml(upstream) + f"""\
model_metrics_sources:
  - type: cost
    provider: models.dev
    url: http://feeduser:{FEED_SECRET}@127.0.0.1:{port}/api.json?api_key={FEED_KEY}&region=eu
"""


def notices_of(state: ProxyState) -> list[ServiceNotice]:
    seen: list[ServiceNotice] = []
    state.bus.subscribe(seen.append, (ServiceNotice,))
    return seen


async def test_a_cost_feed_down_is_a_notice_everywhere_without_the_urls_credentials(upstream: FakeUpstream) -> None:
    port = closed_port()
    state = ProxyState(parse_config(feed_down_config(upstream.url, port), "c.yaml", FAKE_KEYS))
    seen = notices_of(state)
    proxy = ProxyServer(state, host="127.0.0.1", port=0)
    tel = install(proxy, metrics=True)  # /metrics, as `planoai tui` serves it
    await proxy.start()
    try:
        await _feed_down_everywhere(proxy, seen, port)
    finally:
        await tel.stop()
        await proxy.stop(drain_s=0)


async def _feed_down_everywhere(proxy: ProxyServer, seen: list[ServiceNotice], port: int) -> None:
    await eventually(lambda: any(n.source == "cost" for n in seen))
    n = next(n for n in seen if n.source == "cost")
    assert n.level == "warning" and "model_metrics_sources: models.dev" in n.message
    assert n.subject == "models.dev feed"  # out of service until a notice says it is back
    assert f"http://***@127.0.0.1:{port}/api.json?api_key=***&region=eu" in n.message
    for secret in (FEED_SECRET, FEED_KEY, "feeduser"):
        assert secret not in n.message
    # Headless: one grep-able line; attached: the same event after the wire.
    line = notice_line(n)
    assert line is not None and (
        f"[warn] SERVICE_NOTICE: source=cost down='{n.subject}' message='model_metrics_sources" in line
    )
    assert codec.event_from_json(orjson.loads(orjson.dumps(codec.event_to_json(n)))) == n
    # The feed being down costs no request.
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as client:
        assert (await client.responses.create(model="arch.codex.default", input="hi")).output_text
    # ...and scripts see it in /admin/stats, alerts in /metrics, while it lasts.
    async with aiohttp.ClientSession() as s:
        async with s.get(proxy.url + "/admin/stats") as r:
            (down,) = (await r.json())["degraded"]
        async with s.get(proxy.url + "/metrics") as r:
            exposition = await r.text()
    assert down["subject"] == n.subject and down["message"] == n.message and FEED_SECRET not in str(down)
    assert 'planoai_service_degraded{service="models.dev feed"} 1.0' in exposition


async def test_the_dashboard_shows_warnings_raised_before_and_after_it_started(
    upstream: FakeUpstream, make_proxy: ProxyFactory
) -> None:
    state = ProxyState(parse_config(feed_down_config(upstream.url, closed_port()), "c.yaml", FAKE_KEYS))
    server = await make_proxy(state.config, state=state)
    await eventually(lambda: any(n.source == "cost" for n in state.notices))  # before any dashboard
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        rows = lambda: [r for r in app.store if isinstance(r, NoticeRow)]  # noqa: E731
        await until(pilot, lambda: any("model_metrics_sources" in r.text for r in rows()))
        feed = next(r for r in rows() if "model_metrics_sources" in r.text)
        assert feed.text.startswith("⚠") and feed.is_error and FEED_SECRET not in feed.text
        banner = lambda: str(app.banner.content) if app.banner.display else ""  # noqa: E731
        await until(pilot, lambda: "model_metrics_sources: models.dev" in banner())  # down until said back
        # A warning while it runs, from a thread that is not the loop's (as the OTLP export thread warns).
        log = logging.getLogger("proxy.shared_state")
        worker = threading.Thread(target=log.warning, args=("session cache: Redis at redis://***@h unavailable",),
                                  kwargs={"extra": {"down": "redis"}})  # fmt: skip
        worker.start()
        worker.join()
        await until(pilot, lambda: any("Redis at" in r.text for r in rows()))
        await until(pilot, lambda: "Redis at redis://***@h unavailable" in banner())
        # A service that is back is said plainly, not as an error, and leaves the banner.
        log.warning("session cache: Redis at redis://***@h is back", extra={"back": "redis"})
        await until(pilot, lambda: any(r.text.startswith("✓") and "is back" in r.text for r in rows()))
        assert not next(r for r in rows() if r.text.startswith("✓")).is_error
        await until(pilot, lambda: "Redis" not in banner())
        assert "model_metrics_sources" in banner()  # the feed is still down
    await server.stop(drain_s=0)
    log.warning("after the server stopped: no notice")  # the handler went with the server
    assert not any("after the server stopped" in n.message for n in state.notices)


async def test_an_attached_dashboard_gets_the_warnings_raised_before_it_came(
    upstream: FakeUpstream, make_proxy: ProxyFactory, links  # noqa: F811 (the fixture imported above)
) -> None:
    state = ProxyState(parse_config(feed_down_config(upstream.url, closed_port()), "c.yaml", FAKE_KEYS))
    server = await make_proxy(state.config, state=state)
    await eventually(lambda: any(n.source == "cost" for n in state.notices))
    app = attached_app(await links(server.url))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: any(isinstance(r, NoticeRow) and "model_metrics_sources" in r.text
                                       for r in app.store))  # fmt: skip
        logging.getLogger("proxy.routing.router").error("routing failed", exc_info=ValueError("bad route"))
        await until(pilot, lambda: any(isinstance(r, NoticeRow) and "routing failed: ValueError: bad route" in r.text
                                       for r in app.store))  # fmt: skip
        assert not any(FEED_SECRET in r.text for r in app.store if isinstance(r, NoticeRow))


async def test_a_repeated_warning_is_shown_once_and_a_flapping_service_each_time(
    upstream: FakeUpstream, make_proxy: ProxyFactory
) -> None:
    state = ProxyState(telemetry_config(upstream.url))
    seen = notices_of(state)
    await make_proxy(state.config, state=state)
    log = logging.getLogger("proxy.shared_state")
    for _ in range(5):
        log.warning("session cache: Redis down")
    log.warning("session cache: Redis is back", extra={"back": "redis"})
    log.warning("session cache: Redis down")
    await eventually(lambda: len([n for n in seen if n.source == "shared_state"]) >= 3)
    await asyncio.sleep(0)
    assert [(n.level, n.message) for n in seen if n.source == "shared_state"] == [
        ("warning", "session cache: Redis down"), ("info", "session cache: Redis is back"),
        ("warning", "session cache: Redis down"),
    ]  # fmt: skip


def test_urls_lose_their_credentials() -> None:
    assert without_credentials("redis://:pw@10.0.0.5:6379/0") == "redis://***@10.0.0.5:6379/0"
    assert without_credentials("https://api.example/v1/prices?token=abc&x=1&flag") == (
        "https://api.example/v1/prices?token=***&x=1&flag"
    )
    assert without_credentials("http://127.0.0.1:4317") == "http://127.0.0.1:4317"


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace collector (the protocol's own generated service), counting the spans it takes."""

    def __init__(self) -> None:
        self.spans = 0
        self.server: grpc.Server | None = None

    def Export(self, request, context):  # the gRPC method's name
        self.spans += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def start(self, port: int) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)
        self.server.add_insecure_port(f"127.0.0.1:{port}")
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(0)


async def test_the_otlp_collector_down_then_back_is_said_from_the_export_thread(upstream: FakeUpstream) -> None:
    port = closed_port()
    state = ProxyState(telemetry_config(upstream.url))
    seen = notices_of(state)
    server = ProxyServer(state, host="127.0.0.1", port=0)
    tel = install(server, metrics=False, tracing=TraceSettings(sampling=1.0, endpoint=f"http://127.0.0.1:{port}"))
    await server.start()
    await tel.start()
    collector = Collector()
    tracing = tel.tracing
    assert tracing is not None
    try:
        async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as client:
            await client.responses.create(model="gpt-5.3-codex", input="hi")
            tracing.flush()
            dropped = "OTLP traces dropped: no collector at"
            await eventually(lambda: any(dropped in n.message for n in seen), timeout=60)
            down = next(n for n in seen if dropped in n.message)
            assert "planoai trace listen" in down.message and "random_sampling: 0" in down.message
            assert down.source == "tracing" and down.level == "warning" and f"127.0.0.1:{port}" in down.message
            assert down.subject == "otlp"

            collector.start(port)  # the collector comes up where the proxy sends spans

            async def back() -> bool:
                await client.responses.create(model="gpt-5.3-codex", input="again")
                tracing.flush()
                await asyncio.sleep(0.5)
                return any(n.level == "info" and "takes spans again" in n.message for n in seen)

            deadline = asyncio.get_running_loop().time() + 90  # a hang guard: gRPC's reconnect backoff
            while not await back():
                assert asyncio.get_running_loop().time() < deadline, "the collector's return was never said"
            assert collector.spans > 0
            assert next(n for n in seen if n.level == "info").subject == "otlp"  # the banner lets it go
    finally:
        await tel.stop()
        await server.stop(drain_s=0)
        collector.stop()


@pytest.mark.slow  # a `planoai` subprocess: scheduled first (tests/conftest.py)
async def test_headless_prints_the_notice_as_a_line_and_keeps_secrets_out(tmp_path, upstream: FakeUpstream) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(feed_down_config(upstream.url, closed_port()))
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plano_tui", "tui", "--no-ui", "--no-watch", "--config", str(cfg), "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
        env={**os.environ, **FAKE_KEYS, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        line = ""
        while "SERVICE_NOTICE" not in line:  # the feed fails at start-up; a hang guard below
            raw = await asyncio.wait_for(proc.stdout.readline(), 60)  # type: ignore[union-attr]
            assert raw, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
            line = raw.decode()
        assert "[warn] SERVICE_NOTICE: source=cost down='models.dev feed'" in line
        assert "message='model_metrics_sources: models.dev (http://***@" in line
        # `planoai status` (a tmux line, a script) says what is down.
        for extra, want in ((["--plain"], "down=models.dev-feed"), ([], "⚠ down: models.dev feed")):
            status = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "plano_tui", "status", "--port", str(port), *extra,
                stdout=asyncio.subprocess.PIPE, cwd=tmp_path,
            )  # fmt: skip
            said, _ = await asyncio.wait_for(status.communicate(), 60)
            assert status.returncode == 0 and want in said.decode(), said
    finally:
        proc.terminate()
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    everything = line + out.decode() + err.decode()
    assert FEED_SECRET not in everything and FEED_KEY not in everything


async def test_a_failing_subscriber_is_said_once_and_breaks_neither_requests_nor_the_bus(
    upstream: FakeUpstream, make_proxy: ProxyFactory
) -> None:
    """bus.py logs a subscriber that raises; that warning becomes a notice the same subscriber also gets
    (and fails on again): handed to the loop, not published from inside the bus, and shown once."""
    state = ProxyState(telemetry_config(upstream.url))
    seen = notices_of(state)

    def broken(_event: object) -> None:
        raise RuntimeError("a front end's bug")

    state.bus.subscribe(broken)  # every event, notices included
    proxy = await make_proxy(state.config, state=state)
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as client:
        for _ in range(3):
            assert (await client.responses.create(model="gpt-5.3-codex", input="hi")).output_text
    await eventually(lambda: any(n.source == "bus" for n in seen))
    await asyncio.sleep(0.1)
    said = [n for n in seen if n.source == "bus"]
    assert len(said) == 1 and said[0].level == "error"
    assert said[0].message == "event subscriber failed: RuntimeError: a front end's bug"


async def test_a_cost_feed_that_answers_again_says_so(upstream: FakeUpstream, make_proxy: ProxyFactory,
                                                      feed) -> None:  # noqa: F811 (the fixture imported above)
    server = await feed({"data": []})  # it answers, but prices nothing: refused as a source
    cfg = parse_config(proxy_config_yaml(upstream.url) + f"""\
model_metrics_sources:
  - type: cost
    provider: digitalocean
    url: {server.url}/catalog
    refresh_interval: 1
""", "c.yaml", FAKE_KEYS)  # fmt: skip
    state = ProxyState(cfg)
    seen = notices_of(state)
    await make_proxy(cfg, state=state)
    await eventually(lambda: any(n.source == "cost" and n.level == "warning" for n in seen))
    server.payload = DIGITALOCEAN
    await eventually(lambda: any(n.source == "cost" and n.level == "info" for n in seen))
    down = next(n for n in seen if n.level == "warning")
    back = next(n for n in seen if n.level == "info")
    assert "no priced models" in down.message and "answers again" in back.message
    assert down.subject == back.subject == "digitalocean feed"


async def test_an_attached_banner_follows_the_proxy_not_its_own_memory(upstream: FakeUpstream, links) -> None:  # noqa: F811
    """The banner's list of services out of order is the proxy's (proxy.admin_stream's stats frames): a
    proxy restarted without the broken feed clears it, where a list kept by the viewer would stay stale."""
    port = free_port()
    link = await links(f"http://127.0.0.1:{port}")
    app = attached_app(link)
    banner = lambda: str(app.banner.content) if app.banner.display else ""  # noqa: E731
    async with app.run_test(size=SIZE) as pilot:
        first = ProxyServer(ProxyState(parse_config(feed_down_config(upstream.url, closed_port()), "c.yaml",
                                                    FAKE_KEYS)), port=port)  # fmt: skip
        await first.start()
        try:
            await until(pilot, lambda: "model_metrics_sources" in banner())
            assert FEED_SECRET not in banner()
        finally:
            await first.stop(drain_s=0)
        second = ProxyServer(ProxyState(parse_config(proxy_config_yaml(upstream.url), "c.yaml", FAKE_KEYS)),
                             port=port)  # fmt: skip
        await second.start()
        try:
            await until(pilot, lambda: link.hellos == 2)
            await until(pilot, lambda: "model_metrics_sources" not in banner())
            # the row stays in the log: it happened
            assert any(isinstance(r, NoticeRow) and "model_metrics_sources" in r.text for r in app.store)
        finally:
            await second.stop(drain_s=0)


async def test_a_reload_that_drops_a_failing_feed_takes_it_off_the_banner(upstream: FakeUpstream,
                                                                         make_proxy: ProxyFactory) -> None:
    state = ProxyState(parse_config(feed_down_config(upstream.url, closed_port()), "c.yaml", FAKE_KEYS))
    await make_proxy(state.config, state=state)
    await eventually(lambda: "models.dev feed" in state.degraded)
    state.apply_config(parse_config(proxy_config_yaml(upstream.url), "c.yaml", FAKE_KEYS))  # as a reload does
    await eventually(lambda: not state.degraded)
    assert any(n.level == "info" and "no longer configured" in n.message for n in state.notices)
