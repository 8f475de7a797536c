"""The dashboard driven like a user would: real requests through the real proxy to a loopback upstream,
keys pressed with the Textual pilot, assertions on widget state (not pixels)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from plano_tui.dashboard.app import DashboardApp
from plano_tui.dashboard.screens.alias_picker import AliasPicker
from plano_tui.dashboard.screens.detail import DetailScreen
from plano_tui.dashboard.store import NoticeRow, RequestRow
from plano_tui.dashboard.widgets.aliases import AliasList
from plano_tui.dashboard.widgets.empty_state import EmptyState
from plano_tui.dashboard.widgets.providers import ProvidersTable
from plano_tui.dashboard.widgets.request_log import RequestLog
from plano_tui.dashboard.widgets.status import ErrorBanner, StatusBar
from proxy.config import load_config
from proxy.local_link import LocalLink
from proxy.reload import ConfigReloader
from proxy.server import ProxyServer

from .bus_queue import QueueSubscriber
from .conftest import FAKE_KEYS, ProxyFactory, make_config, proxy_config_yaml
from .fakes import FakeUpstream, Script

SIZE = (140, 40)
SECRET = "sk-secret-DO-NOT-SHOW-7f3a9c"


def make_app(server: ProxyServer, config_path: str = "test-config.yaml") -> DashboardApp:
    return DashboardApp(LocalLink(server.state), url=server.url, config_path=config_path, tick_s=0.05,
                        cursor_blink=False)


async def post(server: ProxyServer, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as s, s.post(server.url + path, json=body, headers=headers or {}) as resp:
        await resp.read()
        return resp.status


async def until(pilot: Any, predicate: Callable[[], object], timeout: float = 30.0) -> None:
    """Let the app run (bridge tick, stats tick) until `predicate()` holds; `timeout` is a hang guard."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


def all_text(app: DashboardApp) -> str:
    """Every Static/Label on the active screen (all tabs, visible or not) plus the rendered screen."""
    from textual.widgets import Static

    parts = [str(w.content) for w in app.screen.query(Static)]
    parts.append(app.export_screenshot())
    return "\n".join(parts)


def requests(app: DashboardApp) -> list[RequestRow]:
    return [r for r in app.store if isinstance(r, RequestRow)]


async def test_empty_state_then_a_row_with_the_resolution(upstream: FakeUpstream, make_proxy: ProxyFactory) -> None:
    server = await make_proxy(make_config(upstream.url))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        empty = app.query_one(EmptyState)
        assert empty.display
        shown = str(empty.content)
        assert f"ANTHROPIC_BASE_URL={server.url}" in shown
        assert "planoai cli-agent codex" in shown
        # Current Codex ignores OPENAI_BASE_URL: the hint is the profile, with the port this proxy uses.
        assert "OPENAI_BASE_URL" not in shown and "codex --profile plano" in shown
        assert f"planoai cli-agent codex --write-config --port {server.port}" in shown
        assert "export MISSING_XAI_KEY_FOR_TESTS=" in shown  # the provider without a key, with the fix

        body = {"model": "arch.codex.default", "input": "hi", "stream": True}
        assert await post(server, "/v1/responses", body) == 200
        await until(pilot, lambda: requests(app))
        r = requests(app)[0].record
        assert (r.client_model, r.alias, r.alias_target, r.provider, r.upstream_model) == (
            "arch.codex.default",
            "arch.codex.default",
            "gpt-5.3-codex",
            "openai/gpt-5.3-codex",
            "gpt-5.3-codex",
        )
        line = app.query_one(RequestLog).row_text(0)
        assert "arch.codex.default → gpt-5.3-codex" in line
        assert "openai" in line and "responses" in line and "200" in line and "12/4/7" in line
        assert not empty.display and app.query_one(RequestLog).display
        status = str(app.query_one(StatusBar).content)
        assert f"{server.url}/v1" in status and "test-config.yaml" in status


