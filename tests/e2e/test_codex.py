"""The real Codex CLI (`codex exec --json`) through `planoai cli-agent codex` and the real proxy.

Each test starts `planoai tui --no-ui` on a free port, points `arch.codex.default` at one upstream
API on a loopback fake, runs Codex through the launcher and checks what the upstream received, what
Codex did in its workspace, and the MODEL_RESOLUTION lines the proxy printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes import Script, chat_events, messages_events, responses_events

from . import wire
from .conftest import ProxyStarter
from .harness import AgentRun, E2EUpstream, ProxyProcess, run_launcher

pytestmark = pytest.mark.e2e

CODEX_EXEC = [
    "exec", "--skip-git-repo-check", "--json", "--sandbox", "workspace-write",
    "--disable", "plugins", "--disable", "remote_plugin", "--disable", "apps", "-c", "analytics.enabled=false",
    # Fail fast: no HTTP or stream retries (merged into the launcher's provider table).
    "-c", "model_providers.plano.request_max_retries=0", "-c", "model_providers.plano.stream_max_retries=0",
]
FINAL = "E2E final answer: all done."


async def run_codex(proxy: ProxyProcess, tmp_path: Path, codex_bin: str, prompt: str,
                    settings: str | None = None) -> tuple[AgentRun, Path]:
    ws = tmp_path / "workspace"
    ws.mkdir(exist_ok=True)
    run = await run_launcher("codex", proxy, [*CODEX_EXEC, "-C", str(ws), prompt], codex_env(tmp_path, codex_bin),
                             cwd=ws, settings=settings)
    return run, ws


def codex_env(tmp_path: Path, codex_bin: str) -> dict[str, str]:
    """A private CODEX_HOME and HOME under `tmp_path` (the same ones on every call: `exec resume` finds the
    session `run_codex` recorded)."""
    for d in (tmp_path / "codex_home", tmp_path / "home"):
        d.mkdir(exist_ok=True)
    return {"CODEX_HOME": str(tmp_path / "codex_home"), "HOME": str(tmp_path / "home"), "PLANOAI_CODEX_BIN": codex_bin,
            "OPENAI_API_KEY": ""}


def metadata_warnings(run: AgentRun) -> list[str]:
    return [i.get("message", "") for i in run.items("error") if "metadata" in i.get("message", "").lower()]


def thread_id(run: AgentRun) -> str:
    return next(e["thread_id"] for e in run.events() if e.get("type") == "thread.started")


async def test_codex_answer_through_responses_upstream(start_proxy: ProxyStarter, e2e_upstream: E2EUpstream,
                                                       tmp_path: Path, codex_bin: str) -> None:
    """Test 1: arch.codex.default → an OpenAI-Responses upstream; Codex's request arrives intact."""
    proxy = await start_proxy(codex_target="gpt-5.3-codex")
    e2e_upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex", "E2E-ANSWER-RESPONSES")))
    run, _ = await run_codex(proxy, tmp_path, codex_bin, "say hi")
    assert run.returncode == 0, run.describe()
    assert run.agent_messages() == ["E2E-ANSWER-RESPONSES"], run.describe()
    assert metadata_warnings(run) == [], "Codex did not take the proxy's model catalog"
    assert "-m arch.codex.default" in run.stderr  # the launcher's banner

    [body] = e2e_upstream.bodies("/responses")
    assert body["model"] == "gpt-5.3-codex"  # the alias was resolved, nothing else rewritten
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}  # from the catalog entry
    assert body["prompt_cache_key"] == thread_id(run)
    assert body["store"] is False and body["include"] == ["reasoning.encrypted_content"]
    kinds = {(t.get("type"), t.get("name")) for t in body["tools"]}
    assert ("custom", "apply_patch") in kinds and ("function", "exec_command") in kinds
    assert [c.path for c in e2e_upstream.requests if c.method == "GET"] == []  # catalog served by the proxy

    assert proxy.resolutions() == [("arch.codex.default", "gpt-5.3-codex", "openai/gpt-5.3-codex")]


