"""The requests pane: a newest-first, virtual (line-API) table over the `RequestStore`.

Why not a DataTable: it appends at the bottom and `remove_row` is O(n) (textual#5273), so a newest-first
log of 1,000 rows under 200 req/s would re-layout constantly. Here rows live in a deque and only the
visible lines are rendered, each cached as a `Strip` until it scrolls away or the theme changes, so an
ingest costs O(batch) and a repaint O(screen height), whatever the capacity.

Following: while the cursor is on the newest row the view stays at the top and new rows push in. Once the
user moves down (or scrolls), new rows are inserted above without moving what they are reading; `home`
(or `f`) resumes following.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import ClassVar

from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .. import format as fmt
from ..query import Query
from ..store import FilteredRows, NoticeRow, RequestRow, RequestStore, Row
from .lines import LineBuilder, Part, fit
from .table import LineTable, latency_class

# Row flags (LineTable.row_style): a failed request's row, the cursor's row.
FAILED, SELECTED = 1, 2


def _status_class(status: int, ok: bool) -> str:
    if ok:
        return "ok"
    if status == 499:
        return "dim"
    return "warn" if 400 <= status < 500 and status != 400 else "error"


def _ttft_class(v: float | None) -> str:
    return "" if v is None else ("ok" if v < 300 else "warn" if v < 1000 else "error")


class RequestLog(LineTable, can_focus=True):
    # Order = display order; the flexible column is the model chain.
    COLUMNS = (
        ("time", "time", 8, "left"),
        ("model", "client model → resolved", 0, "left"),
        ("provider", "provider", 12, "left"),
        ("api", "api", 18, "left"),
        ("stream", "str", 3, "center"),
        ("status", "st", 3, "right"),
        ("ttft", "ttft", 6, "right"),
        ("latency", "latency", 7, "right"),
        ("tokens", "in/cached/out", 15, "right"),
        ("tps", "tok/s", 5, "right"),
    )
    DROP_ORDER = ("tps", "api", "tokens", "provider")  # what goes first on narrow terminals
    MIN_FLEX = 26
    GAP = 2
    COMPONENT_PREFIX = "request-log"
    STYLE_NAMES = ("header", "dim", "ok", "warn", "error", "alias", "route", "notice", "translated", "reason")
    CACHED_LINES = 160
    COMPONENT_CLASSES: ClassVar[set[str]] = {f"request-log--{name}" for name in (*STYLE_NAMES, "cursor")}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Details"),
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,f", "follow", "Follow", show=False),
        Binding("end", "last", "Oldest", show=False),
        Binding("m", "mark", "Mark", show=False),
    ]

    class Selected(Message):
        """The user opened a request row (enter, or a click on the highlighted row)."""

        def __init__(self, row: RequestRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, store: RequestStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.rows: RequestStore | FilteredRows = store  # what is shown: the store, or the filter's view of it
        self.marks: set[int] = set()  # seq of the rows the user marked (`m`)
        self.cursor = 0
        self.follow = True
        self.unseen = 0  # rows that arrived above while not following

    # ------------------------------------------------------------------ data in
    def rows_added(self, n: int) -> None:
        """`n` rows were prepended to the store (it already dropped what fell off the end)."""
        if n <= 0:
            return
        if isinstance(self.rows, FilteredRows):
            n = self.rows.take_new(n)
            if n <= 0:
                self._update_subtitle()  # the "N of M" count moved
                return
        total = len(self.rows)
        if self.follow:
            self.cursor = 0
        else:
            self.cursor = min(self.cursor + n, total - 1)
            self.unseen += n
        self._sync_size()
        if not self.follow:
            # Keep the rows the user is reading where they are.
            self.scroll_to(y=self.scroll_y + n, animate=False, immediate=True)
        self._update_subtitle()
        self.refresh()

    def set_filter(self, query: Query | None) -> None:
        """Show only the rows `query` matches (None or an empty query: all of them), following again."""
        self.rows = FilteredRows(self.store, query, self.marks) if query else self.store
        self.reset()

    @property
    def filter_query(self) -> Query | None:
        """The filter in force (not `query`: that name is Textual's DOMNode.query(), which it would hide)."""
        return self.rows.query if isinstance(self.rows, FilteredRows) else None

    def action_mark(self) -> None:
        row = self.current
        if not isinstance(row, RequestRow):
            return
        self.marks.symmetric_difference_update({row.seq})
        self.clear_lines()
        self.refresh()

    def reset(self) -> None:
        if isinstance(self.rows, FilteredRows) and not len(self.store):
            self.rows.take_new(0)  # the store was cleared: so is the view
        self.cursor, self.follow, self.unseen = 0, True, 0
        self.clear_lines()
        self._sync_size()
        self.scroll_to(y=0, animate=False, immediate=True)
        self._update_subtitle()
        self.refresh()

    @property
    def current(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def _sync_size(self) -> None:
        size = Size(self.line_width, len(self.rows) + 1)  # +1: the fixed header line
        if size == self.virtual_size:
            return
        # `virtual_size` is a layout reactive: assigning it re-lays out (and repaints) the whole screen,
        # on every batch while the log fills. Our own size is fixed by CSS, so set it quietly and update
        # the scrollbar; only its appearance (once, when rows first overflow) needs a layout.
        had_scrollbar = self.show_vertical_scrollbar
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)
        self.refresh(layout=self.show_vertical_scrollbar != had_scrollbar)

    def _update_subtitle(self) -> None:
        n = len(self.rows)
        query = self.filter_query
        parts = [f"filter {query.text!r}: {n:,} of {len(self.store):,}"] if query else []
        if not self.follow and n:
            parts.append(f"paused · {self.unseen:,} new ↑ · home to follow" if self.unseen
                         else "paused · home to follow")
        elif n and not query:
            parts.append(f"{n:,} kept · newest first")
        self.border_subtitle = " · ".join(parts)

    # ------------------------------------------------------------------ navigation
    def _set_cursor(self, index: int) -> None:
        n = len(self.rows)
        if not n:
            return
        self.cursor = max(0, min(index, n - 1))
        body = max(1, self.size.height - 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False, immediate=True)
        following = self.cursor == 0
        if following and not self.follow:
            self.unseen = 0
        self.follow = following
        self._update_subtitle()
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        self._set_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._set_cursor(self.cursor + direction * max(1, self.size.height - 2))

    def action_follow(self) -> None:
        self._set_cursor(0)
        self.scroll_to(y=0, animate=False, immediate=True)

    def action_last(self) -> None:
        self._set_cursor(len(self.rows) - 1)

    def action_select(self) -> None:
        row = self.current
        if isinstance(row, RequestRow):
            self.post_message(self.Selected(row))

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        index = round(self.scroll_y) + event.y - 1
        if index >= len(self.rows):
            return
        if index == self.cursor:
            self.action_select()
        else:
            self._set_cursor(index)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value > 0 and self.follow:  # the user scrolled away (wheel / scrollbar)
            self.follow = False
            self._update_subtitle()

    # ------------------------------------------------------------------ rendering
    def on_resize(self) -> None:
        self.clear_lines()
        self._sync_size()

    def on_focus(self) -> None:
        self.forget_styles()  # the cursor colour depends on focus
        self.refresh()

    def on_blur(self) -> None:
        self.forget_styles()
        self.refresh()

    def row_style(self, flags: int) -> Style:
        """Component classes contribute their colour and text style only (LineTable.palette); the cursor
        class contributes only its background."""
        row = self.rich_style
        if flags & FAILED:
            row = row + self.component_style("error")
        if flags & SELECTED:
            row = row + Style(bgcolor=self.get_component_rich_style("request-log--cursor").bgcolor)
        return row

    def line_key(self, index: int, width: int) -> Hashable | None:
        if index >= len(self.rows):
            return None
        return (self.rows[index].seq, width, index == self.cursor, self.has_focus)

    def render_row(self, index: int, width: int) -> Strip:
        return self._render_row(self.rows[index], width, index == self.cursor)

    def _render_row(self, row: Row, width: int, selected: bool) -> Strip:
        error = isinstance(row, RequestRow) and not row.record.ok
        style = self.palette((FAILED if error else 0) | (SELECTED if selected else 0))
        line = LineBuilder()
        marked = isinstance(row, RequestRow) and row.seq in self.marks  # `m`: a dot in the leading gutter
        line.add("●" if marked else " ", style("alias" if marked else ""))
        if isinstance(row, NoticeRow):
            line.add(fit(fmt.clock(row.at), 8) + " " * self.GAP, style("dim"))
            line.add(row.text, style("error" if row.is_error else "notice"))
            return line.strip(width, style(""))
        assert isinstance(row, RequestRow)
        cells = self._cells(row)
        cols = self.columns(width)
        gap = " " * self.GAP
        for i, (key, _, w, justify) in enumerate(cols):
            if key == "tokens" and error:
                # Failed request: its reason takes the usage columns (usually empty on errors).
                span = sum(c[2] for c in cols[i:]) + self.GAP * (len(cols) - i - 1)
                line.add(fit(fmt.short_reason(row.record), span), style("reason"))
                break
            line.cells(cells.get(key, ()), w, justify, style)
            if i < len(cols) - 1:
                line.add(gap, style(""))
        return line.strip(width, style(""))

    def _cells(self, row: RequestRow) -> dict[str, Sequence[Part]]:
        r = row.record
        asked, final, route = fmt.model_chain(r)
        if r.alias or asked != final:
            model: list[Part] = [(asked, ""), (" → ", "alias" if r.alias else "dim"), (final, "")]
        else:
            model = [(final, "")]
        if route:
            model.append((f" ⟨{route}⟩", "route"))
        if len(r.attempts) > 1:  # served by a fallback after the first provider failed
            model.append((f" ↻{len(r.attempts) - 1}", "warn"))
        latency_cls = latency_class(r.latency_ms) if r.ok else ""
        return {
            "time": [(fmt.clock(r.started_at), "dim")],
            "model": model,
            "provider": [(_provider_label(r.provider), "" if r.provider else "dim")],
            "api": [(r.translation, "translated" if "→" in r.translation else "dim")],
            "stream": [("⇣" if r.stream else "", "dim")],
            "status": [(str(r.status), _status_class(r.status, r.ok))],
            "ttft": [(fmt.ms(r.ttft_ms), _ttft_class(r.ttft_ms) if r.ok else "")],
            "latency": [(fmt.ms(r.latency_ms), latency_cls)],
            "tokens": [(fmt.tokens(r), "" if r.usage else "dim")],
            # A non-streamed answer arrives whole: it has no meaningful generation rate.
            "tps": [(fmt.rate(r.tokens_per_s) if r.stream else fmt.DASH, "" if r.stream else "dim")],
        }

    def row_text(self, index: int) -> str:
        """The plain text of one rendered row (for tests and screen readers of the log)."""
        return "".join(seg.text for seg in self._render_row(self.rows[index], self.line_width or 140,
                                                            False)).rstrip()


def _provider_label(name: str | None) -> str:
    """Provider names default to the model string ("openai/gpt-5.3-codex"); the model column already
    shows the model, so show the provider part. An explicit `name:` is shown as written."""
    if not name:
        return fmt.DASH
    return name.split("/", 1)[0] if "/" in name else name
