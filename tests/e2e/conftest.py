"""Fixtures for the end-to-end tests: real client binaries, a loopback upstream, the proxy process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from .harness import INSTALL_HINT, E2EUpstream, ProxyProcess, agent_bin, write_config


@pytest.fixture(scope="session")
def codex_bin() -> str:
    path = agent_bin("codex")
    if path is None:
        pytest.skip(f"Codex CLI not installed: {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def claude_bin() -> str:
    path = agent_bin("claude")
    if path is None:
        pytest.skip(f"Claude Code not installed: {INSTALL_HINT}")
    return path


@pytest.fixture
async def e2e_upstream() -> AsyncIterator[E2EUpstream]:
    fake = E2EUpstream()
    await fake.start()
    yield fake
    await fake.stop()


ProxyStarter = Callable[..., Awaitable[ProxyProcess]]


@pytest.fixture
async def start_proxy(tmp_path: Path, e2e_upstream: E2EUpstream,
                      request: pytest.FixtureRequest) -> AsyncIterator[ProxyStarter]:
    """`await start_proxy(codex_target="…")` → a running `planoai tui --no-ui` on a free port."""
    procs: list[ProxyProcess] = []

    async def start(codex_target: str = "gpt-5.3-codex", claude_target: str = "claude-sonnet-4-5",
                    extra_providers: str = "", extra: str = "") -> ProxyProcess:
        conf_dir = tmp_path / f"proxy{len(procs)}"
        conf_dir.mkdir()
        proc = ProxyProcess(write_config(conf_dir, e2e_upstream.url, codex_target, claude_target, extra,
                                         extra_providers=extra_providers))
        procs.append(proc)
        return await proc.start()

    yield start
    for p in procs:
        stderr = await p.stop()
        if getattr(request.node, "rep_call_failed", False):
            print("--- proxy stdout\n" + "\n".join(p.lines) + f"\n--- proxy stderr\n{stderr[-3000:]}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    rep = yield
    if rep.when == "call" and rep.failed:
        item.rep_call_failed = True  # type: ignore[attr-defined]
    return rep
