"""The dashboard attached to a proxy in another process: the same App over `RemoteLink` and the proxy's
admin stream (proxy/admin_stream.py), against a real proxy on 127.0.0.1, driven with Textual pilots.
Rows, statistics, retargeting, reload, save and details work as in process; quitting never touches
the proxy; several dashboards watch one proxy; a dashboard waits for a proxy and follows a restart;
a viewer that falls behind skips ahead with a count, and a stalled one is dropped."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from plano_tui.dashboard.app import DashboardApp
from plano_tui.dashboard.screens.alias_picker import AliasPicker
from plano_tui.dashboard.screens.detail import DetailScreen
from plano_tui.dashboard.store import NoticeRow
from plano_tui.remote_link import RemoteLink
from proxy.config import load_config
from proxy.events import RequestFinished, RequestRecord
from proxy.reload import ConfigReloader
from proxy.server import ProxyServer
from proxy.state import ProxyOptions, ProxyState

from .conftest import FAKE_KEYS, ProxyFactory, make_config, proxy_config_yaml
from .fakes import FakeUpstream, Script, responses_events
from .test_ui_app import SIZE, all_text, post, requests, until

Links = Callable[..., Any]


@pytest.fixture
async def links() -> AsyncIterator[Links]:
    """`await links(url, token=…)` → a started RemoteLink, closed after the test."""
    made: list[RemoteLink] = []

    async def make(url: str, **kw: Any) -> RemoteLink:
        link = await RemoteLink(url, retry_s=0.05, **kw).start()
        made.append(link)
        return link

    yield make
    for link in made:
        await link.close()


def attached_app(link: RemoteLink, config_path: str = "(attached)") -> DashboardApp:
    return DashboardApp(link, url=link.url, config_path=config_path, tick_s=0.05, cursor_blink=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_attached_dashboard_shows_rows_stats_and_config(upstream: FakeUpstream, make_proxy: ProxyFactory,
                                                              links: Links) -> None:
    server = await make_proxy(make_config(upstream.url))
    link = await links(server.url)
    app = attached_app(link)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "attached to" in app.status_bar.content)
        await until(pilot, lambda: "arch.codex.default" in str(app.aliases_list.get_option_at_index(0).prompt))
        assert server.admin_stream.viewers == 1
        assert await post(server, "/v1/responses", {"model": "arch.codex.default", "input": "hi"}) == 200
        await until(pilot, lambda: requests(app))
        r = requests(app)[0].record
        assert (r.client_model, r.alias_target, r.provider) == (
            "arch.codex.default", "gpt-5.3-codex", "openai/gpt-5.3-codex")
        assert r.request_body is None  # bodies are not streamed: the detail view fetches them
        await until(pilot, lambda: app.providers.cell("openai/gpt-5.3-codex", "req") == "1")
        await until(pilot, lambda: "requests 1" in app.status_bar.content)
        assert "✗ MISSING_XAI_KEY_FOR_TESTS" in app.providers.cell("xai/grok-4-1-fast-non-reasoning", "key")
    await link.close()
    await until_async(lambda: server.admin_stream.viewers == 0)


async def until_async(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_attached_commands_retarget_reload_save_and_details(
        tmp_path: Path, upstream: FakeUpstream, make_proxy: ProxyFactory, links: Links) -> None:
    path = tmp_path / "config.yaml"
    text = "# my config\n" + proxy_config_yaml(upstream.url)
    path.write_text(text)
    server = await make_proxy(load_config(path, FAKE_KEYS), ProxyOptions())
    server.state.reloader = ConfigReloader(server.state, path, watch=False)
    server.state.details = None  # a headless proxy keeps no details until a dashboard attaches
    link = await links(server.url)
    app = attached_app(link, str(path))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: link.connected)
        assert server.state.details is not None  # the viewer asked for the dashboard's budget

        # details: the row's headers and bodies come from the proxy when it is opened
        body = {"model": "arch.codex.default", "input": "DETAIL-PROBE", "stream": True}
        assert await post(server, "/v1/responses", body, {"X-Custom-Trace": "trace-123"}) == 200
        await until(pilot, lambda: requests(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await until(pilot, lambda: "DETAIL-PROBE" in all_text(app))
        assert "trace-123" in all_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DetailScreen))

        # retarget through the picker: the proxy's alias changes, the notice says "dashboard"
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, AliasPicker))
        await pilot.press(*"llama", "enter")
        await until(pilot, lambda: server.state.aliases.get("arch.codex.default").target == "ollama/llama3.1")
        await until(pilot, lambda: any(isinstance(r, NoticeRow) for r in app.store))
        notice = next(r for r in app.store if isinstance(r, NoticeRow))
        assert "ollama/llama3.1" in notice.text and "dashboard" in notice.text
        await until(pilot, lambda: "unsaved" in str(app.aliases_list.border_subtitle))

        # save: the proxy writes its config file
        await pilot.press("ctrl+s")
        await until(pilot, lambda: path.read_text() != text)
        assert path.read_text().startswith("# my config\n")
        assert load_config(path, FAKE_KEYS).aliases[0].target == "ollama/llama3.1"
        await until(pilot, lambda: "unsaved" not in str(app.aliases_list.border_subtitle))

        # reload: a broken file shows the banner; a good one clears it and shows the change
        path.write_text(proxy_config_yaml(upstream.url).replace("target: llama3.1", "target: nope-model"))
        await pilot.press("r")
        await until(pilot, lambda: app.banner.display and "nope-model" in str(app.banner.content))
        path.write_text(proxy_config_yaml(upstream.url).replace("target: claude-sonnet-4-5", "target: llama3.1"))
        await pilot.press("r")
        await until(pilot, lambda: not app.banner.display)
        await until(pilot, lambda: "llama3.1" in str(app.aliases_list.get_option_at_index(1).prompt))
    await link.close()
    await until_async(lambda: server.state.details is None)  # the last viewer left: as it was


async def test_two_attached_dashboards_show_the_same_rows(upstream: FakeUpstream, make_proxy: ProxyFactory,
                                                          links: Links) -> None:
    server = await make_proxy(make_config(upstream.url))
    one, two = attached_app(await links(server.url)), attached_app(await links(server.url))
    async with one.run_test(size=SIZE) as p1, two.run_test(size=SIZE) as p2:
        await until(p1, lambda: server.admin_stream.viewers == 2)
        for model in ("arch.codex.default", "arch.claude", "arch.local"):
            assert await post(server, "/v1/chat/completions",
                              {"model": model, "messages": [{"role": "user", "content": "x"}]}) == 200
        await until(p1, lambda: len(requests(one)) == 3)
        await until(p2, lambda: len(requests(two)) == 3)
        rows = [[(r.record.request_id, r.record.provider) for r in requests(app)] for app in (one, two)]
        assert rows[0] == rows[1]
        assert {p for _, p in rows[0]} == {"openai/gpt-5.3-codex", "anthropic/claude-sonnet-4-5", "ollama/llama3.1"}


async def test_quitting_an_attached_dashboard_leaves_an_open_stream_finishing(
        upstream: FakeUpstream, make_proxy: ProxyFactory, links: Links) -> None:
    server = await make_proxy(make_config(upstream.url))
    upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex", "all of it"), frame_delay=0.05))
    link = await links(server.url)
    app = attached_app(link)
    async with aiohttp.ClientSession() as s:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: link.connected)
            resp = await s.post(server.url + "/v1/responses",
                                json={"model": "arch.codex.default", "input": "hi", "stream": True})
            first = await resp.content.readline()  # the stream is open
            await pilot.press("q")
        await link.close()
        rest = await resp.read()
    assert b"response.completed" in first + rest and b"all of it" in first + rest
    assert server.state.in_flight == 0 and server.admin_stream.viewers == 0
    assert server._runner is not None  # the proxy is still serving


async def test_dashboard_waits_for_the_proxy_and_follows_a_restart(upstream: FakeUpstream, links: Links) -> None:
    port = free_port()
    link = await links(f"http://127.0.0.1:{port}")
    app = attached_app(link)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "waiting for" in app.status_bar.content)
        assert not link.connected
        first = ProxyServer(ProxyState(make_config(upstream.url)), port=port)
        await first.start()
        try:
            await until(pilot, lambda: "attached to" in app.status_bar.content)
            assert await post(first, "/v1/chat/completions",
                              {"model": "arch.local", "messages": [{"role": "user", "content": "x"}]}) == 200
            await until(pilot, lambda: len(requests(app)) == 1)
        finally:
            await first.stop(drain_s=0)
        await until(pilot, lambda: "waiting for" in app.status_bar.content)
        second = ProxyServer(ProxyState(make_config(upstream.url, extra="  arch.extra:\n    target: llama3.1\n")),
                             port=port)
        await second.start()
        try:
            await until(pilot, lambda: link.hellos == 2 and "attached to" in app.status_bar.content)
            # the new proxy's config is shown: its extra alias
            await until(pilot, lambda: any("arch.extra" in str(app.aliases_list.get_option_at_index(i).prompt)
                                           for i in range(app.aliases_list.option_count)))
            assert await post(second, "/v1/chat/completions",
                              {"model": "arch.extra", "messages": [{"role": "user", "content": "x"}]}) == 200
            await until(pilot, lambda: len(requests(app)) == 2)
        finally:
            await second.stop(drain_s=0)


def fake_record(i: int, error: str | None = None) -> RequestFinished:
    return RequestFinished(RequestRecord(request_id=f"f{i}", started_at=1.0e9 + i, client_api="chat",
                                         path="/v1/chat/completions", client_model="m", stream=False, status=200,
                                         latency_ms=1.0, provider="ollama/llama3.1", error=error))


async def test_a_viewer_that_falls_behind_skips_ahead_with_a_count(upstream: FakeUpstream, make_proxy: ProxyFactory,
                                                                   links: Links) -> None:
    server = await make_proxy(make_config(upstream.url))
    server.admin_stream.capacity = 5
    link = await links(server.url)
    app = attached_app(link)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: link.connected)
        [viewer] = server.admin_stream.active
        for i in range(50):  # one burst, between two of the stream's ticks
            server.state.bus.publish(fake_record(i))
        assert len(viewer.pending) <= 5 and viewer.skipped == 45
        await until(pilot, lambda: "45 events dropped" in app.status_bar.content)
        await until(pilot, lambda: len(requests(app)) == 5)


async def test_a_stalled_viewer_is_dropped_and_costs_bounded_memory(upstream: FakeUpstream,
                                                                    make_proxy: ProxyFactory) -> None:
    server = await make_proxy(make_config(upstream.url))
    stream = server.admin_stream
    stream.capacity, stream.stall_s, stream.tick_s = 200, 0.5, 0.01
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:  # a viewer that connects and never reads
        writer.write(b"GET /admin/events HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await until_async(lambda: stream.viewers == 1)
        big = "x" * 20_000
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        i = 0
        while stream.viewers:  # each tick writes up to 200 × 20 KB until the socket buffers are full
            assert loop.time() < deadline, "the stalled viewer was never dropped"
            for v in stream.active:
                assert len(v.pending) <= stream.capacity
            for _ in range(50):
                server.state.bus.publish(fake_record(i, error=big))
                i += 1
            await asyncio.sleep(0.01)
        assert stream.skipped > 0
        # the proxy still serves
        assert await post(server, "/v1/chat/completions",
                          {"model": "arch.local", "messages": [{"role": "user", "content": "x"}]}) == 200
    finally:
        writer.close()


async def test_admin_token_guards_the_stream(upstream: FakeUpstream, make_proxy: ProxyFactory, links: Links) -> None:
    server = await make_proxy(make_config(upstream.url), ProxyOptions(admin_token="t0k"))
    wrong = await links(server.url, token="nope")
    right = await links(server.url, token="t0k")
    await until_async(lambda: right.connected and wrong.last_error == "admin token required")
    assert not wrong.connected
