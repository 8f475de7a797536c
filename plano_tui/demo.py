"""`planoai tui --demo`: simulated providers and Codex-like traffic, so the dashboard can be tried with no
API keys and no config.

Three small aiohttp servers on 127.0.0.1 (ephemeral ports) play an OpenAI-like upstream (Responses and
Chat Completions), an Anthropic-like one (Messages) and an Ollama-like local chat server, each with its
own time-to-first-token, generation speed and occasional 429/5xx. The config is built in memory with
`parse_config`, so everything downstream — resolution, aliases, statistics — is the real proxy. A traffic
task then sends a few requests per second through the proxy's aliases, the way Codex and Claude Code
would. Nothing here reaches the network beyond loopback.

Codex traffic comes as sessions (issue #17): a few threads, each with Codex's `session-id` and an
`x-codex-turn-metadata` `turn_id` per user turn, where a turn is a tool loop — the simulated OpenAI upstream
answers with `exec_command` function calls and `apply_patch` custom tool calls, the thread sends the tool
outputs back with the whole history, and the turn ends with a text answer (shapes from the recorded Codex
runs in tests/data/codex_tool_loops.json). A 429/5xx mid-turn falls back to Claude through the alias's
`fallbacks`, so the turn changes model. The upstreams' answers and refusals are the simulated providers'
of plano_tui/upstream_sim.py, which the tests' fakes use too: like the real services, they refuse, for
example, a tool output that answers no tool call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from plano_tui.upstream_sim import (
    TOOL_CALL_ITEMS,
    Stream,
    chat_body,
    chat_events,
    chat_usage,
    messages_body,
    messages_events,
    messages_usage,
    rate_limited,
    refusal,
    responses_body,
    responses_call_events,
    responses_events,
    responses_usage,
    server_error,
)
from proxy.config import Config, parse_config

DEMO_CONFIG = """\
# planoai --demo: every provider below is simulated on loopback.
version: v0.4.0
listeners:
  - type: model
    name: model_listener
    port: 12000
model_providers:
  - model: openai/gpt-5.3-codex
    access_key: $DEMO_OPENAI_KEY
    base_url: {openai}/v1
    default: true
  - model: openai/gpt-5-mini
    access_key: $DEMO_OPENAI_KEY
    base_url: {openai}/v1
  - model: anthropic/claude-sonnet-4-6
    access_key: $DEMO_ANTHROPIC_KEY
    base_url: {anthropic}/v1
  - model: ollama/qwen2.5-coder
    base_url: {ollama}
  - model: xai/grok-4-1-fast      # no key in the demo: shows the "missing key" state
    access_key: $XAI_API_KEY
model_aliases:
  arch.codex.default:
    target: gpt-5.3-codex
    fallbacks: [claude-sonnet-4-6]   # a 429/5xx mid-turn moves the rest of the turn to Claude
  arch.codex.fast:
    target: gpt-5-mini
  arch.claude:
    target: claude-sonnet-4-6
  arch.local:
    target: qwen2.5-coder
