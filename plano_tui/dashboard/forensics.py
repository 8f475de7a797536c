"""What the detail view concludes about one exchange (no Textual here): did the client get what a coding
agent needs, what did the proxy change on the way, where did the time go, and the exchange as a file.

Everything is read from the `RequestRecord`: its bodies are the client's request, the upstream request
when the proxy rewrote it, and the first `capture_bytes` of what the client received. When a record kept
no bodies (over the detail budget), the checks that need them say so instead of guessing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from proxy.events import RequestRecord
from proxy.frontend import CAPTURE_BYTES  # how much of a response the core keeps by default

EXCHANGE_FORMAT = "planoai-exchange/1"

# The event (or line) that ends a stream properly, per client API.
_TERMINAL = {
    "responses": (b"response.completed", b"response.failed", b"response.incomplete"),
    "messages": (b"message_stop",),
    "chat": (b"data: [DONE]",),
}


@dataclass(frozen=True, slots=True)
class Check:
    verdict: str  # "ok" | "warn" | "fail" | "n/a"
    title: str
    detail: str


def _json(data: bytes | None) -> dict[str, Any] | None:
    if not data:
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _custom_tools(body: dict[str, Any] | None) -> set[str]:
    """Names of the freeform (custom) tools a Responses client declared: Codex's apply_patch is one."""
    if not body or not isinstance(body.get("tools"), list):
        return set()
    return {name for t in body["tools"] if isinstance(t, dict) and t.get("type") == "custom"
            and isinstance(name := t.get("name"), str)}


def checks(r: RequestRecord) -> list[Check]:
    """What the client got, judged the way its agent would use it."""
    out: list[Check] = []
    resp = r.response_body
    captured = resp is not None
    if not r.ok:
        out.append(Check("fail", "answer", f"{r.status}: {r.error or 'failed'}"))
    if r.stream:
        if not captured:
            out.append(Check("n/a", "terminal event", "the response was not captured"))
        elif any(t in resp for t in _TERMINAL.get(r.client_api, ())):  # type: ignore[operator]
            out.append(Check("ok", "terminal event", "the stream ended with its API's terminal event"))
        else:
            cut = len(resp or b"") >= CAPTURE_BYTES
            out.append(Check("warn" if cut else "fail", "terminal event",
                             f"not in the captured part (the capture stops at {CAPTURE_BYTES // 1024} KB)" if cut
                             else "missing: the client saw the stream end without one"))
    out.append(Check("ok", "usage", f"input {r.usage.input_tokens:,} · cached {r.usage.cached_tokens:,} · "
                                    f"output {r.usage.output_tokens:,}") if r.usage
               else Check("warn" if r.ok else "n/a", "usage", "no token counts came back"))
    request = _json(r.request_body)
    custom = _custom_tools(request)
    if custom and captured:
        text = resp or b""
        for name in sorted(custom):
            quoted = f'"name":"{name}"'.encode()
            if quoted not in text:
                continue
            if b'"custom_tool_call"' in text:
                out.append(Check("ok", name, "came back as a custom tool call with the raw text"))
            else:
                out.append(Check("fail", name, "called, but not as a custom tool call: the agent cannot apply it"))
    if request and isinstance(request.get("reasoning"), dict) and captured:
        got = any(m in (resp or b"") for m in (b'"type":"reasoning"', b'"thinking"', b"reasoning_content"))
        out.append(Check("ok" if got else "n/a", "reasoning",
                         "reasoning came back" if got else "asked for, none in the captured response"))
    dropped = [n for n in r.notes if n.startswith(("dropped", "clamped", "removed"))]
    if dropped:
        out.append(Check("warn", "changed on the way", "; ".join(dropped)))
    return out


def request_diff(r: RequestRecord) -> list[str]:
    """Top-level differences between what the client sent and what went upstream."""
    client, upstream = _json(r.request_body), _json(r.upstream_body)
    if client is None:
        return ["(the client request was not kept)"]
    if upstream is None:
        model = f"model {client.get('model')!r} → {r.upstream_model!r}" if client.get("model") != r.upstream_model \
            else "model unchanged"
        return [f"passthrough: only {model} and the auth headers were rewritten"]
    lines: list[str] = []
    for key in sorted(client.keys() | upstream.keys()):
        a, b = client.get(key), upstream.get(key)
        if key not in upstream:
            lines.append(f"- {key}  (not sent upstream)")
        elif key not in client:
            lines.append(f"+ {key}  (added: {_short(b)})")
        elif a != b:
            lines.append(f"~ {key}  {_short(a)} → {_short(b)}")
    tools_a = len(client.get("tools") or []) if isinstance(client.get("tools"), list) else 0
    tools_b = len(upstream.get("tools") or []) if isinstance(upstream.get("tools"), list) else 0
    if tools_a != tools_b:
        lines.append(f"! tools: {tools_a} declared by the client, {tools_b} sent upstream")
    return lines or ["no top-level differences"]


def _short(v: Any, width: int = 60) -> str:
    if isinstance(v, list):
        return f"[{len(v)} items]"
    if isinstance(v, dict):
        return "{" + ", ".join(list(v)[:4]) + (", …" if len(v) > 4 else "") + "}"
    text = repr(v)
    return text if len(text) <= width else text[: width - 1] + "…"


