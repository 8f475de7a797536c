"""One session's turns (enter on a session): each turn a header row — its Codex turn id, requests, tool
calls, the model(s) it ran on, and a flag with the reason when the model changed mid-turn (fallback,
route, budget, alias retarget, context window) — followed by its tool loop, one row per request: the
model of the step, its status, the tool calls its answer carried, tokens and latency.
Turns come from the proxy (FrontEndLink.session_turns), re-read every second while the screen is open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from proxy.frontend import SessionRow, TurnView

from .. import format as fmt
from .sessions import AMBER_STYLE, context_cell, short_id

COLUMNS = ("turn", "started", "step", "model", "st", "tool calls", "in/cached/out", "latency", "note")


def tool_summary(names: list[str] | tuple[str, ...], width: int = 26) -> str:
    """exec_command×2, apply_patch"""
    text = ", ".join(f"{n}×{c}" if c > 1 else n for n, c in Counter(names).items())
    return text if len(text) <= width else text[: width - 1] + "…"


def turn_rows(turns: list[TurnView]) -> list[tuple[str | Text, ...]]:
    """Newest turn first; each turn's steps in order beneath it."""
    out: list[tuple[str | Text, ...]] = []
    for t in reversed(turns):
        tools = [n for s in t.steps for n in s.tools]
        models = " → ".join(m.split("/", 1)[-1] for m in t.models)
        flag = Text(f"⚠ {t.switch}", style=AMBER_STYLE) if t.switch else ""  # the model changed mid-turn
        tid = f" {short_id(t.turn_id, 8)}" if t.turn_id else ""
        out.append((Text(f"#{t.index}{tid}", style="bold"), fmt.clock(t.started_at), f"{len(t.steps)} req",
                    Text(models, style="bold"), "", tool_summary(tools) or fmt.DASH, "", "", flag))
        last = len(t.steps) - 1
        for i, s in enumerate(t.steps):
            branch = "└" if i == last else "├"
            note = f"↳ {s.switch}" if s.switch else (s.note or "")
            out.append(("", fmt.clock(s.started_at), f"{branch} {i + 1}", s.model.split("/", 1)[-1], str(s.status),
                        tool_summary(s.tools) or "(answer)",
                        f"{fmt.count(s.input_tokens)}/{fmt.count(s.cached_tokens)}/{fmt.count(s.output_tokens)}",
                        fmt.ms(s.latency_ms),
                        Text(note, style=AMBER_STYLE) if s.switch else note))
    return out


class TurnsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,backspace", "close", "Sessions")]

    def __init__(self, row: SessionRow, load: Callable[[], Awaitable[list[TurnView]]]) -> None:
        super().__init__()
        self.row = row
        self.load = load
        self.turns: list[TurnView] = []

    def compose(self) -> ComposeResult:
        r = self.row
        head = Text.assemble(
            (f"Session {r.session_id}", "bold"), f"  ·  {r.client or 'client ?'}  ·  {r.turns} turns, "
            f"{r.requests} requests  ·  {fmt.usd(r.cost_usd)}  ·  context ", context_cell(r))
        yield Static(head, id="turns-title")
        yield DataTable(id="turns-table", cursor_type="row", zebra_stripes=False)
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        await self.reload()
        self.set_interval(1.0, self.reload)

    async def reload(self) -> None:
        turns = await self.load()
        if turns == self.turns and self.query_one(DataTable).row_count:
            return
        self.turns = turns
        table = self.query_one(DataTable)
        table.clear()
        for cells in turn_rows(turns):
            table.add_row(*cells)

    def action_close(self) -> None:
        self.dismiss(None)
