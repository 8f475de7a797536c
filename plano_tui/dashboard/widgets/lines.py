"""Fixed-column table lines as `Strip`s, shared by the requests and providers panes.

Both panes render through Textual's line API instead of `DataTable`: at 200 req/s a DataTable repaint
(one Rich render per cell) cost more than the proxy itself. Here a row is a few `Segment`s with styles
looked up once per theme, and adjacent runs of the same style are merged so the per-line filters that
Textual applies downstream have little to walk over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

Part = tuple[str, str]  # (text, style name; "" = the row's own style)
Column = tuple[str, str, int, str]  # (key, title, width, justify: left | right | center)


def clip(text: str, width: int) -> str:
    """`text` cut to `width` cells, with an ellipsis when it did not fit."""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, width - 1) + "…" if width > 0 else ""


def fit(text: str, width: int, justify: str = "left") -> str:
    text = clip(text, width)
    pad = width - cell_len(text)
    if justify == "right":
        return " " * pad + text
    if justify == "center":
        return " " * (pad // 2) + text + " " * (pad - pad // 2)
    return text + " " * pad


class LineBuilder:
    """Accumulates (text, style) runs for one line, merging equal neighbours, then makes a Strip."""

    __slots__ = ("_runs", "_width")

    def __init__(self) -> None:
        self._runs: list[list[object]] = []
        self._width = 0

    def add(self, text: str, style: Style) -> None:
        if not text:
            return
        if self._runs and self._runs[-1][1] is style:
            self._runs[-1][0] += text  # type: ignore[operator]
        else:
            self._runs.append([text, style])
        self._width += cell_len(text)

    def cells(self, parts: Sequence[Part], width: int, justify: str, style: Callable[[str], Style]) -> None:
        """One column: its parts clipped to `width`, aligned, padded with the row style."""
        pieces: list[tuple[str, Style]] = []
        used = 0
        for text, name in parts:
            if used >= width:
                break
            piece = clip(text, width - used)
            pieces.append((piece, style(name)))
            used += cell_len(piece)
        free = width - used
        left = free if justify == "right" else free // 2 if justify == "center" else 0
        pad = style("")
        self.add(" " * left, pad)
        for text, st in pieces:
            self.add(text, st)
        self.add(" " * (free - left), pad)

    def strip(self, width: int, pad: Style) -> Strip:
        if self._width < width:
            self.add(" " * (width - self._width), pad)
        strip = Strip([Segment(t, s) for t, s in self._runs], self._width)  # type: ignore[arg-type]
        return strip.crop(0, width) if self._width > width else strip
