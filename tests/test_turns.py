"""Sessions as turns and tool loops (proxy.turns): recorded Codex 0.169 runs replayed through the real
proxy to a loopback upstream that answers each user turn with the tool calls Codex then answered, the
context-window guard, and the sessions and turns screens driven with the pilot."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from textual.widgets import DataTable

from plano_tui.dashboard.screens.sessions import SessionsScreen, cells, meter
from plano_tui.dashboard.screens.turns import TurnsScreen, turn_rows
from proxy.events import RequestFailed, RequestFinished, RequestRecord
from proxy.turns import SessionLog, starts_user_turn, tool_names_of
from proxy.wire.providers import Api
from proxy.wire.usage import Usage

from .conftest import eventually, make_config
from .fakes import FakeUpstream, Script, sse
from .test_ui_app import SIZE, make_app, until

DATA = Path(__file__).with_name("data") / "codex_tool_loops.json"
_ids = itertools.count(1)


def codex_run(name: str) -> list[dict[str, Any]]:
    """Every POST of one recorded Codex run: headers and body (model as recorded: fakemodel-1 → alias)."""
    return json.loads(DATA.read_text())["runs"][name]["requests"]


def calls_after_last_user(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool calls Codex replays in a continuation: what the previous answer carried."""
    items = body["input"]
    last_user = max(i for i, it in enumerate(items) if it.get("role") == "user")
    return [it for it in items[last_user + 1 :] if it.get("type") in ("function_call", "custom_tool_call")]


def answer(model: str, calls: list[dict[str, Any]], input_tokens: int = 20_000, cached: int = 15_000) -> Script:
    """A Responses stream whose output is `calls` (or a short message when there are none)."""
    rid = f"resp_t{next(_ids)}"
    usage = {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": cached}, "output_tokens": 40,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": input_tokens + 40}
    items = [{k: v for k, v in c.items() if k != "id"} | {"id": f"fc_{next(_ids)}", "status": "completed"}
             for c in calls] or [{"id": f"msg_{next(_ids)}", "type": "message", "role": "assistant",
                                  "status": "completed",
                                  "content": [{"type": "output_text", "text": "done", "annotations": []}]}]
    base = {"id": rid, "object": "response", "created_at": 1, "model": model, "status": "in_progress", "output": []}
    frames = [sse({"type": "response.created", "response": base}, "response.created")]
    for i, it in enumerate(items):
        frames.append(sse({"type": "response.output_item.added", "output_index": i, "item": it},
                          "response.output_item.added"))
        if it["type"] == "message":
            frames.append(sse({"type": "response.output_text.delta", "item_id": it["id"], "output_index": i,
                               "content_index": 0, "delta": "done"}, "response.output_text.delta"))
        frames.append(sse({"type": "response.output_item.done", "output_index": i, "item": it},
                          "response.output_item.done"))
    done = {**base, "status": "completed", "output": items, "usage": usage}
    frames.append(sse({"type": "response.completed", "response": done}, "response.completed"))
    return Script(frames=frames)


async def replay(server: Any, upstream: FakeUpstream, name: str, model: str = "arch.codex.default",
                 input_tokens: int = 20_000) -> list[int]:
    reqs = codex_run(name)
    for i in range(len(reqs)):  # each user turn is answered with what Codex then sent back
        nxt = reqs[i + 1]["body"] if i + 1 < len(reqs) else None
        calls = calls_after_last_user(nxt) if nxt is not None and not starts_user_turn(Api.RESPONSES, nxt) else []
        upstream.script("/responses", answer("gpt-5.3-codex", calls, input_tokens + 1000 * i))
    statuses = []
    async with aiohttp.ClientSession() as s:
        for r in reqs:
            body = dict(r["body"], model=model)
            async with s.post(server.url + "/v1/responses", data=orjson.dumps(body), headers=r["headers"]) as resp:
                await resp.read()
                statuses.append(resp.status)
    return statuses


