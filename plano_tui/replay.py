"""`planoai replay FILE… [--config C]`: where would these exchanges go under this config, and why?

Each file is an exchange the dashboard exported (`x`, plano_tui/dashboard/forensics.py). The config is loaded and a
proxy is started on an ephemeral loopback port with no traffic of its own; each exchange's client request
is sent, with its recorded session headers, to the decision endpoint `/routing/v1/<api>` — the same
resolution, aliases and routing the real endpoints use, and no model is called. The answer is compared
with what served the request when it was recorded: a what-if for alias, route and provider changes.
A config with an LLM router calls that router, exactly as the proxy would.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import IO, Any

import aiohttp
import orjson

from .dashboard.forensics import EXCHANGE_FORMAT

_PATHS = {"responses": "/routing/v1/responses", "chat": "/routing/v1/chat/completions",
          "messages": "/routing/v1/messages"}
# Headers worth replaying: the ones routing reads (session and turn keys, trace context). Nothing else
# (the recorded auth headers are redacted anyway).
_REPLAYED = ("session-id", "session_id", "x-codex-turn-metadata", "x-claude-code-session-id", "x-model-affinity",
             "traceparent", "anthropic-version", "originator", "user-agent")


class ReplayError(Exception):
    pass


def load_exchange(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ReplayError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != EXCHANGE_FORMAT:
        raise ReplayError(f"{path}: not a planoai exchange (expected format {EXCHANGE_FORMAT!r})")
    request = data.get("request") or {}
    if request.get("api") not in _PATHS or not isinstance(request.get("body"), dict):
        raise ReplayError(f"{path}: the exchange kept no client request body to replay")
    return data


async def replay(config_path: Path, files: list[Path], out: IO[str]) -> int:
    """Prints one block per exchange; returns the number that could not be replayed."""
    from proxy.config import load_config
    from proxy.server import ProxyServer
    from proxy.state import ProxyState

    state = ProxyState(load_config(config_path))
    server = ProxyServer(state, port=0)
    await server.start()
    failures = 0
    try:
        async with aiohttp.ClientSession() as session:
            for path in files:
                try:
                    data = load_exchange(path)
                    decision = await _decide(session, server.url, data)
                except ReplayError as exc:
                    out.write(f"✗ {exc}\n")
                    failures += 1
                    continue
                out.write(_describe(path, data, decision, config_path))
    finally:
        await server.stop(drain_s=0)
    return failures


async def _decide(session: aiohttp.ClientSession, base: str, data: dict[str, Any]) -> dict[str, Any]:
    request = data["request"]
    recorded = {k.lower(): v for k, v in (request.get("headers") or {}).items()}
    headers = {k: recorded[k] for k in _REPLAYED if k in recorded and recorded[k] != "<redacted>"}
    async with session.post(base + _PATHS[request["api"]], data=orjson.dumps(request["body"]),
                            headers={**headers, "Content-Type": "application/json"}) as r:
        body = await r.read()
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ReplayError(f"HTTP {r.status}: {body[:200]!r}") from None
    if r.status != 200:
        err = answer.get("error") if isinstance(answer, dict) else None
        message = err.get("message") if isinstance(err, dict) else body.decode("utf-8", "replace")
        raise ReplayError(f"{request['api']} request for {request['body'].get('model')!r}: {message}")
    if not isinstance(answer, dict):
        raise ReplayError(f"{request['api']} request: the answer is not a JSON object: {body[:200]!r}")
    return answer


def _describe(path: Path, data: dict[str, Any], d: dict[str, Any], config_path: Path) -> str:
    was = data.get("upstream") or {}
    res = data.get("resolution") or {}
    asked = res.get("client_model") or "(no model: the default provider)"
    now = f"{d.get('provider')} ({d.get('upstream_model')})"
    before = f"{was.get('provider')} ({was.get('model')})" if was.get("provider") else "nothing (it failed to resolve)"
    same = was.get("provider") == d.get("provider") and was.get("model") == d.get("upstream_model")
    lines = [f"{'=' if same else '≠'} {path.name}: {data['request']['api']} request for {asked}",
             f"    recorded: {before}" + (f"  route {res['route']!r}" if res.get("route") else ""),
             f"    {config_path.name}: {now}" + (f"  route {d['route']!r}" if d.get("route") else "")]
    why = d.get("reason")
    if why:
        lines.append(f"    why: {why}")
    if d.get("pinned"):
        lines.append("    pinned to its session's earlier decision")
    return "\n".join(lines) + "\n"


def cmd_replay(config_path: Path, files: list[str]) -> int:
    paths = [Path(f) for f in files]
    try:
        failures = asyncio.run(replay(config_path, paths, sys.stdout))
    except ReplayError as exc:
        sys.stderr.write(f"planoai replay: {exc}\n")
        return 2
    return 1 if failures else 0
