"""Regenerate screenshots/ from the real app: the demo's simulated upstreams, the real proxy, real traffic.

    .venv/bin/python scripts/screenshots.py          # ~25 s; writes screenshots/*.svg (+ .png with rsvg-convert)

Drives `DashboardApp` under `run_test(size=(140, 40))` like a user: waits on the empty state, lets demo
traffic flow, retargets an alias in the picker, opens a request, switches the theme. PNGs need
`rsvg-convert` (apt-get install librsvg2-bin); Textual's SVGs use runs of &#160; that librsvg places
badly, so the PNG is made from a copy with plain spaces and xml:space="preserve".
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual.widgets import DataTable

from plano_tui.dashboard.app import DashboardApp
from plano_tui.dashboard.screens.detail import DetailScreen
from plano_tui.dashboard.screens.sessions import SessionsScreen
from plano_tui.dashboard.screens.turns import TurnsScreen
from plano_tui.dashboard.store import RequestRow
from plano_tui.demo import start_demo
from proxy.local_link import LocalLink
from proxy.server import ProxyServer
from proxy.state import ProxyState

OUT = ROOT / "screenshots"
SIZE = (140, 40)


def to_png(svg: Path) -> None:
    if not shutil.which("rsvg-convert"):
        return
    text = svg.read_text().replace("<svg ", '<svg xml:space="preserve" ', 1).replace("&#160;", " ")
    with tempfile.NamedTemporaryFile("w", suffix=".svg", delete=False) as tmp:
        tmp.write(text)
    subprocess.run(["rsvg-convert", "-w", "1400", tmp.name, "-o", str(svg.with_suffix(".png"))], check=True)
    Path(tmp.name).unlink()


async def until(pilot: Any, predicate: Any, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate() and loop.time() < deadline:
        await pilot.pause(0.1)


async def start_server(state: ProxyState) -> ProxyServer:
    # Prefer the real default port so the screenshots show what users see; any free port otherwise.
    for port in (12000, 0):
        server = ProxyServer(state, port=port)
        with contextlib.suppress(OSError):
            await server.start()
            return server
    raise RuntimeError("no port")


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    demo = await start_demo(seed=11, rate=4)
    state = ProxyState(demo.config)
    server = await start_server(state)
    app = DashboardApp(LocalLink(state, demo=True), url=server.url, config_path="(demo)", demo=True,
                       cursor_blink=False)
    shots: list[Path] = []

    def shot(name: str) -> None:
        app.save_screenshot(f"{name}.svg", str(OUT))
        shots.append(OUT / f"{name}.svg")
        print("saved", name)

    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.5)
            shot("empty-state")

            demo.start_traffic(server.url)
            await until(pilot, lambda: app.store.requests_seen >= 30 and app.last_error is not None)

            app.aliases_list.focus()
            await pilot.press("down", "enter")  # arch.codex.fast
            await pilot.pause(0.3)
            await pilot.press(*"5.3")
            await pilot.pause(0.3)
            shot("alias-picker")
            await pilot.press("enter")  # retarget: the next request through the alias uses it

            app.request_log.focus()
            await pilot.press("home")
            await asyncio.sleep(3)
            await pilot.pause(0.3)
            shot("main")

            await pilot.press("s")  # the footer's sessions/requests switch
            await until(pilot, lambda: isinstance(app.screen, SessionsScreen) and app.screen.rows, 5)
            await pilot.pause(0.3)
            rows = app.screen.rows  # type: ignore[attr-defined]
            loops = [i for i, r in enumerate(rows) if r.client == "codex" and r.requests > r.turns]
            if loops:  # a Codex thread whose turns are tool loops
                best = max(loops, key=lambda i: rows[i].requests)
                app.screen.query_one(DataTable).move_cursor(row=best)
                await pilot.pause(0.2)
            shot("sessions")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TurnsScreen) and app.screen.turns, 5)
            await pilot.pause(0.3)
            shot("session-turns")
            await pilot.press("escape")
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, SessionsScreen | TurnsScreen), 5)

            rows = [i for i, r in enumerate(app.store) if isinstance(r, RequestRow) and r.record.ok]
            translated = [i for i in rows if "→" in app.store[i].record.translation]  # type: ignore[union-attr]
            app.request_log._set_cursor((translated or rows)[0])
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, DetailScreen), 5)
            await pilot.pause(0.3)
            shot("detail")
            await pilot.press("4")
            await pilot.pause(0.3)
            shot("detail-headers")
            await pilot.press("escape")
            await pilot.pause(0.2)

            await pilot.press("d")
            await pilot.pause(0.5)
            shot("main-light")
    finally:
        await server.stop(drain_s=0)
        await demo.stop()
    for svg in shots:
        to_png(svg)


if __name__ == "__main__":
    asyncio.run(main())
