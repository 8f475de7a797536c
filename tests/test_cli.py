"""The `planoai` command as a user runs it: a real subprocess, real signals, real HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from .conftest import FAKE_KEYS, proxy_config_yaml
from .fakes import FakeUpstream, Script, responses_events

pytestmark = pytest.mark.slow  # `planoai` subprocesses: scheduled first (tests/conftest.py)

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_cli(tmp_path: Path, upstream: FakeUpstream, *extra: str) -> tuple[asyncio.subprocess.Process, int]:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(proxy_config_yaml(upstream.url))
    port = free_port()
    env = {**os.environ, **FAKE_KEYS, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "plano_tui",
        "tui",
        "--no-ui",
        "--config",
        str(cfg),
        "--port",
        str(port),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    # Ready when /healthz answers; a process that exits first failed to start. The deadline is a hang guard.
    deadline = asyncio.get_running_loop().time() + 60
    async with aiohttp.ClientSession() as s:
        while proc.returncode is None and asyncio.get_running_loop().time() < deadline:
            try:
                async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return proc, port
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    if proc.returncode is None:
        proc.kill()
    raise AssertionError((await proc.stderr.read()).decode())


async def test_no_ui_prints_lines_and_ends_an_open_stream_at_the_drain_deadline(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    proc, port = await start_cli(tmp_path, upstream, "--log-json", str(tmp_path / "log.jsonl"))
    upstream.script("/responses", Script(), Script(frames=responses_events("m"), frame_delay=5))  # 2nd: very slow
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"http://127.0.0.1:{port}/v1/responses", json={"model": "arch.codex.default", "input": "hi", "stream": True}
        ) as r:
            await r.read()
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert "MODEL_RESOLUTION: req_model='arch.codex.default' -> resolved_model='gpt-5.3-codex'" in line
        slow = await s.post(
            f"http://127.0.0.1:{port}/v1/responses", json={"model": "arch.codex.default", "input": "hi", "stream": True}
        )
        await slow.content.readany()  # the stream is open
        proc.send_signal(signal.SIGTERM)
        tail = await slow.read()  # the client gets a terminal event, not a silently closed stream
        rc = await asyncio.wait_for(proc.wait(), 60)  # a hang guard; the drain itself is --drain (2 s)
    assert rc == 0
    # The upstream would have finished this stream normally, a frame every 5 s: a failure event means the
    # proxy ended it at the drain deadline instead of waiting for it.
    assert b"response.failed" in tail and b"response.completed" not in tail
    rest = (await proc.stdout.read()).decode()
    assert "req_model='arch.codex.default'" in rest  # the cut request still has its line
    rows = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(rows) == 2


async def test_alias_cli_retargets_a_running_proxy(tmp_path: Path, upstream: FakeUpstream) -> None:
    proc, port = await start_cli(tmp_path, upstream)
    try:

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "plano_tui", *args, "--port", str(port)],
                capture_output=True,
                text=True,
                timeout=20,
                cwd=tmp_path,
            )

        listing = await asyncio.to_thread(run, "alias", "list")
        assert "arch.codex.default -> gpt-5.3-codex" in listing.stdout
        changed = await asyncio.to_thread(run, "alias", "set", "arch.codex.default", "claude-sonnet-4-5")
        assert changed.returncode == 0 and "gpt-5.3-codex -> claude-sonnet-4-5" in changed.stdout
        bad = await asyncio.to_thread(run, "alias", "set", "arch.codex.default", "nope")
        assert bad.returncode == 1 and "not a configured model" in bad.stderr
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                f"http://127.0.0.1:{port}/v1/messages",
                json={"model": "arch.codex.default", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
            ) as r,
        ):
            assert r.status == 200
        assert upstream.last().json["model"] == "claude-sonnet-4-5"
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 5)
    out = (await proc.stdout.read()).decode()
    assert "ALIAS_CHANGED: alias='arch.codex.default' old_target='gpt-5.3-codex' new_target='claude-sonnet-4-5'" in out
    assert "req_model='arch.codex.default' -> resolved_model='claude-sonnet-4-5'" in out


def test_refuses_remote_bind_and_reports_bad_config(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("version: v0.4.0\nmodel_providers:\n  - model: gpt-4o\n")
    bad = subprocess.run(
        [sys.executable, "-m", "plano_tui", "tui", "--no-ui"], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert bad.returncode == 2 and "config.yaml:3: model_providers[0].model" in bad.stderr
    assert "hint:" in bad.stderr
    remote = subprocess.run(
        [sys.executable, "-m", "plano_tui", "tui", "--no-ui", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert remote.returncode == 2 and "--allow-remote" in remote.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = subprocess.run(
        [sys.executable, "-m", "plano_tui", "tui", "--no-ui"], capture_output=True, text=True, timeout=30, cwd=empty
    )
    assert none.returncode == 2 and "no config found" in none.stderr


def test_a_taken_metrics_port_or_an_unwritable_log_is_named_as_such(tmp_path: Path) -> None:
    """`--metrics-port` already in use, or a `--log-json` nowhere to write: the message says which, not
    "cannot listen" on the proxy's port."""
    (tmp_path / "config.yaml").write_text(proxy_config_yaml("http://127.0.0.1:9"))  # no request is sent
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "plano_tui", "tui", "--no-ui", "--no-watch", "--port", str(free_port()),
             "--metrics-port", str(busy), "--metrics-host", "127.0.0.1"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**os.environ, **FAKE_KEYS},
        )  # fmt: skip
    assert proc.returncode == 1
    assert f"cannot serve /metrics on 127.0.0.1:{busy}" in proc.stderr and "--metrics-port" in proc.stderr
    assert "pick another port with --port" not in proc.stderr
    nowhere = tmp_path / "missing" / "log.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "plano_tui", "tui", "--no-ui", "--no-watch", "--port", str(free_port()),
         "--log-json", str(nowhere)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**os.environ, **FAKE_KEYS},
    )  # fmt: skip
    assert proc.returncode == 1 and f"cannot write --log-json {nowhere}: No such file or directory" in proc.stderr


def test_planos_trace_commands_say_where_they_are() -> None:
    """`planoai trace` / `planoai obs` are Plano's (this package installs a `planoai` script too)."""
    for cmd in (["trace", "listen"], ["obs"]):
        proc = subprocess.run([sys.executable, "-m", "plano_tui", *cmd], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and f"`planoai {cmd[0]}` is Plano's own command" in proc.stderr
        assert "planoai==0.4.39" in proc.stderr and "invalid choice" not in proc.stderr


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("planoai")
    proc = subprocess.run([str(exe), "tui", "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "--no-ui" in proc.stdout and "--log-json" in proc.stdout


def test_main_leaves_the_collector_on_whatever_the_command_did(tmp_path: Path, capsys: object) -> None:
    """main() turns the garbage collector off for start-up; a command that ends early (here a broken
    config) must not leave it off — main() also runs inside other programs and tests."""
    import gc

    import pytest

    from plano_tui.cli import main

    bad = tmp_path / "config.yaml"
    bad.write_text("model_providers: [\n")
    assert gc.isenabled()
    with pytest.raises(SystemExit) as exc:
        main(["tui", "--no-ui", "--config", str(bad)])
    assert exc.value.code == 2 and gc.isenabled()
    with pytest.raises(SystemExit):
        main(["alias", "list", "--port", "9"])  # nothing listens on port 9
    assert gc.isenabled()