def _responses_loop() -> list[Any]:
    return [Script(frames=wire.responses_exec_call()), Script(frames=wire.responses_patch_call()),
            Script(frames=responses_events("gpt-5.3-codex", FINAL))]


def _messages_loop() -> list[Any]:
    return [wire.messages_exec_call(), wire.messages_patch_call(),
            Script(frames=messages_events("claude-sonnet-4-5", FINAL))]


def _chat_loop() -> list[Any]:
    return [wire.chat_exec_call(), wire.chat_patch_call(), Script(frames=chat_events("llama3.1", FINAL))]


UPSTREAMS = {
    # kind: (alias target, upstream path suffix, provider name, scripted answers)
    "responses": ("gpt-5.3-codex", "/responses", "openai/gpt-5.3-codex", _responses_loop),
    "messages": ("claude-sonnet-4-5", "/messages", "anthropic/claude-sonnet-4-5", _messages_loop),
    "chat": ("llama3.1", "/chat/completions", "ollama/llama3.1", _chat_loop),
}


@pytest.mark.parametrize("kind", list(UPSTREAMS))
async def test_codex_tool_loop(kind: str, start_proxy: ProxyStarter, e2e_upstream: E2EUpstream, tmp_path: Path,
                               codex_bin: str) -> None:
    """Tests 2 and 3: exec_command and apply_patch round trips, then a final answer, per upstream API."""
    target, suffix, provider, answers = UPSTREAMS[kind]
    proxy = await start_proxy(codex_target=target)
    e2e_upstream.script(suffix, *answers())
    run, ws = await run_codex(proxy, tmp_path, codex_bin, "run the echo, then create hello.txt")
    assert run.returncode == 0, run.describe()
    assert metadata_warnings(run) == []

    # exec_command ran in the workspace and its output reached the upstream
    commands = run.items("command_execution")
    assert commands and "hi-from-e2e" in commands[0].get("aggregated_output", ""), run.describe()
    bodies = e2e_upstream.bodies(suffix)
    assert len(bodies) == 3, [list(b) for b in bodies]
    assert any(wire.EXEC_OUTPUT in out for _, out in wire.tool_results(bodies[1])), wire.tool_results(bodies[1])
    # apply_patch (a freeform custom tool) was applied by Codex to the workspace
    assert (ws / wire.PATCH_FILE).read_text() == wire.PATCH_TEXT + "\n", run.describe()
    assert len(wire.tool_results(bodies[2])) == 2
    assert run.agent_messages()[-1] == FINAL, run.describe()
    if kind == "responses":  # passthrough: Codex's own fields arrive untouched on every request
        assert all(b["reasoning"] == {"effort": "medium", "summary": "auto"} for b in bodies)
        assert len({b["prompt_cache_key"] for b in bodies}) == 1
        assert [i["type"] for i in bodies[2]["input"][-4:]] == [
            "function_call", "function_call_output", "custom_tool_call", "custom_tool_call_output"]

    # Routing visibility: one MODEL_RESOLUTION line per request, naming the alias and its target
    assert proxy.resolutions() == [("arch.codex.default", target, provider)] * 3, proxy.resolution_lines()


async def test_codex_model_from_settings(start_proxy: ProxyStarter, e2e_upstream: E2EUpstream, tmp_path: Path,
                                         codex_bin: str) -> None:
    """`--settings '{"CODEX_MODEL": …}'` picks the model; the catalog knows concrete models too."""
    proxy = await start_proxy()
    e2e_upstream.script("/messages", Script(frames=messages_events("claude-sonnet-4-5", "E2E-SETTINGS")))
    run, _ = await run_codex(proxy, tmp_path, codex_bin, "hi",
                             settings='{"CODEX_MODEL": "anthropic/claude-sonnet-4-5"}')
    assert run.returncode == 0, run.describe()
    assert run.agent_messages() == ["E2E-SETTINGS"]
    assert metadata_warnings(run) == []
    assert proxy.resolutions() == [("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5", "anthropic/claude-sonnet-4-5")]
