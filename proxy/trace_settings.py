"""Plano's `tracing:` settings and W3C `traceparent` parsing: plain Python, so deciding that tracing is
off (proxy.telemetry) never imports OpenTelemetry or gRPC.

`random_sampling` (percent; 0 or absent = off), `opentracing_grpc_endpoint` (else env
`OTEL_TRACING_GRPC_ENDPOINT`, else 127.0.0.1:4317: Plano's localhost default, pinned to IPv4),
`span_attributes: {static: {k: v}, header_prefixes: [x-team-]}`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ENDPOINT = "http://127.0.0.1:4317"


@dataclass(frozen=True)
class TraceSettings:
    sampling: float  # 0..1
    endpoint: str
    static_attributes: Mapping[str, str] = field(default_factory=dict)
    header_prefixes: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.sampling > 0

    @classmethod
    def from_config(cls, tracing: Mapping[str, Any], env: Mapping[str, str] | None = None) -> TraceSettings:
        env = os.environ if env is None else env
        try:
            pct = float(tracing.get("random_sampling") or 0)
        except (TypeError, ValueError):
            pct = 0.0
        endpoint = str(
            tracing.get("opentracing_grpc_endpoint") or env.get("OTEL_TRACING_GRPC_ENDPOINT") or DEFAULT_ENDPOINT
        )
        sa = tracing.get("span_attributes") or {}
        static = sa.get("static") or {} if isinstance(sa, Mapping) else {}
        prefixes = sa.get("header_prefixes") or () if isinstance(sa, Mapping) else ()
        return cls(
            sampling=min(100.0, max(0.0, pct)) / 100,
            endpoint=endpoint,
            static_attributes={str(k): str(v) for k, v in static.items()},
            header_prefixes=tuple(str(p).lower() for p in prefixes),
        )


def parse_traceparent(value: str | None) -> tuple[int, int, bool] | None:
    """(trace id, parent span id, sampled) of a valid W3C `traceparent`, else None."""
    if not value:
        return None
    parts = value.strip().lower().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff" or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        tid, sid, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3][:2], 16)
    except ValueError:
        return None
    if tid == 0 or sid == 0:
        return None
    return tid, sid, bool(flags & 1)
