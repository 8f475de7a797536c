"""Sessions as a coding agent's user sees them: turns, each a tool loop of requests (issue #17).

Three parts:
- request-path helpers the handler calls once per request, each O(1): `turn_facts` (Codex's `turn_id`
  and whether the request starts a user turn), `agent_of` (which client), `tool_names_of` (the tool
  calls a whole answer body carried);
- `SessionLog`, a bus subscriber folding terminal records into their sessions' turns (in batches, before
  any read), bounded (sessions LRU, turns and steps per session capped), read by the sessions screen through
  `proxy.frontend` (`rows()`, `turns()`) and by the handler (`context_of()`);
- the context-window guard: `WindowBook` (a model's window from Codex's catalog facts and the price
  table's limits) and `fit_window`, which keeps alias, route and fallback candidates whose window holds
  the conversation.

A turn starts at a new Codex `turn_id`, else at a request whose last input item is a user message (not
a tool output). A turn whose steps ran on more than one model is flagged with why the model changed:
`fallback`, `budget` (the routing budget kept or moved the anchor), `route`, `alias retarget`.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .events import RequestRecord
from .frontend import StepView, TurnView
from .sessions import cache_window_s, header
from .wire.providers import Api

MAX_SESSIONS = 500  # sessions kept (LRU); the view shows the live ones
MAX_TURNS = 100  # turns kept per session (oldest dropped)
MAX_STEPS = 200  # requests kept per turn
LIVE_S = 3600.0  # a session idle longer than this is no longer listed
_TOOL_TYPES = frozenset({"function_call", "custom_tool_call", "local_shell_call", "tool_search_call"})
_OUTPUT_TYPES = frozenset({"function_call_output", "custom_tool_call_output", "local_shell_call_output",
                           "tool_search_output", "mcp_call_output"})


# ----------------------------------------------------------------------------- request-path helpers
def codex_turn_id(headers: Any) -> str | None:
    """`turn_id` from Codex's `x-codex-turn-metadata` JSON header (docs/codex-wire.md, the turn key)."""
    raw = header(headers, "x-codex-turn-metadata")
    if not raw or "turn_id" not in raw:
        return None
    try:
        meta = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    turn = meta.get("turn_id") if isinstance(meta, dict) else None
    return str(turn) if turn else None


def starts_user_turn(api: Api, body: Mapping[str, Any]) -> bool | None:
    """Whether the request's last input item is a user message (True) or a tool output (False)."""
    if api is Api.RESPONSES:
        items = body.get("input")
        if isinstance(items, str):
            return True
        if not isinstance(items, list) or not items or not isinstance(items[-1], dict):
            return None
        last = items[-1]
        kind = last.get("type", "message")
        if kind in _OUTPUT_TYPES:
            return False
        return kind == "message" and last.get("role") == "user"
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs or not isinstance(msgs[-1], dict):
        return None
    last = msgs[-1]
    role = last.get("role")
    if role == "tool":
        return False
    if role != "user":
        return None
    content = last.get("content")
    # Claude Code sends tool results as a user message of tool_result blocks
    return not (isinstance(content, list)
                and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content))


def turn_facts(headers: Any, body: Mapping[str, Any], api: Api) -> tuple[str | None, bool | None]:
    return codex_turn_id(headers), starts_user_turn(api, body)


def agent_of(headers: Any) -> str | None:
    """The client's product: Codex's `originator` header, else the User-Agent's first token."""
    if headers is None:
        return None
    v = headers.get("originator")
    if v:
        return str(v)
    ua = headers.get("user-agent") or headers.get("User-Agent")
    return str(ua).split("/", 1)[0].split(" ", 1)[0] or None if ua else None


def tool_names_of(obj: Any) -> tuple[str, ...]:
    """Tool calls in a whole answer body of any API (Responses output, Chat tool_calls, Messages tool_use)."""
    if not isinstance(obj, dict):
        return ()
    out = obj.get("output")
    if isinstance(out, list):
        return tuple(str(i.get("name") or i.get("type")) for i in out
                     if isinstance(i, dict) and i.get("type") in _TOOL_TYPES)
    content = obj.get("content")
    if isinstance(content, list):
        return tuple(str(b.get("name")) for b in content if isinstance(b, dict) and b.get("type") == "tool_use")
    choices = obj.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        calls = (choices[0].get("message") or {}).get("tool_calls") or ()
        return tuple(str((c.get("function") or {}).get("name")) for c in calls if isinstance(c, dict))
    return ()


