"""Sessions, Plano's way (docs/plano-sessions.md §2; brightstaff affinity.rs, session_router.rs,
session_cache/).

A session key comes from, strongest first:
- `X-Model-Affinity: <id>` (explicit; always honoured);
- the coding agent's own session header (Codex `session-id`, Claude Code `X-Claude-Code-Session-Id`),
  when sessions are on — reported as sent; the binding is also keyed by the stable prefix so Claude
  Code's sub-agents (same session header, their own system prompt) keep their own bindings;
- Plano's implicit key `implicit:<16 hex>`, a hash of system + tools + first user message, when implicit
  affinity is on (prompt_caching.session_affinity, a routing budget, or route_on_user_only with routing
  preferences). `X-Plano-Cache: off` turns the implicit key off for one request.

One `SessionStore` holds the bindings (anchor model, lane, prefix hash, last use, context tokens, the
budget's running totals) for the proxy path and the `/routing/v1/*` decision API alike. A binding is
*warm* while the idle time since its last use is within the provider's prompt-cache window (Plano infers
warmth, it never needs a cache-hit signal).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

AFFINITY_HEADER = "x-model-affinity"
CACHE_HEADER = "x-plano-cache"
CLIENT_SESSION_HEADERS = ("session-id", "session_id", "x-claude-code-session-id")
IMPLICIT_PREFIX = "implicit:"
# Plano's ProviderCacheCapability default (every provider today): a 5-minute sliding window.
DEFAULT_CACHE_WINDOW_S = 300.0
CACHE_WINDOW_S: dict[str, float] = {}  # provider prefix → window, where one differs from the default
HISTORY_MAX = 8  # route visits kept per session (Plano bounds its history too)


_WINDOWS: dict[str, float] = {}  # model → its window (asked on every request of a session)


def cache_window_s(model: str) -> float:
    """The prompt-cache idle window of the provider serving `model` ("anthropic/claude-…")."""
    w = _WINDOWS.get(model)
    if w is None:
        if len(_WINDOWS) > 4096:
            _WINDOWS.clear()
        w = _WINDOWS[model] = CACHE_WINDOW_S.get(model.split("/", 1)[0], DEFAULT_CACHE_WINDOW_S)
    return w


def header(headers: Mapping[str, str] | Any, name: str) -> str | None:
    """`name` is lower case; aiohttp's headers are case-insensitive, a plain dict (tests, bench) is not."""
    if headers is None:
        return None
    v = headers.get(name)
    if v is None and isinstance(headers, dict):
        v = next((val for k, val in headers.items() if k.lower() == name), None)
    return str(v) if v else None


# blake2b in C: the system prompt of a coding agent is 10-40 KB, hashed on every request. Salted like
# Plano's (keys are never prompt text); 8 bytes → the `implicit:<16 hex>` shape. The keyed initial state is
# built once and copied per request (a keyed init hashes a whole key block each time).
_SALTED = hashlib.blake2b(digest_size=8, key=b"plano-affinity-v1")


