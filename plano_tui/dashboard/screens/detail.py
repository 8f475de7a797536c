"""Everything about one request: the resolution chain, timings, usage, attempts, bodies and headers.

Headers come only from `RequestRecord.request_headers`, which the core already redacted; nothing else
about the request's credentials is ever shown. Bodies are pretty-printed JSON (or raw SSE text), cut at
`BODY_CHARS` so a 70 KB Codex prompt cannot stall the UI.
"""

from __future__ import annotations

from typing import ClassVar

import orjson
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.screen import Screen
from textual.widgets import Footer, Label, Static, TabbedContent, TabPane

from proxy.events import RequestRecord

from .. import forensics
from .. import format as fmt
from ..store import DETAIL_RATE, KEEP_BODIES

BODY_CHARS = 20_000
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            413: "Payload Too Large", 429: "Too Many Requests", 499: "Client Closed Request",
            500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}


def title_line(r: RequestRecord) -> Content:
    asked, final, route = fmt.model_chain(r)
    mark = ("✓", "$text-success") if r.ok else ("✗", "$text-error")
    return Content.assemble(
        " ", mark, (f" {r.status} ", "bold"), (asked, "bold"), (" → ", "$text-accent"), (final, "bold"),
        (f" ⟨{route}⟩" if route else "", "$text-secondary"),
        (f"   request {r.request_id} · {fmt.clock_ms(r.started_at)} · {r.translation}"
         f"{' · stream' if r.stream else ''}", "$foreground-muted"))


def chain_lines(r: RequestRecord) -> Content:
    """client model → alias → route → provider → upstream model, one step per line."""
    muted = "$foreground-muted"
    steps: list[tuple[str, str | Content]] = [("client model", r.client_model or "(none: the default provider)")]
    if r.alias:
        steps.append(("alias", f"{r.alias} → {r.alias_target}"))
    if r.route is not None and r.route.routed:
        rt = r.route
        bits = [rt.route or "(no route matched)"]
        if rt.backend:
            bits.append(f"by {rt.backend}")
        if rt.latency_ms is not None:
            bits.append(f"in {fmt.ms(rt.latency_ms)}")
        if rt.reason:
            bits.append(f"— {rt.reason}")
        steps.append(("route", " ".join(bits)))
    steps.append(("provider", (r.provider or "✗ not resolved") + (f"   (via {r.via})" if r.via else "")))
    steps.append(("upstream model", r.upstream_model or "—"))
    parts: list[str | tuple[str, str]] = []
    for i, (label, value) in enumerate(steps):
        prefix = "" if i == 0 else " └ "
        parts += [(f"{prefix}{label}".ljust(18), muted), (str(value), "bold" if i == len(steps) - 1 else ""), "\n"]
    return Content.assemble(*parts[:-1])


def overview_rows(r: RequestRecord) -> list[tuple[str, Content | str]]:
    rows: list[tuple[str, Content | str]] = [("resolution", chain_lines(r))]
    if r.upstream_url:
        rows.append(("upstream", f"POST {r.upstream_url}"))
    api = f"{r.client_api} → {r.upstream_api}" if r.upstream_api else r.client_api
    kind = "" if not r.upstream_api else (" (passthrough)" if r.upstream_api == r.client_api else " (translated)")
    rows.append(("api", f"{api}{kind}   client path {r.path}"))
    status = Content.assemble((f"{r.status} {_REASONS.get(r.status, '')}".strip(),
                               "bold $text-success" if r.ok else "bold $text-error"))
    rows.append(("status", status))
    if r.error:
        rows.append(("error", Content.assemble((f"{r.error_code or 'error'}: ", "bold $text-error"),
                                               (r.error, "$text-error"))))
    gen = r.latency_ms - r.ttft_ms if r.ttft_ms is not None else None
    rows.append(("timings", f"started {fmt.clock_ms(r.started_at)} · ttft {fmt.ms(r.ttft_ms)} · "
                            f"total {fmt.ms(r.latency_ms)} · generation {fmt.ms(gen)} · "
                            f"{fmt.rate(r.tokens_per_s)} tok/s"))
    u = r.usage
    written = f", cache writes {u.cache_write_tokens:,}" if u.cache_write_tokens else ""
    rows.append(("usage", f"input {u.input_tokens:,} (cached {u.cached_tokens:,}{written}) · output "
                          f"{u.output_tokens:,} (reasoning {u.reasoning_tokens:,}) · total {u.total:,}"
                          if u else "not reported"))
    c = r.cost  # as Plano prices it: uncached input (and cache writes), cache reads, output (proxy.cost)
    rows.append(("cost", f"{fmt.usd(c.total_usd)} · input {fmt.usd(c.input_usd)} · cached {fmt.usd(c.cached_usd)}"
                         f" · output {fmt.usd(c.output_usd)}" if c is not None else "not priced"))
    rows.append(("stream", ("yes" if r.stream else "no") + (f" · session {r.session_id}" if r.session_id else "")))
    if r.notes:
        rows.append(("notes", "\n".join(f"• {n}" for n in r.notes)))
    if r.attempts:  # every upstream try, the final one included (failover chain)
        lines = [f"{i}. {a.provider} ({a.upstream_model}) → {a.status or 'no answer'} in {fmt.ms(a.duration_ms)}"
                 + (f": {a.error}" if a.error else "") for i, a in enumerate(r.attempts, 1)]
        rows.append(("attempts", "\n".join(lines)))
    if r.metadata:
        rows.append(("metadata", highlight(orjson.dumps(r.metadata, option=orjson.OPT_INDENT_2,
                                                        default=str).decode(), language="json")))
    return rows


