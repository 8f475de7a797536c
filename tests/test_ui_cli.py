"""`planoai tui --demo`: the simulated providers, and the whole CLI in a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import pytest

from plano_tui.demo import start_demo
from plano_tui.upstream_sim import NOT_A_CHAT_MODEL, refusal
from proxy.events import Event, RequestFailed, RequestFinished, RequestRecord
from proxy.server import ProxyServer
from proxy.state import ProxyState

from .conftest import eventually

pytestmark = pytest.mark.slow  # `planoai tui` in a pseudo-terminal: scheduled first (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[1]


async def test_demo_drives_real_traffic_through_the_proxy() -> None:
    demo = await start_demo(seed=7, rate=40)
    state = ProxyState(demo.config)
    seen: list[RequestRecord] = []

    def collect(e: Event) -> None:
        if isinstance(e, RequestFinished | RequestFailed):
            seen.append(e.record)

    state.bus.subscribe(collect)
    server = ProxyServer(state, port=0)
    await server.start()
    try:
        assert [p.key_status for p in demo.config.providers] == ["ok", "ok", "ok", "none", "missing"]
        assert {a.name for a in demo.config.aliases} >= {"arch.codex.default", "arch.claude", "arch.local"}
        demo.start_traffic(server.url)
        await eventually(lambda: len({r.provider for r in seen if r.ok}) >= 3 and
                         {r.client_api for r in seen if r.ok} >= {"responses", "messages", "chat"} and
                         any(r.ok and not r.stream for r in seen), timeout=20)
    finally:
        await server.stop(drain_s=0)
        await demo.stop()
    ok = [r for r in seen if r.ok]
    assert {r.client_api for r in ok} >= {"responses", "messages", "chat"}
    assert all(r.usage.input_tokens and r.usage.output_tokens for r in ok)
    assert all(r.ttft_ms is not None and r.ttft_ms < r.latency_ms + 1 for r in ok if r.stream)
    assert all(r.alias_target for r in ok if r.client_model.startswith("arch."))


def test_planoai_tui_demo_runs_in_a_terminal_and_stops_on_sigterm() -> None:
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40", "PYTHONPATH": str(ROOT)}
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "XAI_API_KEY"):
        env.pop(var, None)  # the demo needs no keys
    pid, fd = pty.fork()
    if pid == 0:  # child: the real CLI, in a terminal
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "plano_tui.cli", "tui", "--demo", "--port", "0",
                                   "--drain", "0.2"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    out = b""
    try:
        deadline = time.monotonic() + 60
        while b"DEMO" not in out or b"arch.codex.default" not in out:
            assert time.monotonic() < deadline, f"dashboard did not draw: {out[-500:]!r}"
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    pass
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        assert status is not None and os.WIFEXITED(status), "planoai did not exit after SIGTERM"
        assert os.WEXITSTATUS(status) == 0, out[-2000:]
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


async def test_demo_codex_sessions_are_tool_loops_and_fakes_refuse_orphan_tool_outputs() -> None:
    demo = await start_demo(seed=3, rate=40)
    state = ProxyState(demo.config)
    seen: list[RequestRecord] = []
    state.bus.subscribe(lambda e: seen.append(e.record) if isinstance(e, RequestFinished | RequestFailed) else None)
    server = ProxyServer(state, port=0)
    await server.start()

    def loops() -> dict[str, list[RequestRecord]]:
        turns: dict[str, list[RequestRecord]] = {}
        for r in seen:
            if r.turn_id and r.ok:
                turns.setdefault(r.turn_id, []).append(r)
        return {t: rs for t, rs in turns.items() if len(rs) > 1 and rs[-1].tool_calls == ()}

    try:
        demo.start_traffic(server.url)
        await eventually(lambda: len(loops()) >= 2, timeout=30)
    finally:
        await server.stop(drain_s=0)
        await demo.stop()
    for rs in loops().values():
        assert all(r.tool_calls for r in rs[:-1])  # every step but the answer called a tool
        assert {n for r in rs for n in r.tool_calls} <= {"exec_command", "apply_patch"}
        assert len({r.session_id for r in rs}) == 1 and rs[0].user_turn and not rs[1].user_turn
    # The demo's upstreams refuse what the real services refuse (plano_tui.upstream_sim, the tests' rules too).
    orphan = {"model": "m", "input": [{"type": "function_call_output", "call_id": "c1", "output": "x"}]}
    refused = refusal("/v1/responses", orphan)
    assert refused is not None and refused[0] == 400
    assert refused[1]["error"]["message"] == "No tool call found for function call output with call_id c1."
    paired = {"model": "m", "input": [{"type": "function_call", "call_id": "c1", "name": "exec_command",
                                       "arguments": "{}"}, orphan["input"][0]]}
    assert refusal("/v1/responses", paired) is None
    assert refusal("/v1/messages", {"messages": [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]}]}) is not None
    assert refusal("/v1/chat/completions", {"messages": [{"role": "tool", "tool_call_id": "a"}]}) is not None
    assert refusal("/v1/chat/completions", {"model": "gpt-5.3-codex", "messages": []}) == (
        404, {"error": {"message": NOT_A_CHAT_MODEL, "type": "invalid_request_error", "param": "model", "code": None}})
