"""The providers pane: one row per provider, then one per task-aware route (hits, share, errors,
latency), refreshed from `Stats.snapshot()` on the app's tick.

The app calls `show()` only when `stats.version` moved (or a cool-down is counting down). Rows are
compared as plain tuples and only the lines that changed are repainted; each rendered line is cached by
its content, so an unchanged provider costs nothing. Rendering goes through the line API (see lines.py)
rather than a DataTable, whose per-cell Rich rendering was the most expensive thing on screen under load.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from proxy.frontend import ConfigView, GroupSnapshot, ProviderView, StatsSnapshot

from .. import format as fmt
from .lines import Column, LineBuilder, Part, fit

UNRESOLVED = "(unresolved)"
SPARK_WIDTH = 14
# (key, title, width, justify); width 0 = the provider name, which takes what is left.
COLUMNS: tuple[Column, ...] = (
    ("provider", "provider", 0, "left"),
    ("key", "key", 13, "left"),
    ("req", "req", 5, "right"),
    ("err", "4xx/5xx", 7, "right"),
    ("ttft", "ttft p50/95", 11, "left"),
    ("lat", "latency p50/95/99", 17, "left"),
    ("tps", "tok/s", 5, "right"),
    ("spark", "recent latency", SPARK_WIDTH, "left"),
)
MIN_NAME, MAX_NAME = 12, 32
_CLASSES = ("header", "ok", "warn", "error", "dim")

Row = tuple[tuple[Part, ...], ...]  # one tuple of parts per column


def _latency_class(v: float) -> str:
    return "ok" if v < 500 else "warn" if v < 2000 else "error"


def provider_row(p: ProviderView | None, name: str, g: GroupSnapshot | None, cooling_left: float) -> Row:
    """The cells of one provider as plain (text, style-name) parts: comparable, hashable, testable."""
    if cooling_left > 0:
        key: Part = (f"❄ cooling {fmt.duration(cooling_left)}", "warn")
    elif p is None:
        key = ("—" if name == UNRESOLVED else "removed", "dim")
    else:
        key = (fmt.key_label(p), {"ok": "ok", "missing": "error"}.get(p.key_status, "dim"))
    label: Part = (name, "dim" if p is None else "")
    if g is None:
        return ((label,), (key,), (("0", "dim"),), (), (), (), (), ())
    e4, e5 = g.errors_4xx, g.errors_5xx + g.errors_other
    spark: list[Part] = []
    for block, v in fmt.sparkline(g.recent_latency, SPARK_WIDTH):
        cls = _latency_class(v)
        if spark and spark[-1][1] == cls:
            spark[-1] = (spark[-1][0] + block, cls)
        else:
            spark.append((block, cls))
    return (
        (label,),
        (key,),
        ((f"{g.requests:,}", ""),),
        ((str(e4), "warn" if e4 else "dim"), ("/", "dim"), (str(e5), "error" if e5 else "dim")),
        ((f"{fmt.ms(g.ttft_p50):>5} {fmt.ms(g.ttft_p95):>5}", ""),),
        ((f"{fmt.ms(g.latency_p50):>5} {fmt.ms(g.latency_p95):>5} {fmt.ms(g.latency_p99):>5}", ""),),
        ((fmt.rate(g.tokens_per_s), ""),),
        tuple(spark),
    )


def route_row(name: str, g: GroupSnapshot, routed_total: int) -> Row:
    """A task-aware route in the same columns: hits, share of routed requests, errors, latency."""
    cells = provider_row(None, name, g, 0.0)
    share = 100 * g.requests / routed_total if routed_total else 0.0
    return ((("⤷ route ", "dim"), (name, "")), ((f"{share:.0f}% routed", "dim"),), *cells[2:])


class ProvidersTable(ScrollView, can_focus=False):
    COMPONENT_CLASSES: ClassVar[set[str]] = {f"providers--{c}" for c in _CLASSES}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.names: list[str] = []
        self.rows: list[Row] = []
        self._cache: LRUCache[tuple[Row, int], Strip] = LRUCache(64)
        self._styles: dict[str, Style] = {}

    def show(self, config: ConfigView, snap: StatsSnapshot | None, cooling: dict[str, float], now: float) -> None:
        groups = snap.providers if snap else {}
        names = [p.name for p in config.providers]
        names += [n for n in groups if n not in names]  # "(unresolved)", or providers removed by a reload
        rows = [provider_row(config.provider_named(n), n, groups.get(n), cooling.get(n, 0.0) - now) for n in names]
        routes = snap.routes if snap else {}
        if routes:  # the routes summary: hits, share, errors, p95 per task-aware route
            routed = sum(g.requests for g in routes.values())
            for name, g in sorted(routes.items(), key=lambda kv: -kv[1].requests):
                names.append(f"route:{name}")
                rows.append(route_row(name, g, routed))
        if names != self.names:
            self.names, self.rows = names, rows
            self.virtual_size = Size(self.size.width, len(rows) + 1)  # our height changes: a layout
            self.refresh()
            return
        for i, (old, new) in enumerate(zip(self.rows, rows, strict=True)):
            if old != new:
                self.refresh_line(i + 1)  # +1: the header
        self.rows = rows

    def cell(self, provider: str, key: str) -> str:
        """The plain text of one cell (for tests)."""
        col = [c[0] for c in COLUMNS].index(key)
        return "".join(text for text, _ in self.rows[self.names.index(provider)][col])

    def restyle(self) -> None:
        self._styles.clear()
        self._cache.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.restyle()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            base = self.rich_style
            if name:
                full = self.get_component_rich_style(f"providers--{name}")
                style = base + Style(color=full.color, bold=full.bold)
            else:
                style = base
            self._styles[name] = style
        return style

    def _columns(self, width: int) -> list[Column]:
        fixed = sum(w + 1 for _, _, w, _ in COLUMNS if w) + 1
        name = max(MIN_NAME, min(MAX_NAME, width - fixed - 1))
        return [(k, t, w or name, j) for k, t, w, j in COLUMNS]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        cols = self._columns(width)
        line = LineBuilder()
        if y == 0:
            style = self._style("header")
            line.add(" " + " ".join(fit(t, w, j) for _, t, w, j in cols), style)
            return line.strip(width, style)
        index = round(self.scroll_y) + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, self._style(""))
        row = self.rows[index]
        strip = self._cache.get((row, width))
        if strip is None:
            for (_, _, w, justify), parts in zip(cols, row, strict=True):
                line.add(" ", self._style(""))
                line.cells(parts, w, justify, self._style)
            strip = line.strip(width, self._style(""))
            self._cache[(row, width)] = strip
        return strip
