"""Request forensics through the real proxy: the Checks tab's conclusions, the request diff, the timeline,
the exported exchange, and `planoai replay` routing it again against another config."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from plano_tui.dashboard import forensics
from plano_tui.dashboard.app import DashboardApp
from proxy.events import RequestFailed, RequestFinished, RequestRecord
from proxy.local_link import LocalLink

from .conftest import FAKE_KEYS, eventually, proxy_config_yaml
from .fakes import FakeUpstream, Script, messages_events, responses_events
from .test_translate_sdk import PATCH, TOOLS


def records(proxy) -> list[RequestRecord]:
    got: list[RequestRecord] = []
    proxy.state.bus.subscribe(lambda e: got.append(e.record) if isinstance(e, RequestFinished | RequestFailed)
                              else None)
    return got


CODEX_BODY = {"model": "arch.claude", "instructions": "You are Codex.", "stream": True, "tools": TOOLS,
              "reasoning": {"effort": "medium"}, "store": False,
              "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "patch it"}]}]}


async def codex_to_claude(proxy, upstream: FakeUpstream) -> RequestRecord:
    """A Codex request with apply_patch on an Anthropic upstream that answers with the patch tool."""
    recs = records(proxy)
    upstream.script("/messages", Script(frames=messages_events(
        "claude-sonnet-4-5", "Patching.", tool_use={"name": "apply_patch", "input": {"input": PATCH}})))
    headers = {"session-id": "019a-sess", "Authorization": "Bearer sk-secret-client"}
    async with aiohttp.ClientSession() as s, \
            s.post(proxy.url + "/v1/responses", data=orjson.dumps(CODEX_BODY), headers=headers) as r:
        assert r.status == 200
        await r.read()
    await eventually(lambda: recs)
    return recs[-1]


async def test_translated_codex_exchange_checks_diff_and_timeline(proxy, upstream: FakeUpstream) -> None:
    r = await codex_to_claude(proxy, upstream)
    got = {c.title: c for c in forensics.checks(r)}
    assert got["terminal event"].verdict == "ok"
    assert got["apply_patch"].verdict == "ok" and "custom tool call" in got["apply_patch"].detail
    assert got["usage"].verdict == "ok"
    assert got["changed on the way"].verdict == "warn" and "web_search" in got["changed on the way"].detail
    diff = forensics.request_diff(r)
    assert any(line.startswith("- input") for line in diff)  # Responses `input` became Messages `messages`
    assert any(line.startswith("+ messages") for line in diff)
    assert any("tools: 4 declared by the client, 3 sent upstream" in line for line in diff)
    phases = forensics.waterfall(r)
    names = [p[0] for p in phases]
    assert names[:2] == ["parse", "resolve + route"] and "connect + upstream wait (headers)" in names
    assert names[-2:] == ["first token to client", "stream to client"]
    assert abs(sum(p[2] for p in phases) - r.latency_ms) < 1e-6  # the phases tile the request
    assert all(abs(b[1] - (a[1] + a[2])) < 1e-9 for a, b in itertools.pairwise(phases))  # no gaps, no overlaps
    assert r.timing is not None and r.timing.translate_ms > 0  # Responses → Messages: translated both ways
    assert any(line.startswith("translation (within the above)") for line in forensics.waterfall_lines(r))


async def test_a_broken_apply_patch_and_a_cut_stream_are_flagged(proxy, upstream: FakeUpstream) -> None:
    recs = records(proxy)
    upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex"), cut_after=4))
    async with aiohttp.ClientSession() as s, s.post(proxy.url + "/v1/responses", json={
            "model": "arch.codex.default", "input": "x", "stream": True, "tools": TOOLS}) as r:
        await r.read()
    await eventually(lambda: recs)
    rec = recs[-1]
    got = {c.title: c for c in forensics.checks(rec)}
    assert got["answer"].verdict == "fail"
    # The proxy itself ends a cut stream with response.failed: the client still got a terminal event.
    assert got["terminal event"].verdict == "ok"
    assert forensics.request_diff(rec) == ["~ model  'arch.codex.default' → 'gpt-5.3-codex'"]  # passthrough
    # A response that called apply_patch as a function (what a lossy translator would produce) is a failure.
    lossy = RequestRecord(**{**rec.__dict__, "status": 200, "error": None,
                             "response_body": b'{"type":"function_call","name":"apply_patch","arguments":"{}"}'})
    assert {c.title: c for c in forensics.checks(lossy)}["apply_patch"].verdict == "fail"


@pytest.mark.slow  # `planoai` subprocesses: scheduled first (tests/conftest.py)
async def test_exchange_is_redacted_and_replays_against_another_config(
    proxy, upstream: FakeUpstream, tmp_path: Path
) -> None:
    r = await codex_to_claude(proxy, upstream)
    data = forensics.exchange(r)
    text = orjson.dumps(data)
    assert b"sk-secret-client" not in text and b"<redacted>" in text
    assert data["request"]["body"]["tools"] == TOOLS and data["upstream"]["body"]["model"] == "claude-sonnet-4-5"
    exported = tmp_path / "planoai-exchange.json"
    exported.write_bytes(text)

    same = tmp_path / "same.yaml"
    same.write_text(proxy_config_yaml(upstream.url))
    moved = tmp_path / "moved.yaml"
    moved.write_text(proxy_config_yaml(upstream.url).replace("target: claude-sonnet-4-5", "target: llama3.1"))
    junk = tmp_path / "junk.json"
    junk.write_text('{"format": "something else"}')

    async def replay(cfg: Path, *files: Path) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "plano_tui", "replay", *map(str, files), "--config", str(cfg),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, **FAKE_KEYS})
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, out.decode(), err.decode()

    rc, out, err = await replay(same, exported)
    assert rc == 0, err
    assert out.startswith("= planoai-exchange.json: responses request for arch.claude"), out
    assert "recorded: anthropic/claude-sonnet-4-5 (claude-sonnet-4-5)" in out
    rc, out, err = await replay(moved, exported, junk)
    assert rc == 1, err
    assert "≠ planoai-exchange.json" in out and "moved.yaml: ollama/llama3.1 (llama3.1)" in out
    assert "✗" in out and "not a planoai exchange" in out


async def test_dashboard_checks_tab_and_export_key(proxy, upstream: FakeUpstream, tmp_path: Path,
                                                   monkeypatch: Any) -> None:
    r = await codex_to_claude(proxy, upstream)
    monkeypatch.chdir(tmp_path)
    app = DashboardApp(LocalLink(proxy.state), url=proxy.url, config_path="./config.yaml", cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        app.ingest([RequestFinished(r)])
        await pilot.pause()
        await pilot.press("enter", "5")
        await pilot.pause()
        text = " ".join(str(w.content) for w in app.screen.query("Static"))
        assert "custom tool call" in text and "first token" in text and "tools: 4 declared" in text
        await pilot.press("x")
        await pilot.pause()
        exported = tmp_path / f"planoai-exchange-{r.request_id}.json"
        assert orjson.loads(exported.read_bytes())["request_id"] == r.request_id
