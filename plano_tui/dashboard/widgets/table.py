"""The base of the dashboard's tables (the requests and providers panes): fixed columns under a fixed
header, drawn through Textual's line API with the `LineBuilder` of lines.py (which says why not
`DataTable`).

`LineTable` owns what the two panes share: fitting the columns to the width, the header line, the style
tables (a row's style plus one per component class, resolved once per theme), the cache of rendered lines
and when each of those is thrown away. A pane declares its columns and component classes, says which row
a line shows and how that row is identified (`line_key`), and draws the row (`render_row`).

The requests pane redraws at 4 Hz under load, so a cached line costs one `line_key` call and a cache
lookup, with no allocation but the key; the width, the column layout and the header line are computed
once per size (and theme), not per line or per frame.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable
from typing import ClassVar

from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .lines import Column, LineBuilder, fit

PLAIN = 0  # the row look every table has: no flags (a pane may define more flags; see `row_style`)


def latency_class(ms: float) -> str:
    """The style name of a latency: one scale for the requests pane's latency column and the providers'
    sparkline, so a colour means the same time in both."""
    return "ok" if ms < 500 else "warn" if ms < 2000 else "error"


class LineTable(ScrollView):
    """A scrollable table: line 0 is the header, line y > 0 shows row `scroll_y + y - 1`."""

    # ---- declared by each pane
    COLUMNS: ClassVar[tuple[Column, ...]]  # (key, title, width, justify); width 0: the flexible column
    MIN_FLEX: ClassVar[int]  # the flexible column never gets fewer cells than this…
    MAX_FLEX: ClassVar[int] = sys.maxsize  # …nor more than this
    DROP_ORDER: ClassVar[tuple[str, ...]] = ()  # columns given up, in this order, before going under MIN_FLEX
    GAP: ClassVar[int] = 1  # blank cells between two columns (a row also starts with a one-cell gutter)
    RIGHT_MARGIN: ClassVar[int] = 0  # cells the column fitting keeps free after the last column
    COMPONENT_PREFIX: ClassVar[str]  # the pane's component classes are "<prefix>--<style name>"
    STYLE_NAMES: ClassVar[tuple[str, ...]]  # the style names a row's parts may use ("" = the row's own)
    CACHED_LINES: ClassVar[int]  # how many rendered lines to keep (a few screens' worth)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: LRUCache[Hashable, Strip] = LRUCache(self.CACHED_LINES)
        self._styles: dict[int, dict[str, Style]] = {}  # row flags → style name → full style
        self._layout: tuple[int, list[Column]] | None = None  # (width, the columns fitted to it)
        self._header: tuple[int, Strip] | None = None  # (width, the header line at that width)
        self._width_for = Size(-1, -1)
        self._line_width = 0

    # ------------------------------------------------------------------ what a pane supplies
    def line_key(self, index: int, width: int) -> Hashable | None:
        """What identifies the line of row `index` drawn `width` cells wide: equal keys, equal lines.
        None when there is no such row (the line is blank)."""
        raise NotImplementedError

    def render_row(self, index: int, width: int) -> Strip:
        """Draw row `index` (called only when its `line_key` is not cached)."""
        raise NotImplementedError

    def row_style(self, flags: int) -> Style:
        """The style a whole row with these flags starts from. A pane with kinds of rows (a failed
        request, the cursor's row) gives each a flag bit and adds its look here."""
        return self.rich_style

    # ------------------------------------------------------------------ layout
    @property
    def line_width(self) -> int:
        """Cells available for a line: the content width minus the scrollbar gutter. Cached per size (and
        reset when the scrollbar comes or goes): `scrollable_content_region` walks the DOM, and
        render_line needs it for every line."""
        if self._width_for != self.size:
            self._width_for = self.size
            self._line_width = self.scrollable_content_region.width or self.size.width
        return self._line_width

    def watch_show_vertical_scrollbar(self) -> None:
        self._width_for = Size(-1, -1)  # the gutter changed without a resize (a pane without a stable one)

    def columns(self, width: int) -> list[Column]:
        """The columns that fit in `width`, the flexible one sized to what the others leave."""
        if self._layout is not None and self._layout[0] == width:
            return self._layout[1]
        cols = list(self.COLUMNS)
        for drop in (None, *self.DROP_ORDER):
            if drop is not None:
                cols = [c for c in cols if c[0] != drop]
            fixed = 1 + sum(c[2] for c in cols) + self.GAP * (len(cols) - 1) + self.RIGHT_MARGIN
            if width - fixed >= self.MIN_FLEX:
                break
        flex = max(self.MIN_FLEX, min(self.MAX_FLEX, width - fixed))
        laid = [(key, title, w or flex, justify) for key, title, w, justify in cols]
        self._layout = (width, laid)
        return laid

    # ------------------------------------------------------------------ styles
    def palette(self, flags: int = PLAIN) -> Callable[[str], Style]:
        """Style name → the full Rich style of a part in a row with these flags, built once per theme.

        A component class contributes its colour and text style only: theme text colours are 'auto' and
        resolve against the row's background."""
        table = self._styles.get(flags)
        if table is None:
            row = self.row_style(flags)
            table = {"": row}
            for name in self.STYLE_NAMES:
                table[name] = row + self.component_style(name)
            self._styles[flags] = table
        return table.__getitem__

    def component_style(self, name: str) -> Style:
        full = self.get_component_rich_style(f"{self.COMPONENT_PREFIX}--{name}")
        return Style(color=full.color, bold=full.bold, italic=full.italic)

    def forget_styles(self) -> None:
        """Styles that depend on more than the theme (focus) changed: rebuild them on the next draw."""
        self._styles.clear()

    def clear_lines(self) -> None:
        """Rows changed in a way their keys do not show: draw every line again."""
        self._lines.clear()

    def restyle(self) -> None:
        """The theme changed: every style, and so every drawn line, is rebuilt."""
        self._styles.clear()
        self._lines.clear()
        self._header = None
        self._width_for = Size(-1, -1)  # the scrollbar's size is styled too
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.restyle()

    # ------------------------------------------------------------------ drawing
    def render_line(self, y: int) -> Strip:
        width = self.line_width
        if y == 0:
            return self.header_line(width)
        index = round(self.scroll_y) + y - 1
        key = self.line_key(index, width)
        if key is None:
            return Strip.blank(width, self.palette()(""))
        strip = self._lines.get(key)
        if strip is None:
            strip = self.render_row(index, width)
            self._lines[key] = strip
        return strip

    def header_line(self, width: int) -> Strip:
        if self._header is not None and self._header[0] == width:
            return self._header[1]
        style = self.palette()("header")
        line = LineBuilder()
        titles = (" " * self.GAP).join(fit(title, w, justify) for _, title, w, justify in self.columns(width))
        line.add(" " + titles, style)
        strip = line.strip(width, style)
        self._header = (width, strip)
        return strip
