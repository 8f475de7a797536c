"""The filter line and marks in the real dashboard, driven by a Textual pilot over recorded requests."""

from __future__ import annotations

from typing import Any

from plano_tui.dashboard.app import DashboardApp
from proxy.events import RequestFailed, RequestFinished
from proxy.local_link import LocalLink
from proxy.state import ProxyState

from .conftest import make_config
from .test_query import CLAUDE, FAILED, FALLBACK, rec

SIZE = (140, 40)


def make_app() -> DashboardApp:
    return DashboardApp(LocalLink(ProxyState(make_config("http://127.0.0.1:9"))), url="http://127.0.0.1:12000",
                        config_path="./config.yaml", cursor_blink=False)


async def fed(pilot: Any) -> DashboardApp:
    app: DashboardApp = pilot.app
    records = [rec(request_id=f"r{i}") for i in range(3)] + [CLAUDE, FAILED, FALLBACK]
    app.ingest([RequestFinished(r) if r.ok else RequestFailed(r) for r in records])
    app.link.state.set_alias("arch.local", "claude-sonnet-4-5", source="dashboard")  # a notice row
    app.tick()
    await pilot.pause()
    return app


def shown(app: DashboardApp) -> list[str]:
    log = app.request_log
    return [log.row_text(i) for i in range(len(log.rows))]


async def test_filter_line_narrows_the_log_and_esc_restores_it() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await fed(pilot)
        assert len(app.request_log.rows) == 7  # six requests and the alias notice
        await pilot.press("slash")
        assert app.filter_line.has_focus and app.filter_line.display
        await pilot.press(*"status:4xx")
        await pilot.pause()
        rows = shown(app)
        assert len(rows) == 1 and "429" in rows[0] and "Rate limit" in rows[0]
        assert "filter 'status:4xx': 1 of 7" in str(app.request_log.border_subtitle)
        await pilot.press("enter")  # back to the log, the filter stays
        assert app.request_log.has_focus and app.filter_line.display and len(app.request_log.rows) == 1
        # New traffic that matches joins the filtered view; the rest is counted, not shown.
        app.ingest([RequestFailed(FAILED), RequestFinished(CLAUDE)])
        await pilot.pause()
        assert len(app.request_log.rows) == 2
        assert "2 of 9" in str(app.request_log.border_subtitle)
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert not app.filter_line.display and len(app.request_log.rows) == 9 and app.request_log.filter_query is None


async def test_a_bad_term_is_explained_and_keeps_the_last_good_filter() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await fed(pilot)
        await pilot.press("slash", *"model:claude")
        await pilot.pause()
        assert len(app.request_log.rows) == 1
        app.filter_line.insert_text_at_cursor(" status:teapot")  # as a paste arrives: in one change
        await pilot.pause()
        assert app.filter_line.has_class("-invalid") and "status:teapot" in str(app.filter_line.border_subtitle)
        assert len(app.request_log.rows) == 1  # still the last filter that parsed


async def test_marks_show_and_filter() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await fed(pilot)
        await pilot.press("down", "m", "down", "down", "m")  # rows 1 and 3 (row 0 is the notice)
        await pilot.pause()
        assert shown(app)[1].startswith("●") and shown(app)[3].startswith("●") and not shown(app)[2].startswith("●")
        await pilot.press("slash", *"marked", "enter")
        await pilot.pause()
        assert len(app.request_log.rows) == 2 and all(t.startswith("●") for t in shown(app))
