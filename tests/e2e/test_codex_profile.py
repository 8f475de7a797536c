"""Codex without `cli-agent`: `planoai cli-agent codex --write-config` writes a `plano` profile
($CODEX_HOME/plano.config.toml), and the real Codex CLI, started as plain `codex --profile plano` with no
OPENAI_BASE_URL and no OPENAI_API_KEY, goes through the proxy (with its model catalog)."""

from __future__ import annotations

import asyncio
import os
import tomllib
from pathlib import Path

import pytest

from tests.fakes import Script, responses_events
from tests.planoai_cmd import run_planoai

from .conftest import ProxyStarter
from .harness import AgentRun, E2EUpstream
from .test_codex import CODEX_EXEC, metadata_warnings

pytestmark = pytest.mark.e2e


async def test_codex_profile_written_by_planoai(start_proxy: ProxyStarter, e2e_upstream: E2EUpstream,
                                                tmp_path: Path, codex_bin: str) -> None:
    proxy = await start_proxy(codex_target="gpt-5.3-codex")
    codex_home, home, ws = tmp_path / "codex_home", tmp_path / "home", tmp_path / "ws"
    for d in (codex_home, home, ws):
        d.mkdir()
    user_config = '# mine\nmodel_reasoning_effort = "medium"\n'
    (codex_home / "config.toml").write_text(user_config)
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env |= {"CODEX_HOME": str(codex_home), "HOME": str(home)}

    wrote = await run_planoai(["cli-agent", "codex", "--write-config", "--config", str(proxy.config),
                               "--port", str(proxy.port)], env, ws)
    assert wrote.returncode == 0 and "wrote the `plano` profile" in wrote.stderr, wrote.describe()
    again = await run_planoai(["cli-agent", "codex", "--write-config", "--config", str(proxy.config),
                               "--port", str(proxy.port)], env, ws)
    assert again.returncode == 0 and "already has this profile" in again.stderr
    conf = tomllib.loads((codex_home / "plano.config.toml").read_text())
    assert conf["model_provider"] == "plano" and conf["model"] == "arch.codex.default"
    assert conf["model_providers"]["plano"]["base_url"] == f"{proxy.url}/v1"
    assert "env_key" not in conf["model_providers"]["plano"]  # the proxy holds the keys: no variable needed

    e2e_upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex", "E2E-ANSWER-PROFILE")))
    proc = await asyncio.create_subprocess_exec(
        codex_bin, "--profile", "plano", *CODEX_EXEC, "-C", str(ws), "say hi", cwd=ws, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    run = AgentRun(proc.returncode or 0, out.decode(), err.decode())
    assert run.returncode == 0, run.describe()
    assert run.agent_messages() == ["E2E-ANSWER-PROFILE"], run.describe()
    assert metadata_warnings(run) == [], "Codex did not take the proxy's model catalog"
    [body] = e2e_upstream.bodies("/responses")
    assert body["model"] == "gpt-5.3-codex"
    assert (codex_home / "config.toml").read_text() == user_config  # the user's own file is never written
    assert ("custom", "apply_patch") in {(t.get("type"), t.get("name")) for t in body["tools"]}
