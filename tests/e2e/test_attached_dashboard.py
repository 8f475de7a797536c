"""Dashboards attached to a background proxy while the real Codex CLI works through it.

- A `planoai tui` (a real process in a terminal) attached to the proxy `planoai up` started is quit
  with `q` in the middle of Codex's turn, while the answer is being streamed: the turn still finishes.
- Two dashboards attached to that proxy show the same rows for Codex's requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from plano_tui.dashboard.app import DashboardApp
from plano_tui.remote_link import RemoteLink
from tests.fakes import Script, responses_events
from tests.planoai_cmd import Terminal, kill_leftover, recorded_pid, run_planoai
from tests.test_ui_app import SIZE, requests, until

from .harness import E2EUpstream, ProxyProcess, free_port, run_launcher, write_config
from .test_codex import CODEX_EXEC

pytestmark = pytest.mark.e2e


class GatedUpstream(E2EUpstream):
    """Streams the first half of a scripted answer, then waits for `gate` before the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.streaming = asyncio.Event()  # the first half reached the proxy

    async def _answer(self, request: web.Request, body: dict, script: Script | None) -> web.StreamResponse:
        if script is None or script.frames is None or not request.path.endswith("/responses"):
            return await super()._answer(request, body, script)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        half = len(script.frames) // 2
        for f in script.frames[:half]:
            await resp.write(f)
        self.streaming.set()
        await self.gate.wait()
        for f in script.frames[half:]:
            await resp.write(f)
        await resp.write_eof()
        return resp


@pytest.fixture
async def gated() -> AsyncIterator[GatedUpstream]:
    fake = GatedUpstream()
    await fake.start()
    try:
        yield fake
    finally:
        fake.gate.set()
        await fake.stop()


class Background:
    """`planoai up` in a private state dir, on a free port; stopped with `planoai down` at the end."""

    def __init__(self, tmp_path: Path, upstream_url: str) -> None:
        self.dir = tmp_path / "proj"
        self.dir.mkdir()
        self.port = free_port()
        self.config = write_config(self.dir, upstream_url, "gpt-5.3-codex")
        self.config.write_text(self.config.read_text().replace("port: 12000", f"port: {self.port}"))
        self.state = tmp_path / "state"
        self.env = {**os.environ, "PLANOAI_STATE_DIR": str(self.state)}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def up(self) -> None:
        res = await run_planoai(["up", "--drain", "2"], self.env, self.dir)
        assert res.returncode == 0, res.describe()

    def as_proxy(self) -> ProxyProcess:
        return ProxyProcess(self.config, port=self.port)  # what run_launcher needs: config and port


@pytest.fixture
async def background(tmp_path: Path, gated: GatedUpstream) -> AsyncIterator[Background]:
    bg = Background(tmp_path, gated.url)
    try:
        await bg.up()
        yield bg
    finally:
        with contextlib.suppress(Exception):
            await run_planoai(["down", "--timeout", "3"], bg.env, bg.dir)
        kill_leftover(bg.state)


def codex_dirs(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    ws = tmp_path / "ws"
    for d in (ws, tmp_path / "codex_home", tmp_path / "home"):
        d.mkdir(exist_ok=True)
    return ws, {"CODEX_HOME": str(tmp_path / "codex_home"), "HOME": str(tmp_path / "home"), "OPENAI_API_KEY": ""}


async def test_quitting_an_attached_dashboard_mid_turn_leaves_the_turn_finishing(
        background: Background, gated: GatedUpstream, tmp_path: Path, codex_bin: str) -> None:
    dash = await Terminal(background.dir, background.env).start()
    try:
        await dash.wait_for(b"attached to")  # `planoai tui` found the proxy on the config's port
        gated.script("/responses", Script(frames=responses_events("gpt-5.3-codex", "FINISHED-AFTER-QUIT")))
        ws, env = codex_dirs(tmp_path)
        codex = asyncio.create_task(run_launcher("codex", background.as_proxy(), [*CODEX_EXEC, "-C", str(ws), "hi"],
                                                 {**env, "PLANOAI_CODEX_BIN": codex_bin}, cwd=ws))
        await asyncio.wait_for(gated.streaming.wait(), 60)  # Codex's answer is half streamed
        dash.press(b"q")
        assert dash.proc is not None
        assert await asyncio.wait_for(dash.proc.wait(), 15) == 0
        assert not codex.done()  # still mid-turn when the dashboard was gone
        gated.gate.set()
        run = await codex
        assert run.returncode == 0 and run.agent_messages() == ["FINISHED-AFTER-QUIT"], run.describe()
        assert gated.cancelled == 0  # the upstream stream was never cut
        status = await run_planoai(["status", "--plain"], background.env, background.dir)
        assert status.returncode == 0 and "req=1" in status.stdout.split(), status.describe()
        assert recorded_pid(background.state) is not None
    finally:
        await dash.close()


async def test_two_attached_dashboards_show_the_same_codex_rows(
        background: Background, gated: GatedUpstream, tmp_path: Path, codex_bin: str) -> None:
    gated.gate.set()  # no pause in this one
    links = [await RemoteLink(background.url, retry_s=0.05).start() for _ in range(2)]
    apps = [DashboardApp(link, url=background.url, config_path=str(background.config), tick_s=0.05,
                         cursor_blink=False) for link in links]
    try:
        async with apps[0].run_test(size=SIZE) as p1, apps[1].run_test(size=SIZE) as p2:
            await until(p1, lambda: all(link.connected for link in links), timeout=10)
            gated.script("/responses", Script(frames=responses_events("gpt-5.3-codex", "SEEN-TWICE")))
            ws, env = codex_dirs(tmp_path)
            run = await run_launcher("codex", background.as_proxy(), [*CODEX_EXEC, "-C", str(ws), "hi"],
                                     {**env, "PLANOAI_CODEX_BIN": codex_bin}, cwd=ws)
            assert run.returncode == 0 and run.agent_messages() == ["SEEN-TWICE"], run.describe()
            await until(p1, lambda: len(requests(apps[0])) == 1, timeout=10)
            await until(p2, lambda: len(requests(apps[1])) == 1, timeout=10)
            rows = [[(r.record.request_id, r.record.client_model, r.record.upstream_model, r.record.status)
                     for r in requests(app)] for app in apps]
            assert rows[0] == rows[1] and rows[0][0][1:] == ("arch.codex.default", "gpt-5.3-codex", 200)
    finally:
        for link in links:
            await link.close()
