"""Entry point the CLI calls for the dashboard: run the App in the current loop until the user quits.

The server's lifetime belongs to the caller (plano_tui/cli.py stops it after this returns), so quitting
with `q`, a crash in the UI, and SIGTERM all end the same way. `build_app`/`run_app` are split out so the
benchmark (bench/bench_ui.py) measures exactly this path.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from proxy.frontend import FrontEndLink

from .app import DashboardApp


def build_app(link: FrontEndLink, url: str, *, config_path: str, capacity: int, demo: bool) -> DashboardApp:
    # freeze_gc: the CLI freezes the heap after start-up (cli._tune_gc); the dashboard's own start-up
    # objects (CSS, widgets, caches) come later, so freeze again once the first screen is drawn
    # (app._tune_gc_for_ui).
    return DashboardApp(link, url=url, config_path=config_path, capacity=capacity, demo=demo, freeze_gc=True)


async def run_app(app: DashboardApp) -> None:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    # The terminal is in raw mode, so Ctrl-C arrives as a key; SIGTERM/SIGHUP (service managers, a
    # closed terminal) must still end the app cleanly so the CLI can drain and stop the server.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, app.exit)
            installed.append(sig)
    try:
        await app.run_async()
    finally:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


async def run_ui(link: FrontEndLink, url: str, *, config_path: str, capacity: int, demo: bool) -> None:
    await run_app(build_app(link, url, config_path=config_path, capacity=capacity, demo=demo))
