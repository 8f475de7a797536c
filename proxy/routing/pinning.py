"""Turn pinning: which session and turn a request belongs to, and the decisions already made for them.

A coding agent's turn is one user message followed by a tool loop (Codex: `function_call_output` /
`custom_tool_call_output`; Claude Code: a user message of `tool_result` blocks). Routing every request
of the loop lets one turn hop between providers mid-tool-call (docs/plano-compat.md §3.6); so the router decides on
the user turn and the loop replays that decision.

Keys, strongest first:
- turn: Codex's `turn_id` (from the `x-codex-turn-metadata` JSON header), constant across a turn;
- session: the request's session (proxy.sessions: `X-Model-Affinity`, the client's session header, or
  Plano's implicit key); a continuation with no turn id replays the session's warm binding there;
- retry: session + item count + the last user text, so a retried user turn is not routed twice.
Every key includes the "lane", the requested model, as Plano does: Claude Code's small-model side calls
never replay the main conversation's decision.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..sessions import header
from ..turns import codex_turn_id
from .conversation import Conversation

_CLIENT_SESSION_HEADERS = ("session-id", "session_id", "x-claude-code-session-id", "thread-id")


@dataclass(frozen=True, slots=True)
class Keys:
    session: str  # what the decision API reports as session_id
    session_key: str
    turn_key: str | None
    retry_key: str


@dataclass(frozen=True, slots=True)
class Pinned:
    """A decision as cached: enough to replay it and to say where it came from."""

    route: str | None
    model: str | None  # the routed model as configured (None = stay on the requested model)
    backend: str | None
    raw: str | None
    reason: str | None
    latency_ms: float | None
    served: str | None = None  # provider/upstream model that served it, for the decision API's `switched`


def _digest(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=12)
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def keys_for(
    headers: Mapping[str, str] | Any, conv: Conversation, lane: str, session_key: str | None = None
) -> Keys:
    """`session_key`: the session's store key (proxy.sessions), when the request has a session."""
    implicit = _digest(conv.instructions, "\x1f".join(conv.tool_names), conv.first_user)
    affinity = header(headers, "x-model-affinity")
    if session_key is None and affinity:
        session, skey = affinity, _digest("affinity", affinity)
    elif session_key is None:
        client = next((v for h in _CLIENT_SESSION_HEADERS if (v := header(headers, h))), None)
        session, skey = client or implicit, _digest("session", client or "", implicit)
    else:
        session, skey = session_key, _digest("session", session_key)
    turn = codex_turn_id(headers)
    return Keys(
        session=session,
        session_key=f"s:{lane}:{skey}",
        turn_key=f"t:{lane}:{_digest(skey, turn)}" if turn else None,
        retry_key=f"r:{lane}:{_digest(skey, str(len(conv.turns)), conv.latest_user_text)}",
    )


class DecisionCache:
    """A bounded LRU of decisions with a sliding time-to-live (`routing.session_ttl_seconds`)."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max(1, max_entries)
        self._data: OrderedDict[str, tuple[float, Pinned]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str | None, now: float | None = None) -> Pinned | None:
        if key is None:
            return None
        hit = self._data.get(key)
        if hit is None:
            return None
        now = time.monotonic() if now is None else now
        if now - hit[0] > self.ttl_s:
            del self._data[key]
            return None
        self._data[key] = (now, hit[1])  # sliding: a long tool loop keeps its turn decision alive
        self._data.move_to_end(key)
        return hit[1]

    def put(self, key: str | None, value: Pinned, now: float | None = None) -> None:
        if key is None:
            return
        self._data[key] = (time.monotonic() if now is None else now, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()
