"""Pick a new target for an alias from the configured models (type to filter, enter to choose).

Dismisses with the chosen model string, or None when cancelled. Models whose provider has no API key
are still offered but marked, so a retarget that would fail is visible before it is made. A typed name
that is not in the list but that a wildcard provider serves (`openai/*`) is offered too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from proxy.frontend import ProviderView


def matches(query: str, model: str) -> bool:
    """Every whitespace-separated word of the query appears in the model name (case-insensitive)."""
    m = model.lower()
    return all(w in m for w in query.lower().split())


class AliasPicker(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "move(1)", "Down", show=False, priority=True),
        Binding("up", "move(-1)", "Up", show=False, priority=True),
    ]

    def __init__(self, alias: str, current: str, choices: list[str],
                 find_provider: Callable[[str], ProviderView | None], *, cursor_blink: bool = True,
                 preview: Callable[[str], str] | None = None) -> None:
        super().__init__()
        # What moving the alias's warm sessions to a choice would cost (FrontEndLink.switch_preview).
        self.preview = preview
        self.alias = alias
        self.current = current
        self.choices = choices
        self.find_provider = find_provider  # who would serve a model name (the proxy's own lookup)
        self.cursor_blink = cursor_blink
        # Targets are written either way ("gpt-5.3-codex" or "openai/gpt-5.3-codex"): mark the choice
        # that serves the current one.
        p = find_provider(current)
        self.current_choice = p.model if p is not None and not p.wildcard else current

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Label(Content.assemble(("Retarget ", ""), (self.alias, "bold $text-accent")), id="picker-title")
            yield Static(Content.assemble(("now → ", "$foreground-muted"), (self.current, "bold"),
                                          ("   (the next request through it uses the new target)",
                                           "$foreground-muted")), id="picker-current")
            yield Input(placeholder="filter models…", id="picker-filter")
            yield OptionList(id="picker-options")
            muted = "$foreground-muted"
            yield Static(Content.assemble(("enter", "bold"), (" choose  ", muted), ("esc", "bold"),
                                          (" cancel  ", muted), ("↑↓", "bold"), (" move", muted)), id="picker-hint")

    def on_mount(self) -> None:
        self.query_one(Input).cursor_blink = self.cursor_blink
        self._refilter("")
        self.query_one(Input).focus()

    def _label(self, model: str, via: ProviderView | None = None) -> Content:
        p = via or self.find_provider(model)
        parts: list[str | tuple[str, str]] = [(model, "bold" if model == self.current_choice else "")]
        if model == self.current_choice:
            parts.append(("  ● current", "$text-success"))
        if via is not None:
            parts.append((f"  via {via.name}", "$foreground-muted"))
        if p is not None and p.key_status == "missing":
            parts.append((f"  ✗ {p.key_env or 'API key'} not set", "$text-error"))
        if self.preview is not None and model != self.current_choice and (cost := self.preview(model)):
            parts.append((f"  ⇄ {cost}", "$text-warning"))
        return Content.assemble(*parts)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._refilter(event.value)

    def set_previews(self, previews: dict[str, str]) -> None:
        """Previews that arrived after the picker opened (an attached dashboard asks the proxy)."""
        if previews:
            self.preview = lambda model: previews.get(model, "")
            self._refilter(self.query_one(Input).value)

    def _refilter(self, query: str) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        shown = [m for m in self.choices if matches(query, m)]
        typed = query.strip()
        if typed and typed not in self.choices:
            p = self.find_provider(typed)
            if p is not None and p.wildcard:
                ol.add_option(Option(self._label(typed, via=p), id=typed))
        ol.add_options(Option(self._label(m), id=m) for m in shown)
        if not ol.option_count:
            ol.add_option(Option(Content("no configured model matches"), disabled=True))
            return
        ids = [ol.get_option_at_index(i).id for i in range(ol.option_count)]
        ol.highlighted = ids.index(self.current_choice) if not typed and self.current_choice in ids else 0

    def action_move(self, delta: int) -> None:
        ol = self.query_one(OptionList)
        if delta > 0:
            ol.action_cursor_down()
        else:
            ol.action_cursor_up()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        ol = self.query_one(OptionList)
        if ol.highlighted is not None:
            option = ol.get_option_at_index(ol.highlighted)
            if not option.disabled:
                self.dismiss(option.id)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