def _hasher(*chunks: str) -> Any:
    h = _SALTED.copy()
    for c in chunks:
        h.update(c.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h


# The blake2b state after (instructions, tool names): every request of a session re-sends the same system
# prompt. Memoised under a fingerprint (length, both ends, tools) and confirmed by comparing the whole text
# (one memcmp): keyed by the text itself, the dict hashed Codex's 19 KB prompt on every request (~12 µs:
# each request parses a fresh str, whose hash Python has not cached).
_PREFIXES: dict[tuple[int, str, str, str], tuple[str, Any, int]] = {}
_PREFIXES_MAX = 1024


_LAST_PREFIX: list[Any] = [None, None, None, 0]  # the last (instructions, tool names, state, hash) asked


def _prefix_state(instructions: str, tool_names: tuple[str, ...] | list[str]) -> tuple[Any, int]:
    """(the hash state after system + tools, its digest as the prefix hash). Every turn of a session asks
    for the same prefix as the turn before (the head reader hands back the same instructions string), so
    the last answer is checked first, without building the fingerprint."""
    last = _LAST_PREFIX
    if last[0] == instructions and last[1] == tool_names:  # str equality is identity first, then memcmp
        return last[2], last[3]
    tools = ",".join(tool_names) if tool_names else ""
    k = (len(instructions), instructions[:64], instructions[-64:], tools)
    got = _PREFIXES.get(k)
    if got is None or got[0] != instructions:  # new, or another prompt with the same fingerprint
        if len(_PREFIXES) >= _PREFIXES_MAX:
            _PREFIXES.clear()
        h = _hasher(instructions, tools)
        got = _PREFIXES[k] = (instructions, h, int.from_bytes(h.digest(), "big"))
    last[:] = instructions, tuple(tool_names), got[1], got[2]
    return got[1], got[2]


class SessionRef(NamedTuple):  # a NamedTuple: built on every request, ~5x cheaper than a frozen dataclass
    session_id: str  # what the decision API and the dashboard show
    key: str  # the store key
    prefix_hash: int | None  # hash of system + tools: a change means the provider cache is lost
    source: str  # affinity | client | implicit


# (source, id, prefix hash) → its SessionRef: every request of a session names the same one (building the
# tuple and its key string was a third of `resolve`).
_REFS: dict[tuple[str, str, int | None], SessionRef] = {}


def _ref(source: str, session_id: str, prefix: int | None) -> SessionRef:
    k = (source, session_id, prefix)
    ref = _REFS.get(k)
    if ref is None:
        if len(_REFS) >= 4096:
            _REFS.clear()
        key = f"a:{session_id}" if source == "affinity" else f"c:{session_id}:{prefix}"
        ref = _REFS[k] = SessionRef(session_id, key, prefix, source)
    return ref


def resolve(
    headers: Any,
    instructions: str,
    tool_names: tuple[str, ...] | list[str],
    first_user: str | None,
    implicit_on: bool,
) -> SessionRef | None:
    """The request's session, or None (nothing to anchor to)."""
    if headers is None or isinstance(headers, dict):  # tests and benches: a plain dict, in any case
        headers = {str(k).lower(): v for k, v in (headers or {}).items()}
    get = headers.get  # aiohttp's headers are case-insensitive; every request asks up to five of them
    off = get(CACHE_HEADER)
    cache_off = bool(off) and str(off).lower() == "off"
    explicit = get(AFFINITY_HEADER) or None
    client = None
    if not explicit:
        if not implicit_on or cache_off:
            return None
        for name in CLIENT_SESSION_HEADERS:
            if client := get(name):
                break
    prefix = None
    if not cache_off and first_user is not None:
        base, prefix = _prefix_state(instructions, tool_names)
        if not explicit and not client:  # only the implicit key hashes the first user message too
            h = base.copy()  # the memoised state stays as it is
            h.update(first_user.encode("utf-8", "surrogatepass"))
            h.update(b"\x1f")
            session = f"{IMPLICIT_PREFIX}{h.hexdigest()}"
            return SessionRef(session, session, prefix, "implicit")
    if explicit:
        return _ref("affinity", str(explicit), prefix)
    if client:
        return _ref("client", str(client), prefix)
    return None


@dataclass(slots=True)
class Visit:
    model: str
    last_used: float
    cached_tokens: int


@dataclass(slots=True)
class Binding:
    """One session's state (Plano's SessionBinding, plus what the dashboard shows)."""

    session_id: str
    anchor_model: str  # canonical "provider/model" serving the session
    default_model: str  # the never-switch model of this warm episode (prices the baseline)
    requested_model: str  # the lane: the client's model after alias resolution
    route_name: str | None
    prefix_hash: int | None
    last_used: float  # monotonic seconds
    cached_tokens: int = 0  # context size, refined from usage
    baseline_usd: float = 0.0
    switch_spend_usd: float = 0.0
    switches: int = 0
    session_cost_usd: float = 0.0
    history: list[Visit] = field(default_factory=list)
    decision: str | None = None  # allowed | retained (last routing-budget verdict)
    reason: str | None = None  # same_anchor | free | within_cap | over_cap | no_pricing
    requests: int = 0
    source: str = "implicit"
    last_switch_cost: float | None = None  # USD the gate computed for the last proposed switch
    last_switch_warm_tokens: int = 0  # the candidate's warm credit in that computation
    alias: str | None = None  # the alias the client named, for the dashboard's retarget preview

    def idle_s(self, now: float) -> float:
        return max(0.0, now - self.last_used)

    def warm(self, now: float) -> bool:
        return self.idle_s(now) <= cache_window_s(self.anchor_model)

    def visit(self, model: str, now: float, tokens: int) -> None:
        for v in self.history:
            if v.model == model:
                v.last_used, v.cached_tokens = now, tokens
                break
        else:
            self.history.append(Visit(model, now, tokens))
            if len(self.history) > HISTORY_MAX:
                self.history.sort(key=lambda v: v.last_used)
                del self.history[0]

    def warm_tokens_on(self, model: str, now: float, context_tokens: int) -> int:
        """Context `model` still holds cached from an earlier visit this session (Plano's warm credit)."""
        for v in self.history:
            if v.model == model and now - v.last_used <= cache_window_s(model):
                return min(v.cached_tokens, context_tokens)
        return 0


class SessionStore:
    """Bindings in this process: an LRU bounded by `max_entries`, each living `ttl_s` after its last use
    (routing.session_ttl_seconds, or prompt_caching.session_ttl_seconds; Plano's memory session cache)."""

    def __init__(self, ttl_s: float = 600.0, max_entries: int = 10_000, clock: Callable[[], float] | None = None):
        self.ttl_s = ttl_s
        self.max_entries = max(1, max_entries)
        self.clock = clock or time.monotonic
        self._data: OrderedDict[str, Binding] = OrderedDict()
        self._keys: dict[str, str] = {}  # session id → the store key it was last bound under
        self._last: str | None = None  # the key most recently put or touched: the LRU's newest
        self._settled: list[Any] = []  # records whose response side (settle) is not applied yet
        self.version = 0  # bumped on every change, so the dashboard redraws only when something moved

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, now: float | None = None) -> Binding | None:
        if self._settled:
            self.apply_settled()
        b = self._data.get(key)
        if b is None:
            return None
        if (self.clock() if now is None else now) - b.last_used > self.ttl_s:
            del self._data[key]
            self.version += 1
            return None
        return b

    def put(self, key: str, binding: Binding) -> None:
        self._data[key] = binding
        self._data.move_to_end(key)
        self._keys[binding.session_id] = key
        self._last = key
        while len(self._data) > self.max_entries:
            _, old = self._data.popitem(last=False)
            if self._keys.get(old.session_id) not in self._data:
                self._keys.pop(old.session_id, None)
        self.version += 1

    def settle(self, session_id: str, prompt_tokens: int, cost_usd: float | None) -> None:
        """The response side (Plano refreshes the binding from real usage): the provider's prompt-token
        count becomes the session's context size, and the request's cost adds to the conversation's."""
        key = self._keys.get(session_id)
        b = self._data.get(key) if key is not None else None
        if b is None:
            return
        if prompt_tokens > 0:
            b.cached_tokens = prompt_tokens
            for v in b.history:
                if v.model == b.anchor_model:
                    v.cached_tokens = prompt_tokens
        if cost_usd is not None:
            b.session_cost_usd += cost_usd
        self.version += 1

    def settle_later(self, record: Any) -> None:
        """`settle` from a finished request's record, queued: applied in batches, before anything reads what
        it changes (`get`, `live`). A warm session's turn on its anchor never reads it (`warm_turn`),
        and settling each response as it came cost ~2 µs of it. The version moves now, so a dashboard
        polling it still redraws."""
        if not self._data:  # no bindings: nothing to settle
            return
        q = self._settled
        q.append(record)
        self.version += 1
        if len(q) >= 64:
            self.apply_settled()

    def apply_settled(self) -> None:
        q, self._settled = self._settled, []
        for r in q:
            self.settle(r.session_id, r.usage.input_tokens, r.cost.total_usd if r.cost else None)

    def live(self) -> Iterator[Binding]:
        """Unexpired bindings, most recently used first."""
        if self._settled:
            self.apply_settled()
        now = self.clock()
        for b in reversed(list(self._data.values())):
            if now - b.last_used <= self.ttl_s:
                yield b

    def by_session(self, session_id: str) -> Binding | None:
        return next((b for b in self.live() if b.session_id == session_id), None)

    def warm_turn(self, ref: SessionRef, candidate: str, route: str | None, lane: str, alias: str | None,
                  context_tokens: int = 0) -> float | None:
        """A turn of a warm, undrifted session on its anchor, without a routing budget, recorded as `bind`
        would (decision `allowed`, reason `same_anchor`); returns the idle time before it. None: not that
        case, and nothing was changed (`bind`'s general path decides). Every turn of a coding agent's
        session but the first is this case, so it is kept to the few reads and writes it needs."""
        now = self.clock()
        b = self._data.get(ref.key)
        if b is None or b.anchor_model != candidate:
            return None
        idle = now - b.last_used
        if idle < 0.0 or idle > (_WINDOWS.get(candidate) or cache_window_s(candidate)) or idle > self.ttl_s:
            return None
        if b.prefix_hash != ref.prefix_hash and b.prefix_hash is not None and ref.prefix_hash is not None:
            return None  # drifted: a new episode
        b.route_name, b.decision, b.reason = route, "allowed", "same_anchor"
        _used(self, ref, b, candidate, lane, now, alias, context_tokens, True)
        return idle

    def touch(self, key: str, b: Binding) -> None:
        """`put` for a binding already stored under `key` (`warm_turn`): it becomes the most recent.
        A local proxy mostly sees one session's turns back to back: then it already is."""
        if key is not self._last:
            self._data.move_to_end(key)
            self._keys[b.session_id] = key
            self._last = key
        self.version += 1

    def clear(self) -> None:
        self._settled.clear()
        self._last = None
        self._data.clear()
        self._keys.clear()
        self.version += 1