async def settled_window(pilot: Any, server: Any, model: str) -> int:
    """`model`'s window once the built-in price table (loaded in the background; it may list a window)
    is in, so what a test compares against cannot change under it."""
    prices = server.state.prices
    await until(pilot, lambda: prices.builtin.ready or prices.builtin.error is not None)
    provider = next(p for p in server.state.config.providers if p.name.endswith(model))
    win = server.state.windows.window(provider, model)
    assert win is not None
    return int(win)


def finished(server: Any, n: int) -> Any:
    return lambda: server.state.turns.version >= n


# ----------------------------------------------------------------------------- pure parts
def test_user_turn_and_tool_names_from_each_api() -> None:
    assert starts_user_turn(Api.RESPONSES, {"input": "hi"}) is True
    assert starts_user_turn(Api.RESPONSES, {"input": [{"type": "function_call_output", "output": "x"}]}) is False
    assert starts_user_turn(Api.CHAT, {"messages": [{"role": "tool", "content": "x"}]}) is False
    tool_result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}
    assert starts_user_turn(Api.MESSAGES, {"messages": [tool_result]}) is False
    assert starts_user_turn(Api.MESSAGES, {"messages": [{"role": "user", "content": "fix it"}]}) is True
    assert tool_names_of({"output": [{"type": "custom_tool_call", "name": "apply_patch"},
                                     {"type": "message"}]}) == ("apply_patch",)
    assert tool_names_of({"content": [{"type": "tool_use", "name": "Bash"}]}) == ("Bash",)
    assert tool_names_of({"choices": [{"message": {"tool_calls": [{"function": {"name": "f"}}]}}]}) == ("f",)


def rec(n: int, **kw: Any) -> RequestRecord:
    base: dict[str, Any] = dict(request_id=f"r{n}", started_at=1000.0 + n, client_api="responses", path="/v1/responses",
                                client_model="arch.codex.default", stream=True, status=200, latency_ms=100.0,
                                provider="openai/gpt-5.3-codex", upstream_model="gpt-5.3-codex", session_id="s1",
                                alias="arch.codex.default", alias_target="gpt-5.3-codex", via="alias",
                                usage=Usage(1000 * n, 800 * n, 10), agent="codex_exec")
    return RequestRecord(**(base | kw))


def test_a_turn_that_changed_model_midway_is_flagged_with_why() -> None:
    log = SessionLog(clock=lambda: 50.0)
    log(RequestFinished(rec(1, user_turn=True, tool_calls=("exec_command",))))
    log(RequestFinished(rec(2, user_turn=False, provider="anthropic/claude-sonnet-4-5",
                            upstream_model="claude-sonnet-4-5", via="fallback", tool_calls=("apply_patch",))))
    log(RequestFinished(rec(3, user_turn=False, provider="anthropic/claude-sonnet-4-5",
                            upstream_model="claude-sonnet-4-5", alias_target="claude-sonnet-4-5")))
    log(RequestFailed(rec(4, user_turn=True, status=502, error="all providers failed", usage=Usage())))
    (t1, t2) = log.turns("s1")
    assert [s.tools for s in t1.steps] == [("exec_command",), ("apply_patch",), ()]
    assert t1.models == ("openai/gpt-5.3-codex", "anthropic/claude-sonnet-4-5") and t1.switch == "fallback"
    assert [s.switch for s in t1.steps] == [None, "fallback", None]
    assert t2.switch is None and t2.steps[0].note == "all providers failed"
    assert log.context_of("s1") == 3000  # the last request with usage: the context now
    rows = turn_rows(log.turns("s1"))
    assert str(rows[2][0]).startswith("#1") and str(rows[2][-1]) == "⚠ fallback"
    assert rows[4][5] == "apply_patch" and str(rows[4][-1]) == "↳ fallback"


