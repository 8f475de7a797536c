"""End-to-end plumbing: the real proxy as a `planoai tui --no-ui` subprocess, a scriptable loopback
upstream in the test's event loop, and the launcher (`planoai cli-agent …`) driving the real Codex CLI
or Claude Code binary. Everything listens on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from tests.config_corpus import plano_config, standard_providers
from tests.fakes import FakeUpstream, Script

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO / ".tools" / "node_modules" / ".bin"
INSTALL_HINT = ("run .ci/install_clients.sh "
                "(npm install --prefix .tools @openai/codex@0.169.0 @anthropic-ai/claude-code@2.1.197)")
# Keys written into the config itself, so the proxy child needs no key variables from its environment.
E2E_KEYS = {"openai": "sk-e2e-openai", "anthropic": "sk-ant-e2e-anthropic"}
_RESOLUTION = re.compile(r"MODEL_RESOLUTION: req_model='([^']*)' -> resolved_model='([^']*)' provider='([^']*)'")


def agent_bin(name: str) -> str | None:
    """The real client binary: $PLANOAI_<NAME>_BIN, the project-local .tools install, or PATH."""
    override = os.environ.get(f"PLANOAI_{name.upper()}_BIN")
    for cand in (override, str(TOOLS_BIN / name), shutil.which(name)):
        if cand and Path(cand).exists():
            return cand
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(directory: Path, upstream_url: str, codex_target: str, claude_target: str = "claude-sonnet-4-5",
                 extra: str = "", *, codex_fallbacks: Sequence[str] = (), openai_url: str | None = None,
                 extra_providers: str = "", claude_aliases: bool = True) -> Path:
    """Providers for each wire API, all on the fake upstream (the OpenAI one on `openai_url` when given);
    `arch.codex.default` → `codex_target` with optional `fallbacks` (in the config.tui.yaml sidecar);
    `extra_providers` is YAML appended to `model_providers` (indented by two spaces, like the others)."""
    path = directory / "config.yaml"
    # Alias fallbacks are our extension: they go in the sidecar, so Plano accepts config.yaml as written.
    sidecar = directory / "config.tui.yaml"
    if codex_fallbacks:
        sidecar.write_text(
            f"model_aliases:\n  arch.codex.default:\n    fallbacks: [{', '.join(codex_fallbacks)}]\n", encoding="utf-8"
        )
    else:
        sidecar.unlink(missing_ok=True)
    path.write_text(e2e_config(upstream_url, codex_target, claude_target, extra, openai_url=openai_url,
                               extra_providers=extra_providers, claude_aliases=claude_aliases), encoding="utf-8")
    return path


def e2e_config(upstream_url: str, codex_target: str, claude_target: str = "claude-sonnet-4-5", extra: str = "", *,
               openai_url: str | None = None, extra_providers: str = "", claude_aliases: bool = True) -> str:
    """The text of `write_config`'s config.yaml (the sidecar aside)."""
    aliases = {"arch.codex.default": codex_target}
    if claude_aliases:
        aliases |= {"arch.claude": claude_target, "arch.claude.code.small.fast": claude_target}
    providers = standard_providers(upstream_url, openai_url=openai_url, keys=E2E_KEYS) + extra_providers
    return plano_config(providers, aliases=aliases, extra=extra)


def refused_url() -> str:
    """A loopback URL where nothing listens: connecting to it is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def write_fallback_config(directory: Path, upstream_url: str, codex_target: str,
                          codex_fallbacks: Sequence[str] = (), openai_url: str | None = None,
                          extra_providers: str = "") -> Path:
    """`write_config` with alias `fallbacks` on `arch.codex.default` and no Claude aliases."""
    return write_config(directory, upstream_url, codex_target, codex_fallbacks=codex_fallbacks,
                        openai_url=openai_url, extra_providers=extra_providers, claude_aliases=False)


# ----------------------------------------------------------------------------- scripted upstream


@dataclass
class Dyn(Script):
    """A scripted answer built from the request body (tool schemas are only known once it arrives).
    `on_request` runs when the request arrives, before the answer: e.g. retarget an alias while this
    request is in flight, so the client's next request meets the new target."""

    build: Callable[[dict[str, Any]], list[bytes]] | None = None
    on_request: Callable[[dict[str, Any]], Awaitable[None]] | None = None


class E2EUpstream(FakeUpstream):
    async def _answer(self, request: web.Request, body: dict, script: Script | None) -> web.StreamResponse:
        if isinstance(script, Dyn):
            if script.on_request is not None:
                await script.on_request(body)
            if script.build is not None:
                script = dataclasses.replace(script, frames=script.build(body), build=None)
        return await super()._answer(request, body, script)

    def bodies(self, suffix: str) -> list[dict[str, Any]]:
        return [orjson.loads(c.raw) for c in self.requests if c.method == "POST" and c.path.endswith(suffix)]