_VERDICT = {"ok": ("✓", "$text-success"), "warn": ("!", "$text-warning"), "fail": ("✗", "$text-error"),
            "n/a": ("·", "$foreground-muted")}


def check_rows(r: RequestRecord) -> list[tuple[str, Content]]:
    """The Checks tab: what the client got, what changed on the way, and where the time went."""
    rows: list[tuple[str, Content]] = []
    for c in forensics.checks(r):
        mark, style = _VERDICT[c.verdict]
        rows.append((c.title, Content.assemble((f"{mark} ", f"bold {style}"), c.detail)))
    rows.append(("request → upstream", Content("\n".join(forensics.request_diff(r)))))
    rows.append(("latency waterfall", Content("\n".join(forensics.waterfall_lines(r)) or "no timings")))
    return rows


NOT_DETAILED = (f"not captured: above {DETAIL_RATE:.0f} requests/s, only that many a second keep their "
                "headers and bodies (failed requests always do)")


def body_widgets(label: str, data: bytes | None, dropped: bool, prefix: str, detailed: bool = True) -> list[Static]:
    if data is None:
        why = (f"not kept: only the {KEEP_BODIES} most recent requests keep their bodies" if dropped
               else "not captured" if detailed else NOT_DETAILED)
        return [Static(Content.assemble((label, "bold"), (f"  ({why})", "$foreground-muted")), classes="body-label")]
    text, lexer, cut = fmt.body_text(data, BODY_CHARS)
    note = f"  {len(data):,} bytes" + (f" · showing the first {BODY_CHARS:,} characters" if cut else "")
    body = highlight(text, language=lexer) if lexer == "json" else Content(text)
    return [Static(Content.assemble((label, "bold"), (note, "$foreground-muted")), classes="body-label"),
            Static(body, classes="body", id=f"{prefix}-body")]


class DetailScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back"),
        Binding("1", "tab('overview')", "Overview"),
        Binding("2", "tab('request')", "Request"),
        Binding("3", "tab('response')", "Response"),
        Binding("4", "tab('headers')", "Headers"),
        Binding("5", "tab('checks')", "Checks"),
        Binding("x", "export", "Export"),
    ]

    def __init__(self, record: RequestRecord, *, bodies_dropped: bool = False) -> None:
        super().__init__()
        self.record = record
        self.bodies_dropped = bodies_dropped

    def compose(self) -> ComposeResult:
        r = self.record
        yield Static(title_line(r), id="detail-title", classes="ok" if r.ok else "failed")
        with TabbedContent(initial="overview"):
            with TabPane("Overview", id="overview"), VerticalScroll(), Grid(id="overview-grid"):
                for label, value in overview_rows(r):
                    yield Label(label, classes="field")
                    yield Static(value if isinstance(value, Content) else Content(value), classes="value")
            with TabPane("Request", id="request"), VerticalScroll():
                yield from body_widgets(f"client request · {r.path}", r.request_body, self.bodies_dropped, "request",
                                        r.detailed)
                if r.upstream_body is not None:
                    yield from body_widgets("sent upstream (rewritten)", r.upstream_body, False, "upstream")
                elif r.request_body is not None:
                    yield Static(Content.assemble(("sent upstream", "bold"),
                                                  ("  unchanged except auth headers", "$foreground-muted")),
                                 classes="body-label")
            with TabPane("Response", id="response"), VerticalScroll():
                yield from body_widgets("response to the client (captured)", r.response_body,
                                        self.bodies_dropped, "response", r.detailed)
            with TabPane("Headers", id="headers"), VerticalScroll(), Grid(id="headers-grid"):
                # Already redacted by the core (proxy.upstream.redact_headers): show exactly these.
                for name, value in r.request_headers:
                    yield Label(Content(name), classes="field")
                    yield Static(Content(value), classes="value")
                if not r.request_headers:
                    yield Label("(none recorded)" if r.detailed else f"({NOT_DETAILED})", classes="field")
            with TabPane("Checks", id="checks"), VerticalScroll(), Grid(id="checks-grid"):
                for label, value in check_rows(r):
                    yield Label(label, classes="field")
                    yield Static(value, classes="value")
        yield Footer()

    def action_export(self) -> None:
        self.app.action_export(self.record)  # type: ignore[attr-defined]

    def action_close(self) -> None:
        self.dismiss()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
