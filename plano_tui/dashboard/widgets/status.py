"""The two header lines (listener, config, uptime; totals) and the last-error banner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from textual.content import Content
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from proxy.events import RequestRecord, ServiceNotice
from proxy.frontend import StatsSnapshot

from .. import format as fmt
from .lines import LineBuilder, Part

ERROR_WINDOW_S = 60.0  # the banner shows a failure this recent
BANNER_CHARS = 140
_STATUS_CLASSES = ("brand", "demo", "ok", "muted", "strong", "error", "warn")


@dataclass(frozen=True)
class Totals:
    requests: int = 0
    errors: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # None: nothing priced yet (proxy.cost)

    @classmethod
    def of(cls, snap: StatsSnapshot | None) -> Totals:
        t = snap.total if snap is not None else None
        if t is None:
            return cls()
        return cls(t.requests, t.errors, t.errors_4xx, t.errors_5xx + t.errors_other, t.input_tokens,
                   t.cached_tokens, t.output_tokens, t.cost_usd)


class StatusBar(Widget):
    """Two fixed lines, rendered through the line API: a Static re-renders its Content markup on every
    update (~4 ms), which at 4 updates a second under load was the costliest thing after the log."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"status--{c}" for c in _STATUS_CLASSES}

    def __init__(self, *, url: str, config_path: str, demo: bool, id: str | None = None) -> None:
        super().__init__(id=id)
        self.url = url
        self.config_path = config_path
        self.demo = demo
        self._key: tuple[object, ...] | None = None
        self.lines: tuple[tuple[Part, ...], tuple[Part, ...]] = ((), ())
        self._styles: dict[str, Style] = {}

    @property
    def content(self) -> str:
        """The plain text shown (for tests)."""
        return "\n".join("".join(t for t, _ in line) for line in self.lines)

    def show(self, *, uptime_s: float, totals: Totals, in_flight: int, dropped: int,
             connection: str | None = None, connected: bool = True) -> None:
        """`connection`: None for the proxy in this process ("listening"), else how an attached dashboard
        stands ("attached to", "waiting for")."""
        key = (int(uptime_s), totals, in_flight, dropped, connection, connected)
        if key == self._key:  # most ticks change nothing visible
            return
        self._key = key
        sep: Part = (" · ", "muted")
        line1: list[Part] = [(" planoai ", "brand")]
        if self.demo:
            line1 += [(" DEMO ", "demo"), (" ", "")]
        line1 += [("  ● " if connected else "  ○ ", "ok" if connected else "warn"),
                  (f"{connection or 'listening'} ", "muted"), (f"{self.url}/v1", "strong"),
                  ("   config ", "muted"), (self.config_path, ""), ("   up ", "muted"),
                  (fmt.duration(uptime_s), "")]
        t = totals
        line2: list[Part] = [("  requests ", "muted"), (f"{t.requests:,}", "strong"), sep,
                             ("errors ", "muted"), (f"{t.errors:,}", "error" if t.errors else "strong")]
        if t.errors:
            line2.append((f" (4xx {t.errors_4xx:,} · 5xx {t.errors_5xx:,})", "muted"))
        line2 += [sep, ("in flight ", "muted"), (str(in_flight), ""), sep,
                  ("tokens in ", "muted"), (fmt.count(t.input_tokens), ""),
                  (f" (cached {fmt.count(t.cached_tokens)})", "muted"),
                  (" out ", "muted"), (fmt.count(t.output_tokens), ""), sep,
                  ("cost ", "muted"), (fmt.usd(t.cost_usd), "")]
        if dropped:
            line2 += [sep, (f"⚠ {dropped:,} events dropped", "warn")]
        lines = (tuple(line1), tuple(line2))
        for y in (0, 1):
            if lines[y] != self.lines[y]:
                self.refresh(Region(0, y, self.size.width, 1))
        self.lines = lines

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self.rich_style
            if name:
                style = style + self.get_component_rich_style(f"status--{name}")
            self._styles[name] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        line = LineBuilder()
        for text, name in self.lines[y] if y < 2 else ():
            line.add(text, self._style(name))
        return line.strip(width, self._style(""))


class ErrorBanner(Static):
    """The most recent failure (for a minute), a failed config reload (until fixed), and each service out
    of order (a shared Redis, the OTLP collector, a cost feed: until a notice says it is back)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._key: tuple[object, ...] | None = None
        self._height = 0

    def show(self, *, last: RequestRecord | None, last_at: float, now: float, reload_error: str | None,
             degraded: Sequence[ServiceNotice] = ()) -> None:
        recent = last is not None and now - last_at < ERROR_WINDOW_S
        # The failure's clock time, not a ticking "N s ago": the banner repaints only when it changes.
        key = (last.request_id if recent and last else None, reload_error, tuple((n.subject, n.at) for n in degraded))
        if key == self._key:
            return
        self._key = key
        lines: list[Content] = []
        if recent and last is not None:
            asked, final, _ = fmt.model_chain(last)
            err = (last.error or f"HTTP {last.status}").replace("\n", " ")
            if len(err) > BANNER_CHARS:  # keep the banner to two lines; the detail screen has it all
                err = err[: BANNER_CHARS - 1] + "…"
            lines.append(Content.assemble(
                ("✗ last error ", "bold"), (f"at {fmt.clock(last_at)}", ""), "  ",
                (f"{last.status} {last.error_code or ''}".strip(), "bold"), "  ",
                f"{asked} → {final}", (f"  [{last.request_id}]  ", "$foreground-muted"), err,
                ("  (e: details)", "$foreground-muted")))
        if reload_error:
            first = reload_error.replace("\n", "  ")
            lines.append(Content.assemble(("⚠ config reload failed", "bold"),
                                          (" — still serving the previous config: ", ""), first,
                                          ("  (r: retry)", "$foreground-muted")))
        for n in degraded:
            text = n.message if len(n.message) <= BANNER_CHARS else n.message[: BANNER_CHARS - 1] + "…"
            lines.append(Content.assemble(("⚠ ", "bold"), (f"since {fmt.clock(n.at)}  ", "$foreground-muted"), text))
        # A re-layout of the whole screen is the expensive part of an update: only when the height changes.
        width = max(1, self.content_region.width or (self.app.size.width - 3))
        height = sum(-(-max(1, c.cell_length) // width) for c in lines)
        relayout = height != self._height
        self._height = height
        self.display = bool(lines)
        if lines:
            self.update(Content("\n").join(lines), layout=relayout)
