"""Sessions with the real Codex CLI: a tool loop through `planoai tui --no-ui` with `prompt_caching`
on is one session, keyed by Codex's own session header, and the decision endpoint (a separate path into
the same store) finds it warm."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from .harness import E2EUpstream, ProxyProcess, write_config
from .test_codex import FINAL, _responses_loop, run_codex

pytestmark = pytest.mark.e2e


async def test_codex_tool_loop_is_one_warm_session(e2e_upstream: E2EUpstream, tmp_path: Path, codex_bin: str) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    cfg = write_config(conf, e2e_upstream.url, "gpt-5.3-codex", extra="prompt_caching:\n  enabled: true\n")
    proxy = await ProxyProcess(cfg).start()
    try:
        e2e_upstream.script("/responses", *_responses_loop())
        run, _ = await run_codex(proxy, tmp_path, codex_bin, "run the echo, then create hello.txt")
        assert run.returncode == 0 and run.agent_messages()[-1] == FINAL, run.describe()
        last = e2e_upstream.last("/responses")
        headers = {k.lower(): v for k, v in last.headers.items()}
        session = headers["session-id"]  # Codex's own session header, relayed upstream untouched
        body = dict(last.json, model="arch.codex.default")
        async with aiohttp.ClientSession() as s, s.post(
            proxy.url + "/routing/v1/responses", json=body, headers={"session-id": session}
        ) as r:
            decision = await r.json()
        assert r.status == 200, decision
        # the three requests of the run bound the session; the decision endpoint sees it warm
        assert decision["session_id"] == session and decision["pinned"] is True, decision
        assert decision["models"] == ["openai/gpt-5.3-codex"]
    finally:
        await proxy.stop()
