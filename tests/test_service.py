"""`planoai up / down / status / logs` as a user runs them: real subprocesses, a real background proxy
in a private state directory, real signals, a fake upstream on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from plano_tui import rundir

from .conftest import FAKE_KEYS, proxy_config_yaml
from .fakes import FakeUpstream, Script, responses_events
from .planoai_cmd import Result, Terminal, kill_leftover, recorded_pid, run_planoai

pytestmark = pytest.mark.slow  # `planoai up/down/...` subprocesses: scheduled first (tests/conftest.py)

# The default drain (8 s) is for users; the tests that stop a proxy with nothing in flight don't wait on it.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Env:
    """A folder with a config.yaml on a free port, a private state dir, and `planoai` to run there."""

    def __init__(self, tmp_path: Path, upstream: FakeUpstream) -> None:
        self.dir = tmp_path / "demo"
        self.dir.mkdir()
        self.state = tmp_path / "state"
        self.port = free_port()
        yaml = proxy_config_yaml(upstream.url).replace("port: 12000", f"port: {self.port}")
        (self.dir / "config.yaml").write_text(yaml)
        self.env = {**os.environ, **FAKE_KEYS, "PLANOAI_STATE_DIR": str(self.state), "PYTHONUNBUFFERED": "1"}
        self.pids: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def run(self, *args: str, timeout: float = 60.0) -> Result:
        res = await run_planoai(args, self.env, self.dir, timeout)
        if (m := re.search(r"\(pid (\d+),", res.stdout)) is not None:
            self.pids.append(int(m.group(1)))  # stopped at teardown even if the test fails before `down`
        return res


@pytest.fixture
async def env(tmp_path: Path, upstream: FakeUpstream) -> AsyncIterator[Env]:
    e = Env(tmp_path, upstream)
    try:
        yield e
    finally:
        kill_leftover(e.state, e.pids)


async def post_responses(url: str) -> bytes:
    async with aiohttp.ClientSession() as s, s.post(
            f"{url}/v1/responses", json={"model": "arch.codex.default", "input": "hi", "stream": True}) as r:
        assert r.status == 200
        return await r.read()


async def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_up_status_logs_down(env: Env, upstream: FakeUpstream) -> None:
    up = await env.run("up", "--drain", "0.5")
    assert up.returncode == 0, up.describe()
    assert f"proxy up on {env.url}/v1" in up.stdout and "planoai down" in up.stdout
    assert "planoai logs --follow" in up.stdout and "planoai status" in up.stdout
    pid = recorded_pid(env.state)
    assert pid is not None and rundir.pid_alive(pid)

    st = await env.run("status")
    assert st.returncode == 0 and st.stdout.startswith(f"● planoai 127.0.0.1:{env.port} · 0 req · 0 err"), st.describe()
    assert "arch.codex.default→gpt-5.3-codex" in st.stdout and "cost —" in st.stdout

    upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex")))
    await post_responses(env.url)
    access = env.state / "logs" / rundir.ACCESS_LOG
    await wait_for(lambda: "MODEL_RESOLUTION" in access.read_text())  # the printer writes every 50 ms

    logs = await env.run("logs")
    assert logs.returncode == 0
    [line] = logs.stdout.splitlines()
    assert "req_model='arch.codex.default' -> resolved_model='gpt-5.3-codex' provider='openai/gpt-5.3-codex'" in line

    plain = await env.run("status", "--plain")
    words = plain.stdout.split()
    assert plain.returncode == 0 and words[:3] == ["planoai", "up", f"127.0.0.1:{env.port}"], plain.describe()
    assert {"req=1", "err=0", "arch.codex.default=gpt-5.3-codex", "cost=-"} <= set(words)
    assert any(re.fullmatch(r"p50=\d+ms", w) for w in words), words
    assert plain.stdout.isascii()

    down = await env.run("down")
    assert down.returncode == 0 and f"stopped the proxy on {env.url} (pid {pid})" in down.stderr, down.describe()
    assert not rundir.pid_alive(pid) and recorded_pid(env.state) is None
    after = await env.run("status", "--plain")
    assert after.returncode == 1 and after.stdout.strip() == f"planoai down 127.0.0.1:{env.port}"
    again = await env.run("down")
    assert again.returncode == 0 and "no proxy started by `planoai up` is running" in again.stderr


async def test_logs_follow_prints_new_lines(env: Env, upstream: FakeUpstream) -> None:
    assert (await env.run("up", "--drain", "0.5")).returncode == 0
    follow = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plano_tui", "logs", "--follow", cwd=env.dir, env=env.env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex")))
        await post_responses(env.url)
        assert follow.stdout is not None
        line = await asyncio.wait_for(follow.stdout.readline(), 20)
        assert b"MODEL_RESOLUTION: req_model='arch.codex.default'" in line
    finally:
        follow.kill()
        await follow.wait()
        await env.run("down")


async def test_up_twice_and_a_stale_pid_file(env: Env) -> None:
    # A pid file left by a proxy that was SIGKILLed: a live pid, but not the process that wrote it.
    rundir.write_pid_file(rundir.RunInfo(pid=os.getpid(), url=env.url, config=None, started_at=0.0,
                                         start_ticks="0"), env.state / "run" / "planoai.pid")
    up = await env.run("up", "--drain", "0.5")
    assert up.returncode == 0, up.describe()
    assert f"removed a stale pid file (pid {os.getpid()} is not running)" in up.stderr
    same = await env.run("up")
    assert same.returncode == 0 and "a proxy is already running on" in same.stderr
    other = await env.run("up", "--port", str(free_port()))
    assert other.returncode == 1 and "before starting another" in other.stderr
    assert (await env.run("down")).returncode == 0


async def test_up_refuses_a_taken_port_and_a_foreground_proxy(env: Env) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = await env.run("up", "--port", str(port))
    assert res.returncode == 1 and f"port {port} on 127.0.0.1 is taken by another program" in res.stderr
    assert recorded_pid(env.state) is None

    tui = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plano_tui", "tui", "--no-ui", "--port", str(env.port), cwd=env.dir, env=env.env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession() as s:
            async def answers() -> bool:
                with contextlib.suppress(aiohttp.ClientError):
                    async with s.get(f"{env.url}/healthz") as r:
                        return r.status == 200
                return False

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while not await answers():
                assert loop.time() < deadline and tui.returncode is None
                await asyncio.sleep(0.05)
        res = await env.run("up")
        assert res.returncode == 1 and f"a planoai proxy already answers on {env.url}/v1 (pid {tui.pid})" in res.stderr
        st = await env.run("status")  # `status` counts a dashboard's proxy too
        assert st.returncode == 0 and "planoai 127.0.0.1" in st.stdout
        assert (await env.run("down")).returncode == 0  # never touches a proxy it did not start
        assert tui.returncode is None
    finally:
        tui.send_signal(signal.SIGINT)
        await tui.wait()


async def test_up_validates_the_config_first(env: Env) -> None:
    (env.dir / "config.yaml").write_text("version: v0.4.0\nmodel_providers:\n  - model: gpt-4o\n")
    res = await env.run("up")
    assert res.returncode == 2 and "config.yaml:3: model_providers[0].model" in res.stderr
    assert not (env.state / "logs").exists()
    empty = env.dir / "empty"
    empty.mkdir()
    res = await env.run("up", "--path", str(empty))
    assert res.returncode == 2 and "no config found" in res.stderr


async def test_up_with_file_and_path(env: Env, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "plano.yaml").write_text((env.dir / "config.yaml").read_text())
    (env.dir / "config.yaml").unlink()
    res = await env.run("up", "plano.yaml", "--path", str(other), "--drain", "0.5")
    assert res.returncode == 0 and f"config {other / 'plano.yaml'}" in res.stdout, res.describe()
    assert (await env.run("down")).returncode == 0


async def test_down_drains_an_open_stream(env: Env, upstream: FakeUpstream) -> None:
    """SIGTERM lets a turn that is streaming finish (within the drain), then the proxy exits."""
    assert (await env.run("up")).returncode == 0  # the default drain: 8 s
    frames = responses_events("gpt-5.3-codex", "a slow but complete answer")
    upstream.script("/responses", Script(frames=frames, frame_delay=0.2))
    async with aiohttp.ClientSession() as s, s.post(
            f"{env.url}/v1/responses", json={"model": "arch.codex.default", "input": "hi", "stream": True}) as r:
        first = await r.content.readline()  # the stream is open
        down = asyncio.create_task(env.run("down"))
        rest = await r.read()
    res = await down
    assert res.returncode == 0 and "stopped the proxy" in res.stderr, res.describe()
    body = first + rest
    assert b"response.completed" in body and b"response.failed" not in body


async def test_down_kills_what_ignores_sigterm(env: Env) -> None:
    stubborn = await asyncio.create_subprocess_exec(
        sys.executable, "-c",
        "import signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
        "sys.stdin.read()",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert stubborn.stdout is not None
        assert await stubborn.stdout.readline() == b"ready\n"
        rundir.write_pid_file(rundir.RunInfo(pid=stubborn.pid, url=env.url, config=None, started_at=0.0,
                                             start_ticks=rundir.process_start_time(stubborn.pid)),
                              env.state / "run" / "planoai.pid")
        res = await env.run("down", "--timeout", "0.5")
        assert res.returncode == 0 and "did not stop within 0.5 s: killed it" in res.stderr, res.describe()
        assert await stubborn.wait() == -signal.SIGKILL
        assert recorded_pid(env.state) is None
    finally:
        if stubborn.returncode is None:
            stubborn.kill()
            await stubborn.wait()


async def test_up_foreground_owns_the_pid_file(env: Env) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plano_tui", "up", "--foreground", "--drain", "0.5", cwd=env.dir, env=env.env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_for(lambda: recorded_pid(env.state) == proc.pid or proc.returncode is not None, 30)
        assert recorded_pid(env.state) == proc.pid
        st = await env.run("status", "--plain")
        assert st.returncode == 0
        res = await env.run("down")
        assert res.returncode == 0 and f"(pid {proc.pid})" in res.stderr
        assert await proc.wait() == 0
        assert recorded_pid(env.state) is None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_planoai_tui_attaches_to_the_background_proxy_and_leaves_it_running(env: Env,
                                                                                   upstream: FakeUpstream) -> None:
    assert (await env.run("up", "--drain", "0.5")).returncode == 0
    pid = recorded_pid(env.state)
    dash = await Terminal(env.dir, env.env).start()
    try:
        await dash.wait_for(b"attached to")
        await dash.wait_for(f"config {env.dir / 'config.yaml'}".encode())  # the proxy's own config file
        upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex")))
        await post_responses(env.url)
        await dash.wait_for(b"requests 1")  # the header counts it: the row came over the admin stream
        dash.press(b"q")
        assert dash.proc is not None
        assert await asyncio.wait_for(dash.proc.wait(), 15) == 0
    finally:
        await dash.close()
    st = await env.run("status", "--plain")
    assert st.returncode == 0 and "req=1" in st.stdout.split() and recorded_pid(env.state) == pid
    assert (await env.run("down")).returncode == 0
