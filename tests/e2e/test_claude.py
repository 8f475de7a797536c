"""The real Claude Code (`claude -p`) through `planoai cli-agent claude` and the real proxy.

Claude Code speaks `/v1/messages`; the alias `arch.claude` points at an Anthropic upstream (raw
passthrough) or at a Chat-Completions upstream (the messages→chat translator). A scripted `Bash` tool
call round-trips: Claude Code runs it and sends the output back as a `tool_result`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes import Script, chat_events, messages_events

from . import wire
from .conftest import ProxyStarter
from .harness import AgentRun, E2EUpstream, ProxyProcess, run_launcher

pytestmark = pytest.mark.e2e

FINAL = "E2E claude final answer."
BASH_INPUT = {"command": "echo hi-from-e2e", "description": "Print a greeting"}


async def run_claude(proxy: ProxyProcess, tmp_path: Path, claude_bin: str, args: list[str],
                     settings: str | None = None) -> AgentRun:
    ws, home = tmp_path / "workspace", tmp_path / "home"
    ws.mkdir(exist_ok=True)
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"), "PLANOAI_CLAUDE_BIN": claude_bin,
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    return await run_launcher("claude", proxy, ["-p", "run echo hi-from-e2e", "--allowedTools", "Bash", *args], env,
                              cwd=ws, settings=settings)


async def test_claude_through_anthropic_upstream(start_proxy: ProxyStarter, e2e_upstream: E2EUpstream,
                                                 tmp_path: Path, claude_bin: str) -> None:
    proxy = await start_proxy(claude_target="claude-sonnet-4-5")
    e2e_upstream.script("/messages",
                        Script(frames=messages_events("claude-sonnet-4-5", "", tool_use={
                            "id": "toolu_e2e", "name": "Bash", "input": BASH_INPUT})),
                        Script(frames=messages_events("claude-sonnet-4-5", FINAL)))
    run = await run_claude(proxy, tmp_path, claude_bin, [], settings='{"model": "arch.claude"}')
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == FINAL, run.describe()

    first, second = e2e_upstream.bodies("/messages")
    assert first["model"] == "claude-sonnet-4-5" and first["stream"] is True
    assert first["thinking"] == {"type": "adaptive"}  # passthrough: Claude Code's own fields intact
    assert second["messages"][-2]["content"][-1]["type"] == "tool_use"
    assert ("toolu_e2e", wire.EXEC_OUTPUT) in wire.tool_results(second)
    captured = e2e_upstream.last("/messages")
    assert captured.headers.get("x-api-key") == "sk-ant-e2e-anthropic"  # the proxy's key, not the client's token
    assert proxy.resolutions() == [("arch.claude", "claude-sonnet-4-5", "anthropic/claude-sonnet-4-5")] * 2


async def test_claude_through_chat_upstream(start_proxy: ProxyStarter, e2e_upstream: E2EUpstream,
                                            tmp_path: Path, claude_bin: str) -> None:
    proxy = await start_proxy(claude_target="llama3.1")
    e2e_upstream.script("/chat/completions",
                        Script(frames=chat_events("llama3.1", "", tool_calls=[
                            {"id": "call_e2e", "name": "Bash", "arguments": json.dumps(BASH_INPUT)}])),
                        Script(frames=chat_events("llama3.1", FINAL)))
    run = await run_claude(proxy, tmp_path, claude_bin, ["--model", "arch.claude"])
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == FINAL, run.describe()

    first, second = e2e_upstream.bodies("/chat/completions")
    assert first["model"] == "llama3.1"
    assert first["messages"][0]["role"] == "system"  # Claude Code's system blocks (and its role:system message)
    assert sum(m["role"] == "system" for m in first["messages"]) == 1
    assert any(t["function"]["name"] == "Bash" for t in first["tools"])
    assert ("call_e2e", wire.EXEC_OUTPUT) in wire.tool_results(second)
    assert proxy.resolutions() == [("arch.claude", "llama3.1", "ollama/llama3.1")] * 2
