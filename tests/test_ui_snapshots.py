"""SVG snapshots of the dashboard (pytest-textual-snapshot). Deterministic by construction: recorded
`RequestRecord`s instead of live traffic, a frozen clock, UTC, no cursor blink.

Update after an intended UI change: `.venv/bin/pytest tests/test_ui_snapshots.py --snapshot-update`,
then look at the SVGs in tests/__snapshots__/test_ui_snapshots/.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from plano_tui.dashboard.app import DashboardApp
from proxy.events import Attempt, RequestFailed, RequestFinished, RequestRecord, RouteInfo
from proxy.local_link import LocalLink
from proxy.state import ProxyState
from proxy.wire.usage import Usage

from .conftest import make_config

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: the proxy started
NOW = T0 + 754.0  # the frozen "now": up 12m34s
UPSTREAM = "http://127.0.0.1:18080"
SIZE = (140, 40)


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def record(i: int, **kw: Any) -> RequestRecord:
    body = (b'{"model":"arch.codex.default","instructions":"You are Codex.","input":[{"type":"message",'
            b'"role":"user","content":[{"type":"input_text","text":"fix the failing test"}]}],"stream":true}')
    base = RequestRecord(
        request_id=f"5eed{i:06x}", started_at=NOW - 60 + i * 3.7, client_api="responses", path="/v1/responses",
        client_model="arch.codex.default", stream=True, status=200, latency_ms=1850.0 + i * 37,
        provider="openai/gpt-5.3-codex", upstream_model="gpt-5.3-codex", upstream_api="responses",
        upstream_url=f"{UPSTREAM}/v1/responses", alias="arch.codex.default", alias_target="gpt-5.3-codex",
        via="alias", ttft_ms=310.0 + i * 11, usage=Usage(24_000 + i * 900, 18_000, 180 + i * 7, 40),
        session_id="019a7c2e-codex-session",
        request_headers=(("Host", "127.0.0.1:12000"), ("Authorization", "<redacted>"),
                         ("User-Agent", "codex_cli_rs/0.63.0"), ("originator", "codex_cli_rs"),
                         ("session_id", "019a7c2e-codex-session"), ("Content-Type", "application/json")),
        request_body=body,
        response_body=b'event: response.completed\ndata: {"type":"response.completed","response":{"status":'
                      b'"completed","usage":{"input_tokens":24000,"output_tokens":180}}}\n\n',
    )
    return replace(base, **kw)


def traffic() -> list[RequestRecord]:
    claude = {"client_api": "messages", "path": "/v1/messages", "client_model": "arch.claude",
              "provider": "anthropic/claude-sonnet-4-5", "upstream_model": "claude-sonnet-4-5",
              "upstream_api": "messages", "alias": "arch.claude", "alias_target": "claude-sonnet-4-5",
              "upstream_url": f"{UPSTREAM}/v1/messages"}
    local = {"client_model": "arch.local", "provider": "ollama/llama3.1", "upstream_model": "llama3.1",
             "upstream_api": "chat", "alias": "arch.local", "alias_target": "llama3.1",
             "upstream_url": f"{UPSTREAM}/v1/chat/completions"}
    return [
        record(0),
        record(1, **claude, latency_ms=2410.0, ttft_ms=640.0),
        record(2, **local, latency_ms=980.0, ttft_ms=95.0, notes=("dropped the web_search tool",)),
        record(3, stream=False, ttft_ms=1320.0, latency_ms=1320.0, client_model="gpt-5.3-codex", alias=None,
               alias_target=None, via="explicit"),
        record(4, **claude, stream=False, latency_ms=3120.0, ttft_ms=3120.0),
        record(5, route=RouteInfo(route="code generation", backend="llm", latency_ms=84.0), via="route"),
        record(6, status=429, error="openai/gpt-5.3-codex: Rate limit reached for requests", ttft_ms=None,
               error_code="upstream_error", latency_ms=212.0, usage=Usage()),
        record(7, **{**local, "client_api": "chat", "path": "/v1/chat/completions"}, latency_ms=760.0, ttft_ms=70.0),
        record(8, client_model="gpt-9", provider=None, upstream_model=None, upstream_api=None, alias=None,
               alias_target=None, via=None, upstream_url=None, status=400, ttft_ms=None, latency_ms=0.4,
               usage=Usage(), error="Model 'gpt-9' not found in configured providers. Configured: "
                                    "openai/gpt-5.3-codex, anthropic/claude-sonnet-4-5, ollama/llama3.1",
               error_code="model_not_found"),
        record(9, **{**claude, "client_api": "responses", "path": "/v1/responses"}, latency_ms=2890.0,
               ttft_ms=710.0),
        record(10),
        record(11, latency_ms=5400.0, ttft_ms=1450.0),
        record(12, **local, latency_ms=1210.0, ttft_ms=88.0),
        record(13),
    ]


def make_app(records: list[RequestRecord] | None = None, theme: str | None = None) -> DashboardApp:
    state = ProxyState(make_config(UPSTREAM))
    state.started_at = T0
    app = DashboardApp(LocalLink(state), url="http://127.0.0.1:12000", config_path="./config.yaml", clock=lambda: NOW,
                       cursor_blink=False)
    if theme:
        app.theme = theme
    app.snapshot_records = records or []  # type: ignore[attr-defined]
    return app


async def feed(pilot: Any) -> None:
    """What the bridge would deliver, in one batch, plus the stats the core would have folded."""
    app: DashboardApp = pilot.app
    records = app.snapshot_records  # type: ignore[attr-defined]
    for r in records:
        app.link.state.stats.add(r)
    app.ingest([RequestFinished(r) if r.ok else RequestFailed(r) for r in records])
    app.tick()
    await pilot.pause()


def test_main_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await feed(pilot)
        pilot.app.link.state.set_alias("arch.local", "claude-sonnet-4-5", source="dashboard")  # a notice row
        pilot.app.tick()  # what the 4 Hz timer does next: take the pending notice (no wall-clock wait)
        await pilot.pause()
        await pilot.press("down", "down")

    assert snap_compare(make_app(traffic()), terminal_size=SIZE, run_before=run_before)


def test_main_screen_light_theme(snap_compare: Any) -> None:
    assert snap_compare(make_app(traffic(), theme="plano-light"), terminal_size=SIZE, run_before=feed)


def test_empty_state(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE)


def test_detail_screen(snap_compare: Any) -> None:
    fallback = record(
        20, provider="anthropic/claude-sonnet-4-5", upstream_model="claude-sonnet-4-5", upstream_api="messages",
        upstream_url=f"{UPSTREAM}/v1/messages", route=RouteInfo(route="code generation", backend="llm",
                                                                latency_ms=84.0),
        attempts=(Attempt("openai/gpt-5.3-codex", "gpt-5.3-codex", 429, "Rate limit reached for requests", 212.0),
                  Attempt("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5", 200, None, 2380.0)),
        notes=("translated responses→messages", "dropped the web_search tool"),
        metadata={"cost_usd": None, "router": {"raw": '{"route": ["code generation"]}'}})

    async def run_before(pilot: Any) -> None:
        pilot.app.snapshot_records = [fallback]
        await feed(pilot)
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_alias_picker(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await feed(pilot)
        await pilot.press("t")
        await pilot.pause()

    assert snap_compare(make_app(traffic()), terminal_size=SIZE, run_before=run_before)


def session_traffic() -> list[RequestRecord]:
    """Two live sessions as recorded Codex / Claude Code traffic shapes: a Codex session of three turns
    (tool loops of exec_command and apply_patch; turn 2 failed over to Claude mid-loop), and a Claude
    Code session whose context has passed 80 % of its model's window."""
    codex = {"agent": "codex_exec", "session_id": "019a7c2e-codex-session"}
    claude = {"agent": "claude-cli", "session_id": "c1a0de-claude-code-session", "client_api": "messages",
              "path": "/v1/messages", "client_model": "arch.claude", "provider": "anthropic/claude-sonnet-4-5",
              "upstream_model": "claude-sonnet-4-5", "upstream_api": "messages", "alias": "arch.claude",
              "alias_target": "claude-sonnet-4-5", "upstream_url": f"{UPSTREAM}/v1/messages"}
    fell_back = {"provider": "anthropic/claude-sonnet-4-5", "upstream_model": "claude-sonnet-4-5", "via": "fallback",
                 "attempts": (Attempt("openai/gpt-5.3-codex", "gpt-5.3-codex", 429, "rate limited", 212.0),
                              Attempt("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5", 200, None, 2380.0))}
    return [
        record(0, **codex, turn_id="turn-a1", user_turn=True, tool_calls=("exec_command",)),
        record(1, **codex, turn_id="turn-a1", user_turn=False, tool_calls=("exec_command", "exec_command")),
        record(2, **codex, turn_id="turn-a1", user_turn=False, tool_calls=()),
        record(3, **codex, turn_id="turn-b2", user_turn=True, tool_calls=("apply_patch",)),
        record(4, **codex, **fell_back, turn_id="turn-b2", user_turn=False, tool_calls=("exec_command",)),
        record(5, **codex, **fell_back, turn_id="turn-b2", user_turn=False, tool_calls=()),
        record(6, **codex, turn_id="turn-c3", user_turn=True, tool_calls=("apply_patch",)),
        record(7, **claude, user_turn=True, tool_calls=("Read", "Grep"), usage=Usage(148_000, 140_000, 300, 0)),
        record(8, **claude, user_turn=False, tool_calls=("Edit",), usage=Usage(166_000, 150_000, 420, 0)),
    ]


async def feed_sessions(pilot: Any) -> None:
    app: DashboardApp = pilot.app
    log = app.link.state.turns
    log.clock = lambda: 1000.0  # frozen: idle times and warm/cold do not depend on the run
    for r in session_traffic():
        log.add(r)
    await feed(pilot)
    await pilot.press("s")
    await pilot.pause()


def test_sessions_screen(snap_compare: Any) -> None:
    assert snap_compare(make_app(session_traffic()), terminal_size=SIZE, run_before=feed_sessions)


def test_session_turns_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await feed_sessions(pilot)
        await pilot.press("down", "enter")  # the Codex session (the most recently used, Claude's, is first)
        await pilot.pause()

    assert snap_compare(make_app(session_traffic()), terminal_size=SIZE, run_before=run_before)
