"""The dashboard's sessions: the live-sessions screen (key `s`) and the alias picker's preview of what a
retarget would cost the warm sessions on that alias, driven by real traffic through the real proxy."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from plano_tui.dashboard.screens.alias_picker import AliasPicker
from plano_tui.dashboard.screens.sessions import SessionsScreen, cells
from proxy.budget import Budget
from proxy.cost import BuiltinPrices, PriceBook, Rates
from proxy.session_view import retarget_preview, rows
from proxy.sessions import SessionRef, SessionStore, bind

from .conftest import make_config
from .test_ui_app import SIZE, make_app, post, until

RATES = {
    "openai/gpt-5.3-codex": Rates(1.75, 14.0, 0.175),
    "anthropic/claude-sonnet-4-5": Rates(3.0, 15.0, 0.3),
}


class Clock:
    t = 5000.0

    def __call__(self) -> float:
        return self.t


def test_rows_and_retarget_preview_price_the_switch_like_the_gate() -> None:
    clock = Clock()
    store = SessionStore(clock=clock)
    book = PriceBook([], BuiltinPrices())
    book.feed = dict(RATES)
    gate = Budget(20.0, book)
    for sid in ("a", "b"):
        bind(store, SessionRef(sid, sid, 1, "affinity"), "openai/gpt-5.3-codex", None, "openai/gpt-5.3-codex",
             100_000, gate, alias="arch.codex.default")
    bind(store, SessionRef("c", "c", 1, "affinity"), "openai/gpt-5.3-codex", None, "x", 100_000, gate, alias="other")
    clock.t += 30
    (row,) = [r for r in rows(store, gate) if r.session_id == "a"]
    assert (row.anchor, row.warm, row.context_tokens, row.cap_usd) == ("openai/gpt-5.3-codex", True, 100_000, 0.0)
    p = retarget_preview(store, "arch.codex.default", "anthropic/claude-sonnet-4-5", book, gate)
    # each: 0.1M × (3.0 − 0.175) = $0.2825; the fresh episodes have no baseline yet, so 20% of 0 retains both
    assert (p.sessions, p.retained) == (2, 2) and p.cost_usd == pytest.approx(0.565)
    assert p.describe() == "2 warm sessions: switching costs ≈ $0.5650, 2 kept on their anchor by the routing budget"
    clock.t += 301  # the cache window passed: nothing warm to lose
    assert retarget_preview(store, "arch.codex.default", "anthropic/claude-sonnet-4-5", book, gate).sessions == 0
    assert "cold" in cells(rows(store, gate)[0])[9]


async def test_sessions_screen_and_retarget_preview_from_live_traffic(upstream, make_proxy) -> None:
    server = await make_proxy(make_config(upstream.url, "prompt_caching:\n  enabled: true\n"))
    server.state.prices.feed = dict(RATES)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        body = {"model": "arch.codex.default", "messages": [{"role": "user", "content": "explain the repo"}]}
        assert await post(server, "/v1/chat/completions", body, {"X-Model-Affinity": "team-7"}) == 200
        await until(pilot, lambda: server.state.sessions.by_session("team-7") is not None)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1)
        row = [str(c) for c in table.get_row_at(0)]
        assert row[0] == "team-7" and row[2] == "gpt-5.3-codex" and row[9].startswith("warm")
        assert row[10] == "—" and row[4] == "1"  # no routing budget
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, SessionsScreen))
        app.retarget("arch.codex.default")
        await until(pilot, lambda: isinstance(app.screen, AliasPicker) and app.screen.query("#picker-options"))
        await until(pilot, lambda: app.screen.query_one("#picker-options").option_count > 1)
        labels = [str(o.prompt) for o in app.screen.query_one("#picker-options").options]
        sonnet = next(label for label in labels if "claude-sonnet-4-5" in label)
        assert "1 warm session: switching costs ≈ $" in sonnet
        assert not any("warm session" in label for label in labels if "gpt-5.3-codex" in label)  # the current
