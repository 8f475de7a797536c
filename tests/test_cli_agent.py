"""plano_tui.cli_agent: `planoai cli-agent codex|claude` without the real clients (a recording stub
stands in for the binary). The real Codex and Claude Code runs are in tests/e2e/."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from plano_tui import cli, cli_agent
from plano_tui.cli_agent import Target, build_invocation, find_binary, probe
from proxy.server import ProxyServer

REPO = Path(__file__).resolve().parents[1]


def _target(**kw: object) -> Target:
    t = Target(port=12345, aliases={"arch.codex.default": "gpt-5.3-codex"}, default_model="gpt-5.3-codex")
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def _flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_codex_uses_the_alias_and_the_provider_table() -> None:
    inv = build_invocation("codex", _target(), {}, ["exec", "hi"], {})
    assert inv.model == "arch.codex.default"
    assert inv.argv[-4:] == ["-m", "arch.codex.default", "exec", "hi"]
    overrides = _flag_values(inv.argv, "-c")
    assert overrides[0] == "model_provider=plano"
    assert overrides[1] == ('model_providers.plano={name="plano",base_url="http://127.0.0.1:12345/v1",'
                            'env_key="OPENAI_API_KEY",wire_api="responses",'
                            'model_catalog_url="http://127.0.0.1:12345/v1/models"}')
    assert inv.env["OPENAI_API_KEY"] == "test"
    assert inv.env["OPENAI_BASE_URL"] == "http://127.0.0.1:12345/v1"
    assert inv.env["NO_PROXY"] == "127.0.0.1,localhost"
    assert "CI" not in inv.env


def test_codex_model_choice() -> None:
    assert build_invocation("codex", _target(), {"CODEX_MODEL": "openai/gpt-4.1-2025-04-14"}, [], {}).model == \
        "openai/gpt-4.1-2025-04-14"
    assert build_invocation("codex", _target(aliases={}), {}, [], {}).model == "gpt-5.3-codex"
    assert build_invocation("codex", _target(aliases={}, default_model="llama3.1"), {}, [], {}).model == "llama3.1"


def test_codex_settings_non_interactive_and_passthrough_key() -> None:
    inv = build_invocation("codex", _target(passthrough=True), {"NON_INTERACTIVE_MODE": True, "OTHER": 1}, [],
                           {"OPENAI_API_KEY": "sk-user"})
    assert {k: inv.env[k] for k in ("CI", "FORCE_COLOR", "NODE_NO_READLINE", "TERM")} == {
        "CI": "true", "FORCE_COLOR": "0", "NODE_NO_READLINE": "1", "TERM": "dumb"}
    assert "OPENAI_API_KEY" not in inv.env  # the user's own key reaches the passthrough provider
    assert any("OTHER" in n for n in inv.notes)
    # without passthrough the user's key stays out of Codex's requests
    assert build_invocation("codex", _target(), {}, [], {"OPENAI_API_KEY": "sk-user"}).env["OPENAI_API_KEY"] == "test"


def test_claude_environment_and_settings() -> None:
    t = _target(aliases={"arch.claude.code.small.fast": "claude-haiku-4-5"})
    inv = build_invocation("claude", t, {"model": "arch.claude", "NON_INTERACTIVE_MODE": "true"}, ["-p", "hi"], {})
    env = inv.env
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:12345"
    assert env["ANTHROPIC_AUTH_TOKEN"] == "test" and env["ANTHROPIC_API_KEY"] == ""
    assert env["ANTHROPIC_SMALL_FAST_MODEL"] == "arch.claude.code.small.fast"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1" and env["DISABLE_AUTOUPDATER"] == "1"
    assert env["DISABLE_TELEMETRY"] == "true" and env["CI"] == "true"
    assert inv.argv == ['--settings={"model":"arch.claude"}', "-p", "hi"]


def test_claude_small_fast_model_from_settings_wins() -> None:
    inv = build_invocation("claude", _target(aliases={}), {"ANTHROPIC_SMALL_FAST_MODEL": "llama3.1"}, [], {})
    assert inv.env["ANTHROPIC_SMALL_FAST_MODEL"] == "llama3.1"
    assert inv.argv == []  # nothing left for claude --settings
    tip = build_invocation("claude", _target(aliases={}), {}, [], {})
    assert "ANTHROPIC_SMALL_FAST_MODEL" not in tip.env and any("arch.claude.code.small.fast" in n for n in tip.notes)


@pytest.mark.parametrize(("argv", "extra", "settings", "port"), [
    (["codex", "--", "exec", "--json", "hi"], ["exec", "--json", "hi"], "{}", None),
    (["codex", "--settings", '{"a":1}', "--port", "5", "--", "exec", "-c", "x=1", "--", "y"],
     ["exec", "-c", "x=1", "--", "y"], '{"a":1}', 5),
    (["--port", "7", "codex", "exec", "hi"], ["exec", "hi"], "{}", 7),
    (["claude", "-p", "hi", "--model", "m"], ["-p", "hi", "--model", "m"], "{}", None),
])
def test_argument_split(argv: list[str], extra: list[str], settings: str, port: int | None) -> None:
    args = cli.build_parser().parse_args(["cli-agent", *argv])
    assert cli_agent.split_rest(args) == extra
    assert (args.settings, args.port) == (settings, port)


def test_find_binary(tmp_path: Path) -> None:
    fake = tmp_path / "codex"
    fake.write_text("#!/bin/sh\n")
    assert find_binary("codex", {"PLANOAI_CODEX_BIN": str(fake)}) == [str(fake)]
    assert find_binary("codex", {"PLANOAI_CODEX_BIN": str(tmp_path / "missing")}) is None
    local = tmp_path / "proj" / ".tools" / "node_modules" / ".bin"
    local.mkdir(parents=True)
    (local / "codex").write_text("#!/bin/sh\n")
    assert find_binary("codex", {"PATH": str(tmp_path / "empty")}, cwd=tmp_path / "proj") == [str(local / "codex")]


def test_claude_stub_falls_back_to_the_node_wrapper(tmp_path: Path) -> None:
    """npm skipped claude-code's postinstall: bin/claude.exe is still the 500-byte stub."""
    pkg = tmp_path / "node_modules" / "@anthropic-ai" / "claude-code"
    (pkg / "bin").mkdir(parents=True)
    (pkg / "bin" / "claude.exe").write_text("echo 'Error: claude native binary not installed.' >&2\nexit 1\n")
    (pkg / "bin" / "claude.exe").chmod(0o755)
    (pkg / "cli-wrapper.cjs").write_text("// wrapper\n")
    bindir = tmp_path / "node_modules" / ".bin"
    bindir.mkdir()
    (bindir / "claude").symlink_to(pkg / "bin" / "claude.exe")
    for env in ({"PATH": str(bindir)}, {"PLANOAI_CLAUDE_BIN": str(pkg / "bin" / "claude.exe")}):
        cmd = find_binary("claude", env, cwd=tmp_path)
        assert cmd is not None and cmd[-1] == str(pkg / "cli-wrapper.cjs") and Path(cmd[0]).name == "node"
    real = find_binary("claude", {"PLANOAI_CLAUDE_BIN": str(REPO / ".tools/node_modules/.bin/claude")})
    if real is not None:  # the installed package: postinstall placed the native binary
        assert real == [str(REPO / ".tools/node_modules/.bin/claude")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_proxy_listening(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml here: port 12000 unless --port
    (tmp_path / "codex").write_text("#!/bin/sh\n")
    monkeypatch.setenv("PLANOAI_CODEX_BIN", str(tmp_path / "codex"))
    port = _free_port()
    rc = cli.main(["cli-agent", "codex", "--port", str(port)])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"no planoai proxy is listening on http://127.0.0.1:{port}" in err
    assert "planoai tui" in err


def test_explicit_config_must_exist(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cli-agent", "codex", "--config", str(REPO / "nonexistent.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cli-agent", "codex", "--settings", "{nope", "--dry-run"]) == 2
    assert "not valid JSON" in capsys.readouterr().err


async def _launch(proxy: ProxyServer, agent: str, extra: list[str], env: dict[str, str],
                  cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plano_tui.cli", "cli-agent", agent, "--port", str(proxy.port), "--", *extra,
        cwd=str(cwd), env={**os.environ, "PYTHONPATH": str(REPO), **env}, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_codex_not_installed(proxy: ProxyServer, tmp_path: Path) -> None:
    rc, _, err = await _launch(proxy, "codex", [], {"PLANOAI_CODEX_BIN": str(tmp_path / "no-codex")}, tmp_path)
    assert rc == 127
    assert "npm install -g @openai/codex@" in err


async def test_launches_the_agent_with_the_live_alias_table(proxy: ProxyServer, tmp_path: Path) -> None:
    """The launcher replaces itself with the agent; a stub records the argv and environment it got."""
    stub = tmp_path / "codex"
    record = tmp_path / "record.json"
    stub.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    f"json.dump({{'argv': sys.argv[1:], 'env': dict(os.environ)}}, open({str(record)!r}, 'w'))\n")
    stub.chmod(0o755)
    proxy.state.set_alias("arch.codex.default", "claude-sonnet-4-5")  # live retarget, not in any config file
    rc, _, err = await _launch(proxy, "codex", ["exec", "hi"], {"PLANOAI_CODEX_BIN": str(stub)}, tmp_path)
    assert rc == 0, err
    got = json.loads(record.read_text())
    assert got["argv"][-4:] == ["-m", "arch.codex.default", "exec", "hi"]
    assert f"http://127.0.0.1:{proxy.port}/v1/models" in got["argv"][3]
    assert got["env"]["OPENAI_API_KEY"] == "test"
    assert "alias → claude-sonnet-4-5" in err


async def test_probe_reads_live_aliases(proxy: ProxyServer) -> None:
    t = Target(port=proxy.port, aliases={"stale": "x"})
    assert await asyncio.to_thread(probe, t)
    assert t.aliases["arch.codex.default"] == "gpt-5.3-codex" and "stale" not in t.aliases
    assert "openai/gpt-5.3-codex" in t.models
