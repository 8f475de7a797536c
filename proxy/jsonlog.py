"""`--log-json PATH`: one JSON object per finished request, appended to a file (JSON Lines).

A bus callback: serialises the terminal event's record (no bodies, no headers, so no secrets) and
appends it. Lines are written whole and flushed, so `tail -f | jq` works and a crash loses nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import orjson

from .events import TERMINAL, Event, RequestRecord


def record_dict(r: RequestRecord) -> dict[str, Any]:
    u = r.usage
    route = r.route
    return {
        "ts": r.started_at,
        "request_id": r.request_id,
        "client_model": r.client_model,
        "alias": r.alias,
        "alias_target": r.alias_target,
        "via": r.via,
        "route": route.route if route else None,
        "router_backend": route.backend if route else None,
        "router_ms": route.latency_ms if route else None,
        "router_reason": route.reason if route else None,
        "provider": r.provider,
        "upstream_model": r.upstream_model,
        "client_api": r.client_api,
        "upstream_api": r.upstream_api,
        "stream": r.stream,
        "status": r.status,
        "ttft_ms": None if r.ttft_ms is None else round(r.ttft_ms, 2),
        "latency_ms": round(r.latency_ms, 2),
        "input_tokens": u.input_tokens,
        "cached_tokens": u.cached_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "output_tokens": u.output_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "error": r.error,
        "error_code": r.error_code,
        "notes": list(r.notes),
        "session_id": r.session_id,
        "cost_usd": r.cost.total_usd if r.cost else None,
        "cost_input_usd": r.cost.input_usd if r.cost else None,
        "cost_cached_usd": r.cost.cached_usd if r.cost else None,
        "cost_output_usd": r.cost.output_usd if r.cost else None,
        "session_pinned": route.pinned if route else None,
        "switch_decision": route.decision if route else None,
        "switch_reason": route.decision_reason if route else None,
        "attempts": [
            {
                "provider": a.provider,
                "model": a.upstream_model,
                "status": a.status,
                "error": a.error,
                "duration_ms": round(a.duration_ms, 2),
            }
            for a in r.attempts
        ],
    }


class JsonlLog:
    TYPES = TERMINAL  # what it subscribes to

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: IO[bytes] = self.path.open("ab")

    def __call__(self, event: Event) -> None:
        if isinstance(event, TERMINAL):
            self._fh.write(orjson.dumps(record_dict(event.record)) + b"\n")
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()
