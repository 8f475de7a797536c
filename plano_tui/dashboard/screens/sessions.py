"""Live sessions (key `s`, the footer's sessions/requests switch): one row per conversation — client,
models, turns, requests, context now against the model's window (a meter, amber from 80 %), cache-hit
ratio, cost, idle time, warm or cold, and the routing budget where one applies. Enter opens the session's
turns (screens/turns.py). Rows come from proxy.session_view; redrawn only when something moved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from proxy.frontend import SessionRow, TurnView

from .. import format as fmt

COLUMNS = ("session", "client", "model(s)", "turns", "req", "context / window", "hit", "cost", "idle", "cache",
           "budget")
AMBER_STYLE = "bold dark_orange"


def meter(fill: float | None, width: int = 8) -> str:
    """▮▮▮▯▯▯▯▯ — the context window's fill, in `width` cells."""
    if fill is None:
        return ""
    n = max(0, min(width, round(fill * width)))
    return "▮" * n + "▯" * (width - n)


def context_cell(r: SessionRow) -> Text:
    if r.context_window is None:
        return Text(f"{fmt.count(r.context_tokens)} / ?")
    text = f"{meter(r.fill)} {r.fill or 0:.0%} {fmt.count(r.context_tokens)}/{fmt.count(r.context_window)}"
    return Text(text, style=AMBER_STYLE if r.amber else "")


def short_id(sid: str, n: int = 14) -> str:
    return sid if len(sid) <= n else sid[: n - 1] + "…"


def cells(r: SessionRow) -> tuple[str | Text, ...]:
    # warm: the provider's prompt cache still holds the prefix (idle within its window, e.g. 300 s)
    cache = f"warm {r.window_s - r.idle_s:.0f}s" if r.warm else "cold"
    if r.cap_usd is not None or r.decision:
        budget = fmt.usd(r.spend_usd) + (f" / {fmt.usd(r.cap_usd)}" if r.cap_usd is not None else "")
        budget += f" {r.decision} ({r.reason})" if r.decision else ""
    else:
        budget = fmt.DASH  # no routing budget
    models = " → ".join(m.split("/", 1)[-1] for m in r.models) if r.models else r.anchor
    models = models if len(models) <= 26 else models[:25] + "…"
    ratio = fmt.DASH if r.cache_ratio is None else f"{r.cache_ratio:.0%}"
    return (short_id(r.session_id), r.client or fmt.DASH, models, str(r.turns or fmt.DASH), str(r.requests),
            context_cell(r), ratio, fmt.usd(r.cost_usd), fmt.duration(r.idle_s), cache, budget)


class SessionsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s,escape", "close", "Requests"),  # the footer's switch back to the request list
        Binding("q", "close", "Back", show=False),
        Binding("enter", "open", "Turns"),
    ]

    def __init__(self, source: Callable[[], tuple[int, list[SessionRow]]],
                 turns: Callable[[str], Awaitable[list[TurnView]]] | None = None) -> None:
        super().__init__()
        self.source = source  # () -> (store version, rows)
        self.turns = turns  # session id -> its turns (FrontEndLink.session_turns)
        self._version = -1
        self.rows: list[SessionRow] = []

    def compose(self) -> ComposeResult:
        yield Static("Live sessions — each conversation's models, turns, context window and cache; "
                     "enter opens its turns", id="sessions-title")
        yield DataTable(id="sessions-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="sessions-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.refresh_rows()
        self.set_interval(1.0, self.refresh_rows)

    def refresh_rows(self) -> None:
        version, rows = self.source()
        if version == self._version and not any(r.warm for r in rows):
            return  # nothing moved (warm rows still count their idle seconds)
        self._version = version
        self.rows = rows
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for r in rows:
            table.add_row(*cells(r), key=r.session_id)
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
        notes = [f"{short_id(r.session_id)}: {r.note}" for r in rows if r.note]
        self.query_one("#sessions-empty", Static).update(
            "\n".join(notes) if rows else
            "No live sessions yet: a session is any request with a session key (Codex's session-id, Claude "
            "Code's session header, X-Model-Affinity, a prompt_cache_key)."
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if self.turns is None or not self.rows or table.cursor_row >= len(self.rows):
            return
        from .turns import TurnsScreen

        row = self.rows[table.cursor_row]
        turns = self.turns
        self.app.push_screen(TurnsScreen(row, lambda: turns(row.session_id)))

    def action_close(self) -> None:
        self.dismiss(None)