def test_records_fold_in_batches_yet_every_read_sees_them() -> None:
    """The log queues records and folds them in batches: the handler's context read and the dashboard's
    version move with each record, every other read folds first, and the least recently used session
    leaves both the log and the context map."""
    t = [50.0]
    log = SessionLog(clock=lambda: t[0], max_sessions=2)
    v = log.version
    log(RequestFinished(rec(1, user_turn=True)))
    assert log.version > v and log.context_of("s1") == 1000  # before any fold
    t[0] = 60.0
    log(RequestFinished(rec(2, user_turn=False)))
    (turn,) = log.turns("s1")  # folded: one turn, both steps, each at its own arrival time
    assert [s.request_id for s in turn.steps] == ["r1", "r2"] and next(iter(log.live())).last_used == 60.0
    for n in range(3, 200):
        log(RequestFinished(rec(n, session_id=f"x{n % 2}", user_turn=True)))
    assert len(log._pending) < 64  # folded as they come, not only when read
    assert len(log) == 2 and log.context_of("s1") == 0  # s1 was the least recently used: gone everywhere
    assert log.context_of("x1") == 199_000 and len(log.turns("x1")) == 99


# ----------------------------------------------------------------------------- through the proxy
async def test_recorded_codex_runs_become_turns_with_their_tool_loops(upstream, make_proxy) -> None:
    server = await make_proxy(make_config(upstream.url))
    prices = server.state.prices
    await eventually(lambda: prices.builtin.ready or prices.builtin.error is not None)  # windows settled
    assert await replay(server, upstream, "par") == [200, 200]
    assert await replay(server, upstream, "resume") == [200, 200, 200]
    await _settle(server, 5)
    par_id = codex_run("par")[0]["headers"]["session-id"]
    (turn,) = server.state.turns.turns(par_id)
    assert turn.turn_id == "01a21f1f-94a3-7823-96db-6b455a9e0227"
    assert [s.tools for s in turn.steps] == [("exec_command", "exec_command"), ()]  # the parallel calls
    assert {s.model for s in turn.steps} == {"openai/gpt-5.3-codex"} and turn.switch is None
    resume_id = codex_run("resume")[0]["headers"]["session-id"]
    t1, t2 = server.state.turns.turns(resume_id)  # `codex exec resume`: a second turn id, same session
    assert (len(t1.steps), len(t2.steps)) == (2, 1) and t2.turn_id == "01a21f1e-52fa-7601-aacf-028b06111271"
    _, rows = _rows(server)
    row = next(r for r in rows if r.session_id == resume_id)
    assert (row.client, row.turns, row.requests, row.context_tokens) == ("codex", 2, 3, 22_000)
    provider = next(p for p in server.state.config.providers if p.name.endswith("gpt-5.3-codex"))
    assert row.context_window == server.state.windows.window(provider, "gpt-5.3-codex") and not row.amber
    assert row.cache_ratio == pytest.approx(45_000 / 63_000)
    assert row.models == ("openai/gpt-5.3-codex",)


def _rows(server: Any) -> tuple[int, list[Any]]:
    from proxy.local_link import LocalLink

    return LocalLink(server.state).sessions()


async def _settle(server: Any, n: int) -> None:
    import asyncio

    for _ in range(500):  # the terminal event is published in the handler's finally, after the client's read
        if server.state.turns.version >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("records did not arrive")


SMALL_ALIAS = """\
  - model: openai/gpt-4o
    access_key: $OPENAI_API_KEY
    base_url: {url}/v1
"""


async def test_a_retarget_never_sends_a_conversation_to_a_smaller_window(upstream, make_proxy) -> None:
    from .conftest import proxy_config_yaml

    yaml = proxy_config_yaml(upstream.url).replace("model_aliases:", SMALL_ALIAS.format(url=upstream.url)
                                                   + "model_aliases:", 1)
    from proxy.config import parse_config

    from .conftest import FAKE_KEYS

    server = await make_proxy(parse_config(yaml, "test-config.yaml", FAKE_KEYS))
    first = codex_run("exec_ww")
    upstream.script("/responses", answer("gpt-5.3-codex", calls_after_last_user(first[1]["body"]), 150_000))
    async with aiohttp.ClientSession() as s:
        async with s.post(server.url + "/v1/responses", headers=first[0]["headers"],
                          data=orjson.dumps(dict(first[0]["body"], model="arch.codex.default"))) as resp:
            await resp.read()
        await _settle(server, 1)
        sid = first[0]["headers"]["session-id"]
        from proxy.local_link import LocalLink

        describe = LocalLink(server.state).switch_preview("arch.codex.default")
        assert describe is not None
        assert "1 session would not fit" in describe("gpt-4o") and "fit" not in describe("gpt-5.3-codex")
        server.state.set_alias("arch.codex.default", "gpt-4o")  # 128k < the 151k conversation
        async with s.post(server.url + "/v1/responses", headers=first[1]["headers"],
                          data=orjson.dumps(dict(first[1]["body"], model="arch.codex.default"))) as resp:
            err = await resp.json()
            assert resp.status == 400
    assert err["error"]["code"] == "context_length_exceeded"  # Codex's own "ran out of room" code
    assert "openai/gpt-4o skipped (alias): window 128,000 < context 150,000 tokens" in err["error"]["message"]
    assert len([c for c in upstream.requests if c.path.endswith("/responses")]) == 1  # never sent
    _, rows = _rows(server)
    assert next(r for r in rows if r.session_id == sid).note is not None