# ----------------------------------------------------------------------------- context windows
class WindowBook:
    """A model's context window: Codex's bundled catalog for its own slugs, else the price table's
    limit (models.dev `limit.context`, genai-prices `context_window`), else the capability family
    (proxy.wire.models). None when nothing knows it (no guard, no meter)."""

    def __init__(self, caps: Callable[[str, Any], Any], priced: Callable[[str], int | None],
                 generation: Callable[[], Any] = lambda: 0, provider_named: Callable[[str], Any] = lambda n: None,
                 ) -> None:
        self._caps = caps  # (upstream model, provider) -> ModelCaps
        self._provider_named = provider_named  # a record names its provider; the config has it
        self._priced = priced  # canonical "provider/model" -> window from the price table
        self._generation = generation  # moves when the price table does (it loads in the background)
        self._gen: Any = None
        self._cache: dict[tuple[str, str], int | None] = {}

    def window(self, provider: Any, model: str) -> int | None:
        """`provider`: a config `Provider`, or its name (as a record has it)."""
        if isinstance(provider, str):
            provider = self._provider_named(provider)
        gen = self._generation()
        if gen != self._gen:
            self._gen = gen
            self._cache.clear()
        key = (getattr(provider, "name", "") or "", model)
        hit = self._cache.get(key, -1)
        if hit != -1:
            return hit
        caps = self._caps(model, provider)
        win: int | None = caps.context_window if caps.source == "bundled" else None
        if win is None and provider is not None:
            win = self._priced(f"{provider.prefix}/{model}") or self._priced(model)
        if win is None and caps.source != "default":
            win = caps.context_window
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[key] = win
        return win


def fit_window(cands: list[Any], context: int, book: WindowBook,
               before_route: Any | None = None) -> tuple[list[Any], list[str]]:
    """(candidates whose window holds `context` tokens, why the others were skipped). Only models the
    client did not name itself are skipped (alias, route, fallback, default): for an explicit model the
    provider is the judge. A skipped route falls back to the model as requested (`before_route`)."""
    kept: list[Any] = []
    notes: list[str] = []
    for c in cands:
        win = book.window(c.provider, c.upstream_model) if c.via not in ("explicit", "wildcard") else None
        if win is not None and win < context:
            model = f"{c.provider.name.split('/', 1)[0]}/{c.upstream_model}"
            notes.append(f"{model} skipped ({c.via}): window {win:,} < context {context:,} tokens")
            if c.via == "route" and before_route is not None and before_route.provider is not c.provider:
                alt, _ = fit_window([before_route], context, book)
                kept += [a for a in alt if all(a.provider is not k.provider for k in kept)]
            continue
        kept.append(c)
    return kept, notes


# ----------------------------------------------------------------------------- the session log
@dataclass(slots=True)
class _Turn:
    index: int
    turn_id: str | None
    started_at: float
    # StepView's fields as plain tuples: built on every request, a tuple costs a tenth of the frozen
    # dataclass, which the sessions screen gets only when it asks (view()).
    steps: list[tuple[Any, ...]] = field(default_factory=list)
    switch: str | None = None

    def view(self) -> TurnView:
        steps = tuple(StepView(*s) for s in self.steps)
        models = tuple(dict.fromkeys(s.model for s in steps))
        return TurnView(self.index, self.turn_id, self.started_at, steps, models, self.switch)


_STEP_MODEL = 2  # StepView's field order: request_id, started_at, model, …


@dataclass(slots=True)
class _Trace:
    session_id: str
    client: str
    last_used: float  # monotonic
    turns: deque[_Turn] = field(default_factory=lambda: deque(maxlen=MAX_TURNS))
    n_turns: int = 0
    requests: int = 0
    input_tokens: int = 0  # the last request's: the context now
    input_total: int = 0
    cached_total: int = 0
    cost_usd: float = 0.0
    models: dict[str, None] = field(default_factory=dict)  # in first-use order
    model: str | None = None  # the last step's
    provider: Any = None
    upstream_model: str | None = None
    alias: str | None = None
    alias_target: str | None = None
    route: str | None = None
    skipped: str | None = None  # the last window skip


_MODELS: dict[tuple[str, str], str] = {}


def _model_of(r: RequestRecord) -> str:
    """Canonical "provider/model" (a provider's name is often its model string, "openai/gpt-5.3-codex")."""
    if r.provider and r.upstream_model:
        m = _MODELS.get((r.provider, r.upstream_model))
        if m is None:
            if len(_MODELS) > 1024:
                _MODELS.clear()
            m = _MODELS[(r.provider, r.upstream_model)] = f"{r.provider.split('/', 1)[0]}/{r.upstream_model}"
        return m
    return r.client_model or "?"


def _client_of(r: RequestRecord) -> str:
    a = r.agent or ""
    if a.startswith("codex"):
        return "codex"
    if a.startswith("claude"):
        return "claude-code"
    return a or r.client_api


def switch_reason(prev: _Trace, r: RequestRecord) -> str:
    """Why this request's model differs from the previous step's in the same turn."""
    if r.via == "fallback" or len(r.attempts) > 1:
        return "fallback"
    rt = r.route
    if rt is not None and (rt.decision == "retained" or rt.switched):
        return "budget" if rt.decision_reason in ("over_cap", "within_cap", "no_pricing") else "route"
    if rt is not None and rt.route != prev.route:
        return "route"
    if r.alias and r.alias == prev.alias and r.alias_target != prev.alias_target:
        return "alias retarget"
    if r.notes and any("skipped" in n and "window" in n for n in r.notes):
        return "context window"
    return "route" if r.via == "route" else "model changed"


