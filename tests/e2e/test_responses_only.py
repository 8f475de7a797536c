"""Every client reaches a Responses-only model: the real Claude Code and Codex CLI through
`planoai cli-agent`, against a fake that refuses what OpenAI refuses (plano_tui/upstream_sim.py
`refusal`): codex models answer 404 "not a chat model" on /chat/completions, gpt-4.1 refuses encrypted
reasoning and reasoning parameters, codex models refuse effort `none`.
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from tests.fakes import Script
from tests.translate_helpers import responses_stream

from . import wire
from .conftest import ProxyStarter
from .harness import Dyn, E2EUpstream
from .test_claude import BASH_INPUT, run_claude
from .test_codex import FINAL, metadata_warnings, run_codex

pytestmark = pytest.mark.e2e

CODEX = "gpt-5.3-codex"
GPT41 = "gpt-4.1-2025-04-14"


def gpt41_provider(url: str) -> str:
    return f"  - model: openai/{GPT41}\n    access_key: sk-e2e-openai\n    base_url: {url}/v1\n"


def bash(command: str, call_id: str, think: str | None = None) -> Script:
    segs: list = [("think", think)] if think else []
    segs.append(("tool", "Bash", json.dumps({**BASH_INPUT, "command": command}), call_id))
    return Script(frames=responses_stream(segs, model=CODEX))


def no_chat(upstream: E2EUpstream) -> None:
    assert not [c.path for c in upstream.requests if c.path.endswith("/chat/completions")]


async def test_claude_p_on_a_codex_model(start_proxy: ProxyStarter, e2e_upstream: E2EUpstream, tmp_path: Path,
                                         claude_bin: str) -> None:
    proxy = await start_proxy()
    e2e_upstream.script("/responses", bash("echo hi-from-e2e", "call_cc1"),
                        Script(frames=responses_stream([("text", "E2E claude final answer.")], model=CODEX)))
    run = await run_claude(proxy, tmp_path, claude_bin, ["--model", "arch.codex.default"])
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == "E2E claude final answer.", run.describe()
    first, second = e2e_upstream.bodies("/responses")
    assert first["model"] == CODEX and first["stream"] is True and first["store"] is False
    assert first["instructions"] and not [i for i in first["input"] if i.get("role") in ("system", "developer")]
    assert any(t["name"] == "Bash" for t in first["tools"])
    assert ("call_cc1", wire.EXEC_OUTPUT) in wire.tool_results(second)
    no_chat(e2e_upstream)
    assert proxy.resolutions() == [("arch.codex.default", CODEX, f"openai/{CODEX}")] * 2


def two_steps(upstream: E2EUpstream) -> None:
    """Three model turns: two Bash steps, each with reasoning, then the answer."""
    upstream.script("/responses",
                    bash("echo step-one", "call_s1", think="First step: print step-one."),
                    bash("echo step-two", "call_s2", think="Second step: print step-two."),
                    Script(frames=responses_stream([("text", "Both steps ran.")], model=CODEX)))


def assert_two_steps(bodies: list[dict]) -> None:
    assert len(bodies) == 3
    assert ("call_s1", "step-one") in wire.tool_results(bodies[1])
    assert [r for r in wire.tool_results(bodies[2]) if r[0] in ("call_s1", "call_s2")] == [
        ("call_s1", "step-one"), ("call_s2", "step-two")]
    assert [i["call_id"] for i in bodies[2]["input"] if i["type"] == "function_call"] == ["call_s1", "call_s2"]


async def test_claude_multi_step_bash_loop_on_a_codex_model(start_proxy: ProxyStarter, e2e_upstream: E2EUpstream,
                                                            tmp_path: Path, claude_bin: str) -> None:
    """Every step's reasoning item comes back to the upstream through Claude Code's thinking block and its
    signature (Claude Code keeps those only when the answer names the model it asked for)."""
    proxy = await start_proxy()
    two_steps(e2e_upstream)
    run = await run_claude(proxy, tmp_path, claude_bin, ["--model", "arch.codex.default"])
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == "Both steps ran.", run.describe()
    bodies = e2e_upstream.bodies("/responses")
    assert_two_steps(bodies)
    for n, body in ((1, bodies[1]), (2, bodies[2])):
        items = [i for i in body["input"] if i["type"] == "reasoning"]
        assert len(items) == n, body["input"]  # every earlier step's reasoning, restored
        assert all(i["encrypted_content"] == f"enc:{i['id']}" for i in items)
    assert [i["summary"][0]["text"] for i in items] == ["First step: print step-one.", "Second step: print step-two."]
    assert all(b["include"] == ["reasoning.encrypted_content"] for b in bodies)
    no_chat(e2e_upstream)
    assert proxy.resolutions() == [("arch.codex.default", CODEX, f"openai/{CODEX}")] * 3


async def test_codex_on_the_seed_gpt41_example(start_proxy: ProxyStarter, e2e_upstream: E2EUpstream,
                                               tmp_path: Path, codex_bin: str) -> None:
    """planoai cli-agent codex --settings='{"CODEX_MODEL":"openai/gpt-4.1-2025-04-14"}', with a tool call."""
    proxy = await start_proxy(extra_providers=gpt41_provider(e2e_upstream.url))
    e2e_upstream.script("/responses",
                        Script(frames=responses_stream([("tool", "exec_command", wire.EXEC_ARGS, "call_exec_e2e")],
                                                       model=GPT41)),
                        Script(frames=responses_stream([("text", FINAL)], model=GPT41)))
    run, _ = await run_codex(proxy, tmp_path, codex_bin, "run the echo",
                             settings='{"CODEX_MODEL": "openai/gpt-4.1-2025-04-14"}')
    assert run.returncode == 0, run.describe()
    assert run.agent_messages()[-1] == FINAL, run.describe()
    assert metadata_warnings(run) == []
    bodies = e2e_upstream.bodies("/responses")
    assert len(bodies) == 2 and all(b["model"] == GPT41 for b in bodies)
    assert all("include" not in b and "reasoning" not in b for b in bodies)  # else OpenAI answers 400
    assert any(wire.EXEC_OUTPUT in out for _, out in wire.tool_results(bodies[1]))
    assert proxy.resolutions() == [(f"openai/{GPT41}", GPT41, f"openai/{GPT41}")] * 2
    assert all("include reasoning.encrypted_content dropped" in line for line in proxy.resolution_lines())


async def test_codex_across_an_alias_retarget_mid_session(start_proxy: ProxyStarter, e2e_upstream: E2EUpstream,
                                                          tmp_path: Path, codex_bin: str) -> None:
    """The alias moves from gpt-5.3-codex to gpt-4.1 while Codex's first request is in flight; its next
    request (prepared for the codex model, replaying its reasoning item) is fitted to gpt-4.1."""
    proxy = await start_proxy(extra_providers=gpt41_provider(e2e_upstream.url))

    async def retarget(_: dict) -> None:  # what `planoai alias set` does, through the admin API
        async with aiohttp.ClientSession() as s, s.put(f"{proxy.url}/admin/aliases", json={
                "alias": "arch.codex.default", "target": GPT41}) as r:
            assert r.status == 200

    first = responses_stream([("think", "Run it first."), ("tool", "exec_command", wire.EXEC_ARGS, "call_exec_e2e")],
                             model=CODEX)
    e2e_upstream.script("/responses", Dyn(frames=first, on_request=retarget),
                        Script(frames=responses_stream([("text", FINAL)], model=GPT41)))
    run, _ = await run_codex(proxy, tmp_path, codex_bin, "run the echo")
    assert run.returncode == 0, run.describe()
    assert run.agent_messages()[-1] == FINAL, run.describe()
    before, after = e2e_upstream.bodies("/responses")
    assert before["model"] == CODEX and before["reasoning"]["effort"] == "medium"
    assert before["include"] == ["reasoning.encrypted_content"]
    assert after["model"] == GPT41
    assert not {"include", "reasoning"} & set(after) and "verbosity" not in (after.get("text") or {})
    assert not [i for i in after["input"] if i["type"] == "reasoning"]  # the codex model's, dropped
    assert any(wire.EXEC_OUTPUT in out for _, out in wire.tool_results(after))
    assert proxy.resolutions() == [("arch.codex.default", CODEX, f"openai/{CODEX}"),
                                   ("arch.codex.default", GPT41, f"openai/{GPT41}")]
    assert proxy.lines_with("ALIAS_CHANGED")
    line = proxy.resolution_lines()[1]
    assert "reasoning item(s) of another model dropped" in line and "does not reason" in line