def waterfall(r: RequestRecord) -> list[tuple[str, float, float]]:
    """(phase, start ms, duration ms) in order, summing to the request's latency. From the record's
    monotonic marks (`Timing`): parse, resolve + route, earlier failed attempts, preparing the upstream
    request (translation included), connect + upstream wait for headers, upstream first byte, first
    token to the client, the rest of the stream. Records without marks get the coarse phases."""
    tm = r.timing
    if tm is None or tm.parsed is None:
        return _coarse_waterfall(r)
    marks: list[tuple[str, float | None]] = [("parse", tm.parsed)]
    if tm.routed is not None:
        backend = f" ({r.route.backend})" if r.route is not None and r.route.backend else ""
        marks.append((f"resolve + route{backend}", tm.routed))
    if tm.sent is not None:
        failed = sum(a.duration_ms for a in r.attempts[:-1])
        if failed and tm.routed is not None:
            marks.append((f"{len(r.attempts) - 1} failed attempt(s)", tm.routed + failed))
        marks.append(("prepare upstream request", tm.sent))
    marks += [("connect + upstream wait (headers)", tm.headers), ("upstream first byte", tm.first_byte)]
    if r.ttft_ms is not None:
        marks.append(("first token to client", r.ttft_ms))
    marks.append(("stream to client" if r.stream else "answer to client", r.latency_ms))
    phases: list[tuple[str, float, float]] = []
    t = 0.0
    for label, at in marks:
        if at is None or at < t:
            continue
        phases.append((label, t, at - t))
        t = at
    return phases


def _coarse_waterfall(r: RequestRecord) -> list[tuple[str, float, float]]:
    phases: list[tuple[str, float, float]] = []
    t = 0.0
    if r.route is not None and r.route.latency_ms:
        phases.append((f"route ({r.route.backend or 'router'})", t, r.route.latency_ms))
        t += r.route.latency_ms
    for a in r.attempts[:-1]:  # the failed tries before the one that served (or failed last)
        phases.append((f"try {a.provider} → {a.status or 'no answer'}", t, a.duration_ms))
        t += a.duration_ms
    if r.ttft_ms is not None:
        first = max(0.0, r.ttft_ms - t)
        phases.append(("first token" if r.stream else "answer", t, first))
        t = max(t, r.ttft_ms)
    rest = r.latency_ms - t
    if rest > 0.05:
        phases.append(("stream" if r.stream and r.ttft_ms is not None else "upstream", t, rest))
    return phases


def waterfall_lines(r: RequestRecord, width: int = 40) -> list[str]:
    total = max(r.latency_ms, 1e-3)
    lines = []
    for label, start, dur in waterfall(r):
        lead = min(width - 1, round(start / total * width))
        bar = max(1, min(width - lead, round(dur / total * width)))
        lines.append(f"{label[:34]:<34} {' ' * lead}{'█' * bar}{' ' * max(0, width - lead - bar)} {dur:,.1f} ms")
    if r.timing is not None and r.timing.translate_ms:  # spread over the phases above, not one of them
        lines.append(f"{'translation (within the above)':<34} {' ' * width} {r.timing.translate_ms:,.1f} ms")
    return lines


def _body(data: bytes | None) -> Any:
    if data is None:
        return None
    parsed = _json(data)
    return parsed if parsed is not None else data.decode("utf-8", "replace")


def exchange(r: RequestRecord) -> dict[str, Any]:
    """The exchange as a replayable fixture: `planoai replay FILE` sends `request.body` to a config's
    routing endpoint. Headers are the record's, already redacted by the core."""
    return {
        "format": EXCHANGE_FORMAT,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "request_id": r.request_id,
        "request": {"api": r.client_api, "path": r.path, "headers": {str(k): str(v) for k, v in r.request_headers},
                    "body": _body(r.request_body)},
        "upstream": {"api": r.upstream_api, "url": r.upstream_url, "provider": r.provider, "model": r.upstream_model,
                     # None: the client's body went up unchanged but for `model` (a passthrough).
                     "body": _body(r.upstream_body),
                     # A passthrough relays the upstream's stream byte for byte, so the client's capture is
                     # it; a translated stream's upstream side is not kept.
                     "stream": "as response.captured (passthrough)" if r.upstream_api == r.client_api
                     else "not kept (translated)"},
        "response": {"status": r.status, "stream": r.stream, "captured": _body(r.response_body)},
        "resolution": {"client_model": r.client_model, "alias": r.alias, "alias_target": r.alias_target,
                       "via": r.via, "route": r.route.route if r.route else None,
                       "route_reason": r.route.reason if r.route else None},
        "timings": {"ttft_ms": r.ttft_ms, "latency_ms": r.latency_ms},
        "usage": {"input": r.usage.input_tokens, "cached": r.usage.cached_tokens, "output": r.usage.output_tokens,
                  "reasoning": r.usage.reasoning_tokens},
        "notes": list(r.notes),
        "error": r.error,
    }
