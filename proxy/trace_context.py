"""The W3C `traceparent` of the request being served, for the upstream call to carry.

A `ContextVar` set by the tracing middleware (proxy.tracing) in the request's own task, read where
upstream headers are built (proxy.upstream). Kept apart from proxy.tracing so the request path never
imports OpenTelemetry when tracing is off: unset, it costs one `ContextVar.get`.
"""

from __future__ import annotations

from contextvars import ContextVar

current_traceparent: ContextVar[str | None] = ContextVar("current_traceparent", default=None)
