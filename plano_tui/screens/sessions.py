"""Live sessions (key `s`): per session its anchor model, warm or cold (idle vs the provider's cache
window), context tokens, switch spend against the routing budget's cap, the last decision and its reason,
and what the conversation has cost. Rows come from proxy.session_view; redrawn only when the store moved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from proxy.frontend import SessionRow

from .. import format as fmt

COLUMNS = ("session", "anchor model", "cache", "context", "spend / cap", "last decision", "switches", "req", "cost")


def cells(r: SessionRow) -> tuple[str, ...]:
    cache = f"warm {r.idle_s:.0f}s/{r.window_s:.0f}s" if r.warm else f"cold {fmt.duration(r.idle_s)}"
    spend = fmt.usd(r.spend_usd) + (f" / {fmt.usd(r.cap_usd)}" if r.cap_usd is not None else " (no budget)")
    decision = f"{r.decision} ({r.reason})" if r.decision else fmt.DASH
    sid = r.session_id if len(r.session_id) <= 28 else r.session_id[:27] + "…"
    return (sid, r.anchor, cache, fmt.count(r.context_tokens), spend, decision, str(r.switches), str(r.requests),
            fmt.usd(r.cost_usd))


class SessionsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,s,q", "close", "Back")]

    def __init__(self, source: Callable[[], tuple[int, list[SessionRow]]]) -> None:
        super().__init__()
        self.source = source  # () -> (store version, rows)
        self._version = -1

    def compose(self) -> ComposeResult:
        yield Static("Live sessions — the model each conversation is anchored on and what switching would cost",
                     id="sessions-title")
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
        table = self.query_one(DataTable)
        table.clear()
        for r in rows:
            table.add_row(*cells(r), key=r.session_id)
        self.query_one("#sessions-empty", Static).update(
            "" if rows else "No live sessions yet: sessions start with X-Model-Affinity, prompt_caching, a "
            "routing budget, or routing with route_on_user_only (the default for Codex and Claude Code)."
        )

    def action_close(self) -> None:
        self.dismiss(None)