# ----------------------------------------------------------------------------- the proxy process


@dataclass
class ProxyProcess:
    """`python -m plano_tui.cli tui --no-ui --config … --port … [args]`; stdout lines are collected live."""

    config: Path
    port: int = field(default_factory=free_port)
    args: Sequence[str] = ()  # more `tui` options, e.g. ("--log-json", path)
    lines: list[str] = field(default_factory=list)
    stderr: str = ""
    proc: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jsonl(self) -> Path:
        return self.config.parent / "requests.jsonl"

    async def start(self, timeout: float = 20.0) -> ProxyProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "plano_tui.cli", "tui", "--no-ui", "--config", str(self.config),
            "--port", str(self.port), "--no-watch", "--drain", "0.5", *self.args,
            # every record, attempts and notes included: printed when a test fails (test_codex_reliability)
            *(() if "--log-json" in self.args else ("--log-json", str(self.jsonl))),
            cwd=str(self.config.parent), env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    break
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with s.get(f"{self.url}/healthz") as r:
                        if r.status == 200:
                            return self
                await asyncio.sleep(0.1)
        err = await self.stop()
        raise RuntimeError(f"proxy did not come up on {self.url}: {err[-2000:]}")

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    async def stop(self) -> str:
        """SIGINT (graceful), then SIGKILL; returns stderr."""
        if self.proc is None:
            return self.stderr
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reader, 5)
        assert self.proc.stderr is not None
        self.stderr = (await self.proc.stderr.read()).decode("utf-8", "replace")
        return self.stderr

    async def settled(self, guard_s: float = 30.0) -> None:
        """Wait until every request the proxy has finished has its MODEL_RESOLUTION line here: the proxy
        writes them in bursts after a request ends, so the count in /admin/stats is the signal."""
        if self.proc is None or self.proc.returncode is not None:
            return
        deadline = time.monotonic() + guard_s  # a hang guard, not a timing expectation
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with s.get(f"{self.url}/admin/stats") as r:
                        stats = await r.json()
                    if stats["in_flight"] == 0 and len(self.resolution_lines()) >= stats["requests"]:
                        return
                await asyncio.sleep(0.02)
        raise AssertionError(f"the proxy's lines never caught up with its request count: {self.lines[-5:]}")

    def resolutions(self) -> list[tuple[str, str, str]]:
        """(req_model, resolved_model, provider) of every MODEL_RESOLUTION line so far."""
        return [m.groups() for line in self.lines if (m := _RESOLUTION.search(line))]  # type: ignore[misc]

    def resolution_lines(self) -> list[str]:
        return [line for line in self.lines if "MODEL_RESOLUTION" in line]

    def lines_with(self, needle: str) -> list[str]:
        return [line for line in self.lines if needle in line]


# ----------------------------------------------------------------------------- the launcher


@dataclass
class AgentRun:
    returncode: int
    stdout: str
    stderr: str

    def events(self) -> list[dict[str, Any]]:
        """`codex exec --json` events (one JSON object per stdout line)."""
        out = []
        for line in self.stdout.splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                ev = orjson.loads(line)
                if isinstance(ev, dict):
                    out.append(ev)
        return out

    def items(self, kind: str) -> list[dict[str, Any]]:
        return [e["item"] for e in self.events() if e.get("type") == "item.completed" and e["item"].get("type") == kind]

    def agent_messages(self) -> list[str]:
        return [i.get("text", "") for i in self.items("agent_message")]

    def describe(self) -> str:
        return f"rc={self.returncode}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"


async def run_launcher(agent: str, proxy: ProxyProcess, agent_args: Sequence[str], env: Mapping[str, str],
                       cwd: Path, settings: str | None = None, timeout: float = 90.0) -> AgentRun:
    """`planoai cli-agent <agent> --config … --port … [--settings …] -- <agent_args>` as a subprocess."""
    cmd = [sys.executable, "-m", "plano_tui.cli", "cli-agent", agent, "--config", str(proxy.config),
           "--port", str(proxy.port)]
    if settings is not None:
        cmd += ["--settings", settings]
    cmd += ["--", *agent_args]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=str(cwd), env=full_env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                start_new_session=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = await proc.communicate()
        return AgentRun(-9, out.decode("utf-8", "replace"), err.decode("utf-8", "replace") + "\n[timed out]")
    rc = proc.returncode if proc.returncode is not None else -1
    await proxy.settled()  # the last MODEL_RESOLUTION lines are written just after their requests end
    return AgentRun(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