# ----------------------------------------------------------------------------- the screens
async def test_sessions_screen_opens_a_sessions_turns(upstream, make_proxy) -> None:
    server = await make_proxy(make_config(upstream.url))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        win = await settled_window(pilot, server, "gpt-5.3-codex")
        context = int(win * 0.85)  # the replay's answer adds 1,000 tokens to what was sent
        assert await replay(server, upstream, "exec_ww", input_tokens=context - 1000) == [200, 200]
        await until(pilot, finished(server, 2))
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1)
        row = app.screen.rows[0]
        assert row.amber and row.context_tokens == context  # 85 % of the model's window: amber
        c = cells(row)
        assert c[1] == "codex" and c[3] == "1" and c[4] == "2" and "85%" in str(c[5]) and meter(0.85) in str(c[5])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TurnsScreen))
        turns_table = app.screen.query_one(DataTable)
        await until(pilot, lambda: turns_table.row_count == 3)  # the turn, then its two requests
        assert [str(x) for x in turns_table.get_row_at(1)][5] == "exec_command"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        await pilot.press("s")  # the footer's switch back to the requests
        await until(pilot, lambda: not isinstance(app.screen, SessionsScreen | TurnsScreen))


async def test_attached_dashboard_reads_sessions_and_turns_from_the_admin_api(upstream, make_proxy) -> None:
    from plano_tui.remote_link import RemoteLink
    from proxy.state import ProxyOptions

    from .test_attach import attached_app

    server = await make_proxy(make_config(upstream.url), ProxyOptions(admin_token="t0k"))
    async with aiohttp.ClientSession() as s, s.get(server.url + "/admin/sessions") as resp:
        assert resp.status == 401  # behind --admin-token like every /admin route
    link = await RemoteLink(server.url, token="t0k", retry_s=0.05).start()
    try:
        app = attached_app(link)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: link.connected)
            win = await settled_window(pilot, server, "gpt-5.3-codex")
            assert await replay(server, upstream, "exec_ww") == [200, 200]
            await until(pilot, finished(server, 2))
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, SessionsScreen))
            await until(pilot, lambda: app.screen.query_one(DataTable).row_count == 1)
            row = app.screen.rows[0]
            assert (row.client, row.turns, row.requests, row.context_window) == ("codex", 1, 2, win)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TurnsScreen))
            await until(pilot, lambda: app.screen.query_one(DataTable).row_count == 3)
            (turn,) = app.screen.turns
            assert [s.tools for s in turn.steps] == [("exec_command",), ()]
    finally:
        await link.close()


async def test_the_palette_opens_the_highlighted_requests_session(upstream, make_proxy) -> None:
    server = await make_proxy(make_config(upstream.url))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Sessions", "Session of this request"} <= set(titles)
        assert await replay(server, upstream, "exec_ww") == [200, 200]
        await until(pilot, lambda: len(app.store) == 2 and app.request_log.current is not None)
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, TurnsScreen))
        await until(pilot, lambda: app.screen.query_one(DataTable).row_count == 3)