async def test_provider_stats_update_on_the_tick(upstream: FakeUpstream, make_proxy: ProxyFactory) -> None:
    server = await make_proxy(make_config(upstream.url))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(ProvidersTable)
        await until(pilot, lambda: len(table.rows) == 4)
        assert table.cell("xai/grok-4-1-fast-non-reasoning", "key") == "✗ MISSING_XAI_KEY_FOR_TESTS"
        assert table.cell("openai/gpt-5.3-codex", "key") == "✓ ok"
        for stream in (True, False, True):
            await post(server, "/v1/responses", {"model": "gpt-5.3-codex", "input": "x", "stream": stream})
        upstream.script("/messages", Script(status=500))
        await post(server, "/v1/messages", {"model": "arch.claude", "max_tokens": 5, "messages": []})

        def cell(provider: str, col: str) -> str:
            return table.cell(provider, col).strip()

        await until(pilot, lambda: cell("openai/gpt-5.3-codex", "req") == "3")
        await until(pilot, lambda: cell("anthropic/claude-sonnet-4-5", "err") == "0/1")
        assert cell("anthropic/claude-sonnet-4-5", "req") == "1"
        assert cell("openai/gpt-5.3-codex", "lat").count("ms") + cell("openai/gpt-5.3-codex", "lat").count("s") >= 3
        assert len(cell("openai/gpt-5.3-codex", "spark")) == 3  # one block per successful request
        assert "requests 4" in str(app.query_one(StatusBar).content)
        # Skipped redraws: a tick with no new request does not rebuild the snapshot.
        snap = app._snap
        app._refresh_stats(app.clock(), force=True)  # past the per-tick throttle: only the version decides
        await pilot.pause()
        assert app._snap is snap


async def test_unknown_model_is_a_red_row_and_a_banner(upstream: FakeUpstream, make_proxy: ProxyFactory) -> None:
    server = await make_proxy(make_config(upstream.url))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        assert not app.query_one(ErrorBanner).display
        assert await post(server, "/v1/responses", {"model": "gpt-9", "input": "x"}) == 400
        await until(pilot, lambda: requests(app))
        r = requests(app)[0].record
        assert not r.ok and r.error_code == "model_not_found"
        log = app.query_one(RequestLog)
        assert "unknown model 'gpt-9'" in log.row_text(0)
        error_colour = log.get_component_rich_style("request-log--error").color
        await pilot.pause()  # the log was hidden behind the empty state until now: let it lay out
        strip = log.render_line(1)  # line 0 is the column header
        assert any(seg.style is not None and seg.style.color == error_colour for seg in strip if "gpt-9" in seg.text)
        await until(pilot, lambda: app.query_one(ErrorBanner).display)
        banner = str(app.query_one(ErrorBanner).content)
        assert "400 model_not_found" in banner and "Model 'gpt-9' not found" in banner
        await pilot.press("e")  # the last error opens in the detail screen
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert "model_not_found" in all_text(app)


async def test_retarget_alias_with_keys_changes_the_next_request(
    upstream: FakeUpstream, make_proxy: ProxyFactory
) -> None:
    server = await make_proxy(make_config(upstream.url))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")  # the highlighted alias: arch.codex.default
        await until(pilot, lambda: isinstance(app.screen, AliasPicker))
        await pilot.press(*"claude", "enter")
        target = "anthropic/claude-sonnet-4-5"
        await until(pilot, lambda: server.state.aliases.get("arch.codex.default").target == target)
        await until(pilot, lambda: any(isinstance(r, NoticeRow) for r in app.store))
        notice = next(r for r in app.store if isinstance(r, NoticeRow))
        assert "arch.codex.default" in notice.text and "anthropic/claude-sonnet-4-5" in notice.text
        assert "dashboard" in notice.text

        body = {"model": "arch.codex.default", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
        assert await post(server, "/v1/messages", body) == 200
        await until(pilot, lambda: requests(app))
        r = requests(app)[0].record
        assert (r.provider, r.upstream_model) == ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5")
        assert upstream.last("/messages").json["model"] == "claude-sonnet-4-5"

        # The aliases pane marks the unsaved change, and `enter` there opens the picker too.
        aliases = app.query_one(AliasList)
        assert "unsaved" in str(aliases.border_subtitle)
        aliases.focus()
        await pilot.press("down", "enter")  # arch.claude
        await until(pilot, lambda: isinstance(app.screen, AliasPicker))
        picker = app.screen
        assert isinstance(picker, AliasPicker) and picker.alias == "arch.claude"
        await pilot.press("escape")  # cancel: nothing changes
        await until(pilot, lambda: not isinstance(app.screen, AliasPicker))
        assert server.state.aliases.get("arch.claude").target == "claude-sonnet-4-5"


async def test_detail_shows_redacted_headers_and_never_the_secret(
    upstream: FakeUpstream, make_proxy: ProxyFactory
) -> None:
    server = await make_proxy(make_config(upstream.url))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        headers = {"Authorization": f"Bearer {SECRET}", "x-api-key": SECRET, "X-Custom-Trace": "trace-123"}
        await post(server, "/v1/responses", {"model": "arch.codex.default", "input": "hello", "stream": True}, headers)
        await until(pilot, lambda: requests(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        seen = []
        for tab in ("1", "2", "3", "4"):
            await pilot.press(tab)
            await pilot.pause()
            seen.append(all_text(app))
        text = "\n".join(seen)
        assert "<redacted>" in text and "trace-123" in text and "Authorization" in text
        assert SECRET not in text
        for key in FAKE_KEYS.values():  # provider keys never reach the UI either
            assert key not in text
        assert "arch.codex.default → gpt-5.3-codex" in text
        assert f"POST {upstream.url}/v1/responses" in text
        assert '"input": "hello"' in text  # the request body, pretty-printed
        assert "response.completed" in text  # the captured SSE response
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DetailScreen))


async def test_the_dashboard_sets_a_detail_budget_and_explains_rows_beyond_it(
    upstream: FakeUpstream, make_proxy: ProxyFactory
) -> None:
    from proxy.details import DetailBudget

    server = await make_proxy(make_config(upstream.url))
    app = make_app(server)
    budget = server.state.details
    assert isinstance(budget, DetailBudget) and budget.rate == 25.0  # set by the app, as `planoai tui` runs
    async with app.run_test(size=SIZE) as pilot:
        server.state.details = DetailBudget(rate=0.0, burst=1)  # one request keeps details, not the next
        for _ in range(2):
            await post(server, "/v1/responses", {"model": "arch.codex.default", "input": "hi", "stream": True})
        await until(pilot, lambda: len(requests(app)) >= 2)
        await pilot.press("enter")  # the newest row: over the budget
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        seen = []
        for tab in ("2", "3", "4"):
            await pilot.press(tab)
            await pilot.pause()
            seen.append(all_text(app))
        assert all("not captured: above 25 requests/s" in t for t in seen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DetailScreen))
        await pilot.press("down", "enter")  # the first one kept its details
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("2")
        await pilot.pause()
        assert '"input": "hi"' in all_text(app)