"""
# Placeholders: the simulated upstreams accept anything, and none of these is a real credential.
DEMO_ENV = {"DEMO_OPENAI_KEY": "sk-demo-openai-not-a-real-key", "DEMO_ANTHROPIC_KEY": "sk-ant-demo-not-a-real-key"}

_SAMPLE = ("the tests pass after updating the parser so that chunk boundaries inside a UTF-8 sequence are "
         "buffered until the next read; I also added a regression test and ran ruff and pytest on the "
         "package. Next I will refactor the handler to stream tool call arguments and check the config "
         "loader for missing keys before the first request")
WORDS = _SAMPLE.split()
PROMPTS = ("fix the failing test in tests/test_sse.py", "add a --json flag to the export command",
           "why does the router pick the local model for refactors?", "write a docstring for Resolver.resolve",
           "rename the config loader and update the imports", "explain this stack trace",
           "make the retry loop respect Retry-After", "summarise the diff for a commit message")

# Codex's own tools (docs/codex-wire.md §3): the simulated OpenAI upstream calls them in a tool loop.
CODEX_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "name": "exec_command", "description": "Runs a command in a PTY.", "strict": False,
     "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}, "workdir": {"type": "string"},
                                                     "yield_time_ms": {"type": "number"}},
                    "required": ["cmd"], "additionalProperties": False}},
    {"type": "custom", "name": "apply_patch", "description": "Use the `apply_patch` tool to edit files.",
     "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+ end_patch"}},
]
COMMANDS = ("rg -n 'def parse_chunk' proxy/", "sed -n 1,80p tests/test_sse.py", "pytest -q tests/test_sse.py",
            "git diff --stat", "ruff check .", "ls proxy/", "git log --oneline -5", "pytest -q -x tests/")
FILES = ("proxy/sse.py", "proxy/config.py", "tests/test_sse.py", "plano_tui/cli.py", "README.md")


def _loop_steps(body: dict[str, Any]) -> int | None:
    """How many tool calls the current turn has made so far (since its user message), or None
    when the request does not come from a tool loop (no `exec_command` tool)."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not any(isinstance(t, dict) and t.get("name") == "exec_command"
                                              for t in tools):
        return None
    steps = 0
    items = body.get("input")
    for item in reversed(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        if item.get("type", "message") == "message" and item.get("role") == "user":
            break
        if item.get("type") in TOOL_CALL_ITEMS:
            steps += 1
    return steps


@dataclass(frozen=True)
class Profile:
    """How one simulated upstream behaves."""

    ttft: tuple[float, float]  # seconds, uniform
    tokens_per_s: tuple[float, float]
    p429: float
    p5xx: float
    status_5xx: int = 500


class SimUpstream:
    """One simulated provider. `kind` is openai | anthropic | ollama."""

    def __init__(self, kind: str, profile: Profile, rng: random.Random) -> None:
        self.kind = kind
        self.profile = profile
        self.rng = rng
        self.port = 0
        self.served = 0
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1)
        self._prefix: dict[str, tuple[int, int]] = {}  # prompt_cache_key -> (base tokens, last input): the cache

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> SimUpstream:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        if self.kind == "openai":
            app.router.add_post("/v1/responses", self._responses)
            app.router.add_post("/v1/chat/completions", self._chat)
        elif self.kind == "anthropic":
            app.router.add_post("/v1/messages", self._messages)
        else:
            app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.2, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ behaviour
    def _plan(self, body: dict[str, Any]) -> tuple[list[str], dict[str, int], float, float]:
        """Words to send, usage, time to first token, seconds per word."""
        r, p = self.rng, self.profile
        n = int(r.triangular(12, 180, 40))
        words = [r.choice(WORDS) for _ in range(n)]
        prompt = max(400, len(orjson.dumps(body)) // 4)
        key = body.get("prompt_cache_key")
        if isinstance(key, str) and _loop_steps(body) is not None:
            # A Codex thread: the context grows request by request and the last request's prefix is cached.
            base, last = self._prefix.get(key) or (int(r.triangular(6_000, 30_000, 11_000)), 0)
            total = base + prompt
            cached = min(last, total) * 15 // 16 if last and r.random() < 0.95 else 0
            self._prefix[key] = (base, total)
            if len(self._prefix) > 256:
                self._prefix.pop(next(iter(self._prefix)))
            history = total - prompt
        else:
            history = int(r.triangular(1_500, 60_000, 12_000))
            cached = int(history * r.uniform(0.7, 0.97)) if r.random() < 0.8 else 0
        out = int(n * 1.3)
        usage = {"input": prompt + history, "cached": cached, "output": out, "reasoning": int(out * r.uniform(0, 0.4))}
        return words, usage, r.uniform(*p.ttft), 1.3 / r.uniform(*p.tokens_per_s)

    def _fault(self) -> web.Response | None:
        roll = self.rng.random()
        anthropic = self.kind == "anthropic"
        if roll < self.profile.p429:
            wait = round(self.rng.uniform(0.5, 4), 1)
            return web.json_response(rate_limited(anthropic, wait), status=429, headers={"retry-after": str(wait)})
        if roll < self.profile.p429 + self.profile.p5xx:
            return web.json_response(server_error(anthropic), status=self.profile.status_5xx)
        return None

    async def _read(self, request: web.Request) -> dict[str, Any]:
        self.served += 1
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = {}
        return body if isinstance(body, dict) else {}

    async def _refused_or_faulted(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        """What the real service refuses first, else now and then a 429 or a 5xx (after a short wait)."""
        if (refused := refusal(request.path, body)) is not None:
            return web.json_response(refused[1], status=refused[0])
        if (fault := self._fault()) is not None:
            await asyncio.sleep(self.rng.uniform(0.05, 0.3))
            return fault
        return None

    async def _stream(self, request: web.Request, ttft: float, frames: Stream, per_delta: float,
                      ) -> web.StreamResponse:
        """The head at once, the first delta after `ttft`, then one delta per `per_delta`, then the tail."""
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        await resp.write(b"".join(frames.head))
        await asyncio.sleep(ttft)
        for d in frames.deltas:
            await resp.write(d)
            await asyncio.sleep(per_delta)
        await resp.write(b"".join(frames.tail))
        await resp.write_eof()
        return resp

    @staticmethod
    def _chunks(words: list[str], size: int = 4) -> list[str]:
        """The text's deltas, `size` words each; joined, they are the words joined by spaces."""
        return [" ".join(words[i:i + size]) + (" " if i + size < len(words) else "")
                for i in range(0, len(words), size)]

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if (early := await self._refused_or_faulted(request, body)) is not None:
            return early
        words, u, ttft, per_word = self._plan(body)
        model, now = str(body.get("model", "?")), int(time.time())
        usage = responses_usage(u["input"], u["cached"], u["output"], u["reasoning"])
        calls = self._tool_calls(body)
        if not body.get("stream"):
            await asyncio.sleep(ttft + per_word * (8 if calls else len(words)))
            return web.json_response(responses_body(model, " ".join(words), usage, calls=calls or None,
                                                    mid=f"msg_demo{next(self._ids)}", created_at=now))
        if calls:  # the arguments stream faster than text: one delta per word's time
            return await self._stream(request, ttft, responses_call_events(model, calls, usage, created_at=now),
                                      per_word)
        return await self._stream(request, ttft, responses_events(model, self._chunks(words), usage, created_at=now),
                                  per_word * 4)

    def _tool_calls(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The tool calls a Codex tool loop's next answer makes (none: the turn ends with text). Fewer
        the longer the turn: most turns take two to five requests."""
        steps = _loop_steps(body)
        r = self.rng
        if steps is None or r.random() >= (0.92, 0.75, 0.6, 0.45, 0.3, 0.15)[min(steps, 5)]:
            return []
        patch = any(isinstance(t, dict) and t.get("type") == "custom" and t.get("name") == "apply_patch"
                    for t in body.get("tools") or ())
        n = next(self._ids)
        if steps >= 1 and patch and r.random() < 0.4:
            path = r.choice(FILES)
            patch_text = (f"*** Begin Patch\n*** Update File: {path}\n@@\n-    {r.choice(WORDS)} = None\n"
                          f"+    {r.choice(WORDS)} = {r.choice(WORDS)!r}\n*** End Patch\n")
            return [{"id": f"ctc_demo{n}", "type": "custom_tool_call", "status": "completed",
                     "call_id": f"call_demo{n}", "name": "apply_patch", "input": patch_text}]
        cmds = r.sample(COMMANDS, 2 if r.random() < 0.15 else 1)  # now and then two calls at once
        return [{"id": f"fc_demo{n}_{i}", "type": "function_call", "status": "completed", "name": "exec_command",
                 "arguments": orjson.dumps({"cmd": c, "workdir": "/home/dev/project"}).decode(),
                 "call_id": f"call_demo{n}_{i}"} for i, c in enumerate(cmds)]

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if (early := await self._refused_or_faulted(request, body)) is not None:
            return early
        words, u, ttft, per_word = self._plan(body)
        model = str(body.get("model", "?"))
        usage = chat_usage(u["input"], u["cached"], u["output"])
        if not body.get("stream"):
            await asyncio.sleep(ttft + per_word * len(words))
            return web.json_response(chat_body(model, " ".join(words), usage, created=int(time.time())))
        return await self._stream(request, ttft, chat_events(model, self._chunks(words), usage=usage), per_word * 4)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if (early := await self._refused_or_faulted(request, body)) is not None:
            return early
        words, u, ttft, per_word = self._plan(body)
        model = str(body.get("model", "?"))
        usage = messages_usage(u["input"] - u["cached"], u["cached"], u["output"])
        if not body.get("stream"):
            await asyncio.sleep(ttft + per_word * len(words))
            return web.json_response(messages_body(model, " ".join(words), usage))
        return await self._stream(request, ttft, messages_events(model, self._chunks(words), usage=usage),
                                  per_word * 4)


# ---------------------------------------------------------------------------- traffic

Scenario = tuple[float, str, str, bool]  # weight, path, model, stream
CODEX_TURN = "codex-turn"  # not a path: a whole user turn of a Codex thread


def _scenarios() -> list[Scenario]:
    s: list[Scenario] = [
        (14, CODEX_TURN, "arch.codex.default", True),  # Codex turns: tool loops of ~3 requests (_CodexThread)
        (8, "/v1/responses", "arch.codex.fast", False),  # Codex side calls (titles, compaction)
        (3, "/v1/responses", "gpt-5.3-codex", True),  # an explicit model, no alias
        (14, "/v1/messages", "arch.claude", True),  # Claude Code
        (4, "/v1/messages", "arch.claude", False),
        (9, "/v1/chat/completions", "arch.local", True),  # an editor plugin on the local model
        (3, "/v1/chat/completions", "arch.local", False),
        (1.5, "/v1/responses", "gpt-4o", True),  # not configured: a 400 with the model list
        (1, "/v1/responses", "grok-4-1-fast", True),  # no XAI_API_KEY: a clear 400
        # Cross-API paths: the proxy translates.
        (6, "/v1/responses", "arch.claude", True),
        (5, "/v1/responses", "arch.local", True),
        (2, "/v1/messages", "arch.local", True),
    ]
    return s


def _body(path: str, model: str, stream: bool, prompt: str, session: str) -> dict[str, Any]:
    if path.endswith("/responses"):
        return {"model": model, "instructions": "You are Codex, a coding agent running in the user's terminal.",
                "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}],
                "tools": [{"type": "function", "name": "shell", "description": "Run a shell command",
                           "parameters": {"type": "object", "properties": {"command": {"type": "array",
                                                                                       "items": {"type": "string"}}},
                                          "required": ["command"]}}],
                "tool_choice": "auto", "parallel_tool_calls": False, "reasoning": {"effort": "medium"},
                "store": False, "stream": stream, "prompt_cache_key": session}
    if path.endswith("/messages"):
        return {"model": model, "max_tokens": 4096, "system": "You are Claude Code.",
                "messages": [{"role": "user", "content": prompt}], "stream": stream}
    body: dict[str, Any] = {"model": model, "stream": stream,
                            "messages": [{"role": "system", "content": "You are a coding assistant."},
                                         {"role": "user", "content": prompt}]}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _headers(path: str, session: str) -> dict[str, str]:
    if path.endswith("/messages"):
        return {"x-api-key": "sk-ant-demo-client-key", "anthropic-version": "2023-06-01",
                "User-Agent": "claude-cli/2.0 (planoai demo)", "x-claude-code-session-id": session}
    return {"Authorization": "Bearer sk-demo-client-key", "originator": "codex_cli_rs",
            "User-Agent": "codex_cli_rs/0.63.0 (planoai demo)", "session_id": session}


@dataclass
class _CodexThread:
    """One Codex session: its thread id, the model it asks for and the whole history it resends."""

    sid: str
    model: str
    items: list[dict[str, Any]]
    busy: bool = False
    window: int = 0  # bumped by each compaction (x-codex-window-id)

    def headers(self, turn_id: str) -> dict[str, str]:
        sid = self.sid
        meta = {"session_id": sid, "thread_id": sid, "turn_id": turn_id, "window_id": f"{sid}:{self.window}",
                "request_kind": "turn", "thread_source": "user", "sandbox_mode": "workspace-write",
                "model": self.model, "reasoning_effort": "medium"}
        return {"Authorization": "Bearer sk-demo-client-key", "originator": "codex_cli_rs",
                "User-Agent": "codex_cli_rs/0.169.0 (planoai demo)", "session-id": sid, "thread-id": sid,
                "x-client-request-id": sid, "x-codex-window-id": f"{sid}:{self.window}",
                "x-codex-turn-metadata": orjson.dumps(meta).decode(), "Accept": "text/event-stream"}

    def body(self) -> dict[str, Any]:
        return {"model": self.model, "instructions": "You are Codex, a coding agent running in the user's terminal.",
                "input": self.items, "tools": CODEX_TOOLS, "tool_choice": "auto", "parallel_tool_calls": True,
                "reasoning": {"effort": "medium", "summary": "auto"}, "store": False, "stream": True,
                "include": ["reasoning.encrypted_content"], "prompt_cache_key": self.sid,
                "client_metadata": {"session_id": self.sid}}

    def compact(self, keep: int = 48) -> None:
        """Drop the oldest turns (whole ones: a call never loses its output) once the history is long."""
        if len(self.items) <= keep:
            return
        starts = [i for i, it in enumerate(self.items) if it.get("type") == "message" and it.get("role") == "user"]
        cut = next((i for i in starts if len(self.items) - i <= keep), None)
        if cut:
            self.items = self.items[cut:]
            self.window += 1


def _tool_output(call: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """What Codex sends back after running a call (its output formats, tests/data/codex_tool_loops.json)."""
    if call.get("type") == "custom_tool_call":
        path = str(call.get("input", "")).partition("*** Update File: ")[2].partition("\n")[0] or "file"
        return {"type": "custom_tool_call_output", "call_id": call.get("call_id"),
                "output": f"Exit code: 0\nWall time: 0 seconds\nOutput:\nSuccess. Updated the following files:\n"
                          f"M {path}\n"}
    lines = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40)))
    return {"type": "function_call_output", "call_id": call.get("call_id"),
            "output": f"Chunk ID: {rng.getrandbits(24):06x}\nWall time: {rng.uniform(0.01, 2.5):.4f} seconds\n"
                      f"Process exited with code 0\nOriginal token count: {len(lines) // 4}\nOutput:\n{lines}\n"}


def _completed_output(stream: bytes) -> list[dict[str, Any]] | None:
    """The output items of a Responses stream's `response.completed` (None: the stream did not complete)."""
    for line in stream.split(b"\n"):
        if line.startswith(b"data: ") and b'"response.completed"' in line[:200]:
            with contextlib.suppress(orjson.JSONDecodeError):
                obj = orjson.loads(line[6:])
                out = (obj.get("response") or {}).get("output")
                if isinstance(out, list):
                    return [i for i in out if isinstance(i, dict)]
    return None


class DemoEnv:
    def __init__(self, config: Config, upstreams: list[SimUpstream], rng: random.Random, rate: float) -> None:
        self.config = config
        self.upstreams = upstreams
        self.rng = rng
        self.rate = rate  # mean requests per second
        self.sent = 0
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    def start_traffic(self, proxy_url: str) -> None:
        """Start the synthetic traffic task (returns at once; `stop()` ends it)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._traffic(proxy_url.rstrip("/")),
                                                                name="demo-traffic")

    async def _traffic(self, url: str) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        scenarios = _scenarios()
        weights = [s[0] for s in scenarios]
        sessions = [str(uuid.UUID(int=self.rng.getrandbits(128))) for _ in range(3)]
        threads = [_CodexThread(str(uuid.UUID(int=self.rng.getrandbits(128))), model, [])
                   for model in ("arch.codex.default", "arch.codex.default", "arch.codex.fast", "arch.codex.default")]
        while True:
            await asyncio.sleep(self.rng.expovariate(self.rate))
            if len(self._inflight) >= 16:
                continue
            _, path, model, stream = self.rng.choices(scenarios, weights)[0]
            if path == CODEX_TURN:
                idle = [t for t in threads if not t.busy]
                if not idle:
                    continue
                thread = self.rng.choice(idle)
                thread.busy = True
                job = self._codex_turn(url, thread, self.rng.choice(PROMPTS))
            else:
                job = self._one(url, path, model, stream, self.rng.choice(PROMPTS), self.rng.choice(sessions))
            task = asyncio.get_running_loop().create_task(job)
            self._inflight.add(task)  # keep a reference: the loop holds tasks only weakly
            task.add_done_callback(self._inflight.discard)

    async def _one(self, url: str, path: str, model: str, stream: bool, prompt: str, session: str) -> None:
        assert self._session is not None
        self.sent += 1
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._session.post(url + path, json=_body(path, model, stream, prompt, session),
                                          headers=_headers(path, session)) as resp:
                async for _ in resp.content.iter_any():
                    pass

    async def _codex_turn(self, url: str, thread: _CodexThread, prompt: str) -> None:
        """One user turn of a Codex thread: the prompt, then a request per round of tool calls, each resending
        the whole history with the calls' outputs, until the model answers with text (Codex retries a
        failed request a few times, then gives the turn up)."""
        assert self._session is not None
        rng = self.rng
        try:
            thread.compact()
            turn_id = str(uuid.UUID(int=rng.getrandbits(128)))
            thread.items.append({"type": "message", "role": "user",
                                 "content": [{"type": "input_text", "text": prompt}]})
            failures = 0
            for _ in range(12):
                self.sent += 1
                out: list[dict[str, Any]] | None = None
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with self._session.post(url + "/v1/responses", json=thread.body(),
                                                  headers=thread.headers(turn_id)) as resp:
                        raw = await resp.read()
                        if resp.status == 200:
                            out = _completed_output(raw)
                if out is None:
                    failures += 1
                    if failures > 2:
                        return
                    await asyncio.sleep(rng.uniform(0.2, 0.8))  # Codex's backoff, then the same request again
                    continue
                thread.items += out
                calls = [i for i in out if i.get("type") in TOOL_CALL_ITEMS]
                if not calls:
                    return  # a text answer ends the turn
                await asyncio.sleep(rng.uniform(0.1, 0.9))  # the commands run
                thread.items += [_tool_output(c, rng) for c in calls]
        finally:
            thread.busy = False

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._inflight) if t is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        if self._session is not None:
            await self._session.close()
        for up in self.upstreams:
            await up.stop()


async def start_demo(*, seed: int | None = None, rate: float = 2.5) -> DemoEnv:
    """Start the simulated upstreams and build the demo config (traffic starts with `start_traffic`)."""
    rng = random.Random(seed)
    starters: list[Callable[[], Awaitable[SimUpstream]]] = [
        SimUpstream("openai", Profile((0.15, 0.7), (70, 140), p429=0.03, p5xx=0.01), rng).start,
        SimUpstream("anthropic", Profile((0.3, 1.0), (50, 90), p429=0.02, p5xx=0.01, status_5xx=529), rng).start,
        SimUpstream("ollama", Profile((0.05, 0.25), (25, 45), p429=0.0, p5xx=0.005), rng).start,
    ]
    ups = [await s() for s in starters]
    text = DEMO_CONFIG.format(openai=ups[0].url, anthropic=ups[1].url, ollama=ups[2].url)
    config = parse_config(text, "(demo)", DEMO_ENV)
    return DemoEnv(config, ups, rng, rate)