class SessionLog:
    """Per-session turns and tool loops, folded from terminal records (a bus callback, O(1) each, batched)."""

    def __init__(self, windows: WindowBook | None = None, clock: Callable[[], float] | None = None,
                 max_sessions: int = MAX_SESSIONS) -> None:
        self.windows = windows
        self.clock = clock or time.monotonic
        self.max_sessions = max_sessions
        self._data: OrderedDict[str, _Trace] = OrderedDict()
        # Records not folded yet, with when they arrived. Every Codex and Claude Code request names its
        # session, and folding each as it came cost ~7 µs of it (8 % of a small request's throughput, paid
        # whether sessions are on or not): folded in batches, before any read. The handler's one read per
        # request, the context size, has its own map, kept as records arrive.
        self._pending: list[tuple[RequestRecord, float]] = []
        self._context: dict[str, int] = {}
        self.version = 0

    def __len__(self) -> int:
        self._fold()
        return len(self._data)

    def __call__(self, event: Any) -> None:  # RequestFinished / RequestFailed
        r = event.record
        if r.session_id:
            q = self._pending
            q.append((r, self.clock()))
            if r.usage.input_tokens:
                self._context[r.session_id] = r.usage.input_tokens
            self.version += 1  # a dashboard polling the version redraws (and folds)
            if len(q) >= 64:
                self._fold()

    def _fold(self) -> None:
        if self._pending:
            q, self._pending = self._pending, []
            for r, now in q:
                self.add(r, now)

    def add(self, r: RequestRecord, now: float | None = None) -> None:
        if now is None:
            now = self.clock()
        t = self._data.get(r.session_id or "")
        if t is None:
            t = _Trace(r.session_id or "", _client_of(r), now)
            self._data[t.session_id] = t
            while len(self._data) > self.max_sessions:
                self._context.pop(self._data.popitem(last=False)[0], None)
        else:
            self._data.move_to_end(t.session_id)
        model = _model_of(r)
        cur = t.turns[-1] if t.turns else None
        new_turn = cur is None or (r.turn_id is not None and r.turn_id != cur.turn_id) or (
            r.user_turn is True and (r.turn_id is None or cur.turn_id is None))
        switch = None
        if not new_turn and cur is not None and cur.steps and cur.steps[-1][_STEP_MODEL] != model and r.provider:
            switch = switch_reason(t, r)
            cur.switch = cur.switch or switch
        if new_turn:
            t.n_turns += 1
            cur = _Turn(t.n_turns, r.turn_id, r.started_at)
            t.turns.append(cur)
        assert cur is not None
        u = r.usage
        skipped = next((n for n in r.notes if "skipped" in n and "window" in n), None) if r.notes else None
        note = skipped or (r.error[:200] if r.error else None)
        if len(cur.steps) < MAX_STEPS:
            cur.steps.append((r.request_id, r.started_at, model, r.status, r.tool_calls, u.input_tokens,
                              u.cached_tokens, u.output_tokens, r.latency_ms, switch, note))
        t.requests += 1
        t.last_used = now
        if u.input_tokens:
            t.input_tokens = self._context[t.session_id] = u.input_tokens
            t.input_total += u.input_tokens
            t.cached_total += u.cached_tokens
        if r.cost is not None:
            t.cost_usd += r.cost.total_usd
        if r.provider:
            t.models.setdefault(model)
            t.model, t.upstream_model = model, r.upstream_model
            t.provider = r.provider
        t.alias, t.alias_target = r.alias, r.alias_target
        t.route = r.route.route if r.route is not None else None
        t.skipped = skipped
        self.version += 1

    # -- reads (the front end, the handler)
    def context_of(self, session_id: str | None) -> int:
        """The session's context size: the prompt tokens of its last answer that counted them."""
        return self._context.get(session_id, 0) if session_id else 0

    def live(self) -> Iterable[_Trace]:
        self._fold()
        now = self.clock()
        return [t for t in reversed(self._data.values()) if now - t.last_used <= LIVE_S]

    def turns(self, session_id: str) -> list[TurnView]:
        self._fold()
        t = self._data.get(session_id)
        return [x.view() for x in t.turns] if t is not None else []

    def on_alias(self, alias: str) -> list[_Trace]:
        return [t for t in self.live() if t.alias == alias]

    def clear(self) -> None:
        self._pending.clear()
        self._context.clear()
        self._data.clear()
        self.version += 1


def trace_fields(t: _Trace, now: float, window: int | None) -> dict[str, Any]:
    """A trace as `SessionRow` fields (proxy.session_view joins them with the routing binding)."""
    model = t.model or "?"
    idle = max(0.0, now - t.last_used)
    win_s = cache_window_s(model)
    return {
        "session_id": t.session_id, "anchor": model, "warm": idle <= win_s, "idle_s": idle, "window_s": win_s,
        "context_tokens": t.input_tokens, "requests": t.requests, "cost_usd": t.cost_usd, "alias": t.alias,
        "client": t.client, "models": tuple(t.models), "turns": t.n_turns, "context_window": window,
        "cache_ratio": t.cached_total / t.input_total if t.input_total else None, "note": t.skipped,
    }

