"""The providers pane: one row per provider, then one per task-aware route (hits, share, errors,
latency), refreshed from `Stats.snapshot()` on the app's tick.

The app calls `show()` only when `stats.version` moved (or a cool-down is counting down). Rows are
compared as plain tuples and only the lines that changed are repainted; each rendered line is cached by
its content, so an unchanged provider costs nothing. Rendering goes through the line API (`LineTable`,
table.py) rather than a DataTable, whose per-cell Rich rendering was the most expensive thing on screen
under load.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar

from textual.geometry import Size
from textual.strip import Strip

from proxy.frontend import ConfigView, GroupSnapshot, ProviderView, StatsSnapshot

from .. import format as fmt
from .lines import LineBuilder, Part
from .table import LineTable, latency_class

UNRESOLVED = "(unresolved)"
SPARK_WIDTH = 14

Row = tuple[tuple[Part, ...], ...]  # one tuple of parts per column


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
        return ((label,), (key,), (("0", "dim"),), (), (), (), (), (), ())
    e4, e5 = g.errors_4xx, g.errors_5xx + g.errors_other
    spark: list[Part] = []
    for block, v in fmt.sparkline(g.recent_latency, SPARK_WIDTH):
        cls = latency_class(v)
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
        ((fmt.usd(g.cost_usd), "" if g.cost_usd is not None else "dim"),),
        tuple(spark),
    )


def route_row(name: str, g: GroupSnapshot, routed_total: int) -> Row:
    """A task-aware route in the same columns: hits, share of routed requests, errors, latency."""
    cells = provider_row(None, name, g, 0.0)
    share = 100 * g.requests / routed_total if routed_total else 0.0
    return ((("⤷ route ", "dim"), (name, "")), ((f"{share:.0f}% routed", "dim"),), *cells[2:])


class ProvidersTable(LineTable, can_focus=False):
    # The provider name is the flexible column: it takes what is left, within MIN_FLEX..MAX_FLEX.
    COLUMNS = (
        ("provider", "provider", 0, "left"),
        ("key", "key", 13, "left"),
        ("req", "req", 5, "right"),
        ("err", "4xx/5xx", 7, "right"),
        ("ttft", "ttft p50/95", 11, "left"),
        ("lat", "latency p50/95/99", 17, "left"),
        ("tps", "tok/s", 5, "right"),
        ("cost", "cost", 8, "right"),
        ("spark", "recent latency", SPARK_WIDTH, "left"),
    )
    DROP_ORDER = ("cost",)  # on a narrow terminal the cost goes first (the header shows the total)
    COLUMN_INDEX: ClassVar[dict[str, int]] = {c[0]: i for i, c in enumerate(COLUMNS)}
    MIN_FLEX, MAX_FLEX = 12, 32
    RIGHT_MARGIN = 1
    COMPONENT_PREFIX = "providers"
    STYLE_NAMES = ("header", "ok", "warn", "error", "dim")
    CACHED_LINES = 64
    COMPONENT_CLASSES: ClassVar[set[str]] = {f"providers--{name}" for name in STYLE_NAMES}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.names: list[str] = []
        self.rows: list[Row] = []

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
        col = [c[0] for c in self.COLUMNS].index(key)
        return "".join(text for text, _ in self.rows[self.names.index(provider)][col])

    def line_key(self, index: int, width: int) -> Hashable | None:
        # A line is its row's content: an unchanged provider is drawn once.
        return (self.rows[index], width) if index < len(self.rows) else None

    def render_row(self, index: int, width: int) -> Strip:
        style = self.palette()
        line = LineBuilder()
        row = self.rows[index]
        for key, _, w, justify in self.columns(width):  # a narrow pane drops columns (DROP_ORDER)
            line.add(" ", style(""))  # the row's gutter, then the one-cell GAP before each next column
            line.cells(row[self.COLUMN_INDEX[key]], w, justify, style)
        return line.strip(width, style(""))