async def test_save_aliases_writes_config_and_only_on_ctrl_s(
    tmp_path: Path, upstream: FakeUpstream, make_proxy: ProxyFactory
) -> None:
    path = tmp_path / "config.yaml"
    text = "# my config\n" + proxy_config_yaml(upstream.url).replace(
        "    target: gpt-5.3-codex\n", "    target: gpt-5.3-codex  # default model\n"
    )
    path.write_text(text)
    server = await make_proxy(load_config(path, FAKE_KEYS))
    app = make_app(server, str(path))
    async with app.run_test(size=SIZE) as pilot:
        server.state.set_alias("arch.codex.default", "llama3.1", source="admin")
        await until(pilot, lambda: "unsaved" in str(app.query_one(AliasList).border_subtitle))
        app.tick()
        await pilot.pause()
        assert path.read_text() == text  # nothing is written without ctrl+s
        await pilot.press("ctrl+s")
        await until(pilot, lambda: path.read_text() != text)
        saved = path.read_text()
        assert re.search(r"\n    target: llama3.1 +# default model\n", saved) and saved.startswith("# my config\n")
        assert "$OPENAI_API_KEY" in saved and FAKE_KEYS["OPENAI_API_KEY"] not in saved
        assert load_config(path, FAKE_KEYS).aliases[0].target == "llama3.1"
        await until(pilot, lambda: "unsaved" not in str(app.query_one(AliasList).border_subtitle))