class SessionDecision(NamedTuple):
    model: str  # canonical model to dispatch (the anchor when a switch was retained)
    route: str | None
    warm: bool  # a warm, undrifted binding existed: the decision API's `pinned`
    switched: bool
    decision: str | None = None  # allowed | retained, when a warm session saw a different candidate
    reason: str | None = None
    idle_s: float = 0.0  # since the binding's previous use (0 for a new one)


class Gate(Protocol):
    """The routing budget (proxy.budget): what a warm session pays to leave its anchor."""

    replenish_on_rebind: bool

    def accrue(self, b: Binding, context_tokens: int) -> None:
        """Grow the never-switch baseline by this turn's read cost on the session's default model."""

    def evaluate(self, b: Binding, candidate: str, context_tokens: int, now: float) -> tuple[str, str, bool]:
        """(decision, reason, allowed) for switching from the warm anchor to `candidate`."""
        ...


def bind(
    store: SessionStore,
    ref: SessionRef,
    candidate: str,
    route: str | None,
    lane: str,
    context_tokens: int,
    gate: Gate | None = None,
    alias: str | None = None,
) -> SessionDecision:
    """Plano's session_router::route: honour the candidate on a cold (or drifted) session and start a warm
    episode; on a warm one, the same anchor stays, a different candidate asks the gate (no budget: follow
    the router freely, reason `free`). The binding is stored either way."""
    if gate is None and (idle := store.warm_turn(ref, candidate, route, lane, alias, context_tokens)) is not None:
        return SessionDecision(candidate, route, True, False, "allowed", "same_anchor", idle)
    now = store.clock()
    b = store.get(ref.key, now)
    idle = b.idle_s(now) if b is not None else 0.0
    drifted = b is not None and b.prefix_hash is not None and ref.prefix_hash is not None and (
        b.prefix_hash != ref.prefix_hash
    )
    warm = b is not None and b.warm(now) and not drifted
    model, decision, reason, switched = candidate, None, None, False
    if b is not None and warm:
        ctx = b.cached_tokens if b.cached_tokens > 0 else context_tokens  # usage-refined count first
        if gate is not None:
            gate.accrue(b, ctx)
        if candidate == b.anchor_model:
            decision, reason = "allowed", "same_anchor"
        elif gate is not None:
            decision, reason, switched = gate.evaluate(b, candidate, ctx, now)
            if not switched:
                model, route = b.anchor_model, b.route_name
        else:
            decision, reason, switched = "allowed", "free", True
        b.switches += 1 if switched else 0
        b.anchor_model, b.route_name = model, route
        b.decision, b.reason = decision, reason
    else:
        fresh = Binding(ref.session_id, model, model, lane, route, ref.prefix_hash, now, source=ref.source)
        if b is not None:  # a cold or drifted re-bind starts a new warm episode; cost is per conversation
            fresh.session_cost_usd, fresh.requests = b.session_cost_usd, b.requests
            if not drifted:
                fresh.history = b.history
            if gate is not None and not gate.replenish_on_rebind:
                fresh.baseline_usd, fresh.switch_spend_usd = b.baseline_usd, b.switch_spend_usd
                fresh.default_model = b.default_model or model
        b = fresh
    _used(store, ref, b, model, lane, now, alias, context_tokens)
    return SessionDecision(model, route, warm, switched, decision, reason, idle)


def _used(store: SessionStore, ref: SessionRef, b: Binding, model: str, lane: str, now: float, alias: str | None,
          context_tokens: int, stored: bool = False) -> None:  # fmt: skip
    """What every request does to its binding, whatever was decided: its lane, prefix and last use, its
    context size, the model's visit, and its place in the store (`stored`: it is there under `ref.key`)."""
    b.requested_model, b.prefix_hash, b.last_used, b.alias = lane, ref.prefix_hash, now, alias
    if context_tokens > 0:
        b.cached_tokens = context_tokens
    b.requests += 1
    b.visit(model, now, b.cached_tokens)
    if stored:
        store.touch(ref.key, b)
    else:
        store.put(ref.key, b)


def replay(store: SessionStore, ref: SessionRef | None, lane: str) -> Binding | None:
    """Plano's reuse_prior_decision: the binding a non-user turn replays, if warm, undrifted, same lane."""
    if ref is None:
        return None
    b = store.get(ref.key)
    if b is None or b.requested_model != lane or not b.warm(store.clock()):
        return None
    if b.prefix_hash is not None and ref.prefix_hash is not None and b.prefix_hash != ref.prefix_hash:
        return None
    return b