async def test_an_attached_alias_picker_warns_which_sessions_would_not_fit(upstream, make_proxy) -> None:
    """The window warning of the alias picker, in a dashboard attached over the admin API: the picker
    opens at once and the proxy's previews for every choice arrive after it (switch_previews)."""
    from plano_tui.dashboard.screens.alias_picker import AliasPicker
    from plano_tui.remote_link import RemoteLink
    from proxy.config import parse_config

    from .conftest import FAKE_KEYS, proxy_config_yaml
    from .test_attach import attached_app

    yaml = proxy_config_yaml(upstream.url).replace("model_aliases:", SMALL_ALIAS.format(url=upstream.url)
                                                   + "model_aliases:", 1)
    server = await make_proxy(parse_config(yaml, "test-config.yaml", FAKE_KEYS))
    first = codex_run("exec_ww")
    upstream.script("/responses", answer("gpt-5.3-codex", calls_after_last_user(first[1]["body"]), 150_000))
    async with aiohttp.ClientSession() as s, s.post(
            server.url + "/v1/responses", headers=first[0]["headers"],
            data=orjson.dumps(dict(first[0]["body"], model="arch.codex.default"))) as resp:
        await resp.read()
    await _settle(server, 1)
    link = await RemoteLink(server.url, retry_s=0.05).start()
    try:
        previews = await link.switch_previews("arch.codex.default", ["gpt-4o", "gpt-5.3-codex"])
        assert "1 session would not fit" in previews["gpt-4o"] and "fit" not in previews.get("gpt-5.3-codex", "")
        app = attached_app(link)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: link.connected)
            await pilot.press("t")  # the highlighted alias: arch.codex.default
            await until(pilot, lambda: isinstance(app.screen, AliasPicker))
            picker = app.screen
            assert isinstance(picker, AliasPicker)
            # The choices are spelled as configured ("openai/gpt-4o").
            await until(pilot, lambda: "would not fit" in (picker.preview or str)("openai/gpt-4o"))
            options = picker.query_one("#picker-options")
            labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
            assert any("gpt-4o" in label and "would not fit" in label for label in labels)
    finally:
        await link.close()


async def test_a_conversation_not_seen_yet_is_kept_off_a_window_too_small_by_its_size(upstream, make_proxy) -> None:
    """No answer has reported this conversation's tokens yet (a resumed Codex session after a proxy
    restart): its size is guessed from the body (4 bytes a token). The guess moves it past a candidate
    whose window cannot hold it when another can; it never refuses: with one candidate the provider
    judges."""
    from proxy.config import parse_config

    from .conftest import FAKE_KEYS, proxy_config_yaml

    yaml = proxy_config_yaml(upstream.url).replace("model_aliases:", SMALL_ALIAS.format(url=upstream.url)
                                                   + "model_aliases:\n  arch.small: {target: gpt-4o, fallbacks: "
                                                   "[gpt-5.3-codex]}", 1)
    server = await make_proxy(parse_config(yaml, "test-config.yaml", FAKE_KEYS))
    got: list[RequestRecord] = []
    server.state.bus.subscribe(lambda e: got.append(e.record), (RequestFinished, RequestFailed))
    words = " ".join(f"line {i} of the conversation so far" for i in range(24_000))  # ~0.9 MB: ~220k tokens
    body = {"input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": words}]}]}
    async with aiohttp.ClientSession() as s:
        async with s.post(server.url + "/v1/responses", json=dict(body, model="arch.small")) as resp:
            assert resp.status == 200
        sent = [c for c in upstream.requests if c.path.endswith("/responses")]
        assert [c.json["model"] for c in sent] == ["gpt-5.3-codex"]  # gpt-4o (128k) was passed over
        await eventually(lambda: got)
        assert any("openai/gpt-4o skipped" in n and "estimated" in n for n in got[-1].notes)
        server.state.set_alias("arch.codex.default", "gpt-4o")  # one candidate: sent, the provider judges
        async with s.post(server.url + "/v1/responses", json=dict(body, model="arch.codex.default")) as resp:
            assert resp.status == 200
        sent = [c for c in upstream.requests if c.path.endswith("/responses")]
        assert sent[-1].json["model"] == "gpt-4o"
