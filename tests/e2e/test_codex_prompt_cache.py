"""Prompt caching with the real Codex CLI on an Anthropic upstream (issue #14's proof): a Codex session —
a tool loop, then a resumed turn — through `planoai tui --no-ui` with `prompt_caching` on. The proxy
translates each Responses request to Messages and adds `cache_control` breakpoints; the loopback upstream
enforces Anthropic's breakpoint rules and models its prefix cache (tests/anthropic_cache.py). Request 1
writes the cache, every later request reads it, and the reads reach the proxy's records and Codex."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.anthropic_cache import AnthropicCacheUpstream, prompt_blocks
from tests.fakes import Script, messages_events

from . import wire
from .harness import AgentRun, E2EUpstream, ProxyProcess, run_launcher, write_config
from .test_codex import CODEX_EXEC, FINAL, codex_env, run_codex, thread_id

pytestmark = pytest.mark.e2e

CACHING = "prompt_caching:\n  enabled: true\n"
RESUMED = "E2E resumed answer: cached."
# `codex exec resume` takes neither --sandbox nor -C: the sandbox as config, the workspace from the session
RESUME_EXEC = ["exec", "resume", *(a for a in CODEX_EXEC[1:] if a not in ("--sandbox", "workspace-write")),
               "-c", 'sandbox_mode="workspace-write"']


class CacheE2EUpstream(E2EUpstream, AnthropicCacheUpstream):
    """The harness's scriptable upstream (request-built `Dyn` answers) whose Messages endpoint validates
    breakpoints and reports the modelled cache usage, scripted answers included."""


def turn_usages(run: AgentRun) -> list[dict[str, Any]]:
    """Codex's own token accounting: the usage of each `turn.completed` event of `codex exec --json`."""
    return [e["usage"] for e in run.events() if e.get("type") == "turn.completed"]


async def test_codex_session_on_anthropic_reads_the_cache_from_turn_two(tmp_path: Path, codex_bin: str) -> None:
    upstream = CacheE2EUpstream()
    await upstream.start()
    conf = tmp_path / "conf"
    conf.mkdir()
    log = tmp_path / "requests.jsonl"
    proxy = ProxyProcess(write_config(conf, upstream.url, "claude-sonnet-4-5", extra=CACHING),
                         args=("--log-json", str(log)))
    try:
        await proxy.start()
        # Turn 1, one Codex run: the model calls exec_command, Codex runs it and sends the result, the model answers
        upstream.script("/messages", wire.messages_exec_call(),
                        Script(frames=messages_events("claude-sonnet-4-5", FINAL)))
        run, ws = await run_codex(proxy, tmp_path, codex_bin, "run the echo")
        assert run.returncode == 0 and run.agent_messages()[-1] == FINAL, run.describe()
        commands = run.items("command_execution")
        assert commands and wire.EXEC_OUTPUT in commands[0].get("aggregated_output", ""), run.describe()

        # Turn 2: `codex exec resume` of the same session, a new user message on the whole history
        upstream.script("/messages", Script(frames=messages_events("claude-sonnet-4-5", RESUMED)))
        resumed = await run_launcher("codex", proxy, [*RESUME_EXEC, thread_id(run), "and once more"],
                                     codex_env(tmp_path, codex_bin), cwd=ws)
        assert resumed.returncode == 0 and resumed.agent_messages() == [RESUMED], resumed.describe()
        assert thread_id(resumed) == thread_id(run)

        # On the wire: valid breakpoints on every request, the first writes the cache, the rest read it
        bodies = upstream.bodies("/messages")
        assert len(bodies) == 3, [list(b) for b in bodies]
        assert wire.tool_results(bodies[1]) and wire.EXEC_OUTPUT in wire.tool_results(bodies[1])[0][1]
        assert upstream.rejected == []
        for body in bodies:  # the translation marks the system prompt and the newest block: the growing prefix
            marks = [marked for _, marked in prompt_blocks(body)]
            assert 1 <= sum(marks) <= 4 and marks[-1], marks
        first, *later = upstream.usages
        assert first["cache_read_input_tokens"] == 0 and first["cache_creation_input_tokens"] >= 1024, first
        assert all(u["cache_read_input_tokens"] > 0 for u in later), upstream.usages
        # each request reads at least the prefix the one before it had cached (the history only grows)
        cached = [u["cache_read_input_tokens"] + u["cache_creation_input_tokens"] for u in upstream.usages]
        assert all(later[i]["cache_read_input_tokens"] >= cached[i] for i in range(len(later))), upstream.usages

        # The proxy's own records (--log-json): each request's cached tokens are the upstream's cache reads
        records = [orjson.loads(line) for line in log.read_bytes().splitlines()]
        assert [(r["client_api"], r["upstream_api"], r["status"]) for r in records] == [
            ("responses", "messages", 200)] * 3, records
        assert [r["cached_tokens"] for r in records] == [u["cache_read_input_tokens"] for u in upstream.usages]
        assert all(r["provider"] == "anthropic/claude-sonnet-4-5" for r in records), records
        async with aiohttp.ClientSession() as s, s.get(proxy.url + "/admin/stats") as resp:
            stats = await resp.json()
        assert stats["requests"] == 3 and stats["errors"] == 0, stats

        # And Codex itself was told: its usage (the thread's running total, restored on resume) counts the reads
        reads = [u["cache_read_input_tokens"] for u in upstream.usages]
        assert [u.get("cached_input_tokens") for u in turn_usages(run)] == [sum(reads[:2])], run.describe()
        assert [u.get("cached_input_tokens") for u in turn_usages(resumed)] == [sum(reads)], resumed.describe()
        # and the write of request 1, as Codex's cache_write_input_tokens (input_tokens_details.cache_write_tokens)
        writes = [u["cache_creation_input_tokens"] for u in upstream.usages]
        assert [r["cache_write_tokens"] for r in records] == writes
        assert [u.get("cache_write_input_tokens") for u in turn_usages(run)] == [sum(writes[:2])], run.describe()
    finally:
        await proxy.stop()
        await upstream.stop()