async def test_reload_key_and_a_failed_reload_banner(
    tmp_path: Path, upstream: FakeUpstream, make_proxy: ProxyFactory
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(proxy_config_yaml(upstream.url))
    server = await make_proxy(load_config(path, FAKE_KEYS))
    server.state.reloader = ConfigReloader(server.state, path, watch=False)
    app = make_app(server, str(path))
    async with app.run_test(size=SIZE) as pilot:
        path.write_text(proxy_config_yaml(upstream.url).replace("target: llama3.1", "target: nope-model"))
        await pilot.press("r")
        await until(pilot, lambda: app.query_one(ErrorBanner).display)
        banner = str(app.query_one(ErrorBanner).content)
        assert "config reload failed" in banner and "nope-model" in banner
        await until(pilot, lambda: any(isinstance(r, NoticeRow) and r.is_error for r in app.store))
        path.write_text(proxy_config_yaml(upstream.url).replace("target: llama3.1", "target: gpt-5.3-codex"))
        await pilot.press("r")
        await until(pilot, lambda: not app.query_one(ErrorBanner).display)
        await until(pilot, lambda: "gpt-5.3-codex" in str(app.query_one(AliasList).get_option_at_index(2).prompt))


async def test_clear_and_capacity(upstream: FakeUpstream, make_proxy: ProxyFactory) -> None:
    server = await make_proxy(make_config(upstream.url))
    app = DashboardApp(LocalLink(server.state), url=server.url, config_path="x", capacity=3, tick_s=0.05,
                       cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(5):
            await post(server, "/v1/chat/completions", {"model": "arch.local", "messages": []})
        await until(pilot, lambda: app.store.requests_seen == 5)
        assert len(app.store) == 3  # bounded
        await pilot.press("c")
        await pilot.pause()
        assert len(app.store) == 0 and not app.query_one(EmptyState).display


# ----------------------------------------------------------------------------- without traffic: fed events


def offline_app(capacity: int = 1000) -> DashboardApp:
    from proxy.state import ProxyState

    return DashboardApp(
        LocalLink(ProxyState(make_config("http://127.0.0.1:9"))),
        url="http://127.0.0.1:12000",
        config_path="x",
        capacity=capacity,
        tick_s=0.05,
        cursor_blink=False,
    )


def fake(i: int, **kw: Any) -> Any:
    from proxy.events import RequestFinished, RequestRecord

    return RequestFinished(
        RequestRecord(
            request_id=f"r{i}",
            started_at=1.0e9 + i,
            client_api="chat",
            path="/v1/chat/completions",
            client_model="arch.local",
            stream=False,
            status=200,
            latency_ms=5.0,
            provider="ollama/llama3.1",
            upstream_model="llama3.1",
            **kw,
        )
    )


async def test_new_rows_do_not_move_what_the_user_is_reading() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        app.ingest([fake(i) for i in range(40)])
        await pilot.pause()
        log = app.request_log
        assert log.follow and log.cursor == 0
        await pilot.press("down", "down", "down")
        reading = log.current
        assert not log.follow and log.cursor == 3
        app.ingest([fake(i) for i in range(40, 45)])
        await pilot.pause()
        assert log.current is reading and log.cursor == 8  # same record under the cursor
        assert "5 new" in str(log.border_subtitle)
        await pilot.press("home")
        assert log.follow and log.cursor == 0 and log.current is app.store[0]
        app.ingest([fake(45)])
        await pilot.pause()
        assert log.current is app.store[0] and log.current.record.request_id == "r45"  # type: ignore[union-attr]


async def test_a_batch_larger_than_the_log_keeps_the_newest_rows_and_the_last_error() -> None:
    from proxy.events import AliasChanged, RequestFailed

    app = offline_app(capacity=10)
    async with app.run_test(size=SIZE) as pilot:
        failed = RequestFailed(replace(fake(2).record, status=502, error="upstream down", started_at=time.time()))
        batch = [fake(0), fake(1), failed, *(fake(i) for i in range(3, 14)), AliasChanged("a", "x", "y", "test")]
        app.ingest(batch)  # 14 requests and a notice for 10 rows: the 4 oldest requests only count
        await pilot.pause()
        store = app.store
        assert len(store) == 10 and store.requests_seen == 14
        assert store[0].kind == "alias"  # type: ignore[union-attr]
        assert [r.record.request_id for r in list(store)[1:]] == [f"r{i}" for i in range(13, 4, -1)]  # type: ignore[union-attr]
        assert app.last_error is failed.record  # a failure that never got a row is still the banner's
        assert "upstream down" in str(app.banner.content)


async def test_cooling_provider_dropped_events_and_palette_commands() -> None:
    import time as _time

    from proxy.events import ProviderCooling

    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        app.ingest([ProviderCooling("openai/gpt-5.3-codex", _time.time() + 30, "3 failures in a row")])
        await until(pilot, lambda: app.providers.cell("openai/gpt-5.3-codex", "key").startswith("❄ cooling"))
        assert isinstance(app.store[0], NoticeRow) and "cooling" in app.store[0].text

        sub = QueueSubscriber(app.link.state.bus, 1)  # a slow subscriber: it drops, the bus shows the count
        for i in range(3):
            app.link.state.bus.publish(fake(i))
        await until(pilot, lambda: "2 events dropped" in str(app.status_bar.content))
        sub.close()

        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Retarget alias…",
            "Retarget arch.claude",
            "Save aliases",
            "Reload config",
            "Clear request log",
            "Toggle light/dark theme",
            "Show last error",
        ):
            assert title in titles
        await pilot.press("d")
        assert app.theme == "plano-light"
        await pilot.press("d")
        assert app.theme == "plano-dark"



async def test_providers_lines_fit_the_pane_when_its_scrollbar_appears_without_a_resize() -> None:
    """The pane stops growing at its max-height; the next provider row brings a scrollbar but no resize.
    Every line must then be drawn one cell narrower (a line width cached per size alone would not be)."""
    app = offline_app()
    async with app.run_test(size=(130, 40)) as pilot:
        table, stats = app.providers, app.link.state.stats
        seen: list[tuple[Any, bool]] = []
        async def settled() -> None:  # layout may take more than one refresh: sample a stable state
            last = None
            for _ in range(20):
                await pilot.pause()
                now = (table.size, table.show_vertical_scrollbar, table.scrollable_content_region.width)
                if now == last:
                    return
                last = now

        for i in range(12):
            stats.add(replace(fake(i).record, provider=f"vendor{i}/model"))  # a row per provider the stats saw
            app.tick()
            await settled()
            width = table.scrollable_content_region.width
            assert [table.render_line(y).cell_length for y in range(table.size.height)] == [width] * table.size.height
            seen.append((table.size, table.show_vertical_scrollbar))
        # The case under test happened: the scrollbar came while the size stayed the same.
        assert any(size == seen[k - 1][0] and bar and not seen[k - 1][1] for k, (size, bar) in enumerate(seen) if k)


ROUTES = """\
routing_preferences:
  - name: code generation
    description: generating new code snippets, functions, or boilerplate based on user prompts or requirements
    models: [llama3.1]
  - name: project understanding
    description: understand repository structure, codebase, and code files, readmes, and other documentation
    models: [gpt-5.3-codex]
"""


async def test_routes_summary_and_route_in_the_row(upstream: FakeUpstream, make_proxy: ProxyFactory) -> None:
    server = await make_proxy(make_config(upstream.url, ROUTES))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(ProvidersTable)
        gen = "Write a Python function that parses ISO dates and add unit tests for it"
        und = "Explain how the repository is structured and what the README says about the codebase"
        chat = {"model": "arch.codex.default", "messages": [{"role": "user", "content": gen}]}
        assert await post(server, "/v1/chat/completions", chat) == 200
        assert await post(server, "/v1/responses", {"model": "arch.codex.default", "input": und}) == 200
        await until(
            pilot, lambda: "route:code generation" in table.names and "route:project understanding" in table.names
        )
        assert table.cell("route:code generation", "req").strip() == "1"
        assert table.cell("route:code generation", "key") == "50% routed"
        await until(pilot, lambda: len(requests(app)) == 2)
        lines = [app.query_one(RequestLog).row_text(i) for i in range(2)]
        assert any("→ llama3.1 ⟨code gene" in x for x in lines), lines  # the route, cut to the column
        assert any("→ gpt-5.3-codex ⟨proj" in x for x in lines), lines


async def test_cost_shows_per_provider_per_alias_and_per_request() -> None:
    """What Plano prices, where a user looks: the providers pane's cost column, the alias's running cost
    beside its target, and a request's split (input, cache reads, output) in its detail view; "—" and
    "not priced" when nothing was priced."""
    from plano_tui.dashboard.screens.detail import overview_rows
    from proxy.cost import Cost

    app = offline_app()
    async with app.run_test(size=(150, 40)) as pilot:
        stats = app.link.state.stats
        priced = fake(1, alias="arch.local", cost=Cost(0.0012, 0.0003, 0.0050)).record
        stats.add(priced)
        stats.add(replace(fake(2).record, provider="openai/gpt-5.3-codex", upstream_model="gpt-5.3-codex"))
        app.tick()
        await pilot.pause()
        assert app.providers.cell("ollama/llama3.1", "cost") == "$0.0065"
        assert app.providers.cell("openai/gpt-5.3-codex", "cost") == "—"  # requests, but none priced
        option = app.aliases_list.get_option("arch.local")
        assert "$0.0065" in str(option.prompt)
        rows = dict(overview_rows(priced))
        assert rows["cost"] == "$0.0065 · input $0.0012 · cached $0.0003 · output $0.0050"
        assert dict(overview_rows(fake(3).record))["cost"] == "not priced"
    narrow = offline_app()
    async with narrow.run_test(size=(80, 40)) as pilot:  # a narrow pane gives up the cost column first
        narrow.link.state.stats.add(priced)
        narrow.tick()
        await pilot.pause()
        assert "cost" not in [c[0] for c in narrow.providers.columns(narrow.providers.size.width)]
