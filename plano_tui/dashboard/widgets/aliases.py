"""The aliases pane: each alias and its current target; `enter` asks the app to retarget it.

A `●` marks an alias whose runtime target differs from config.yaml (retargeted here or through the
admin API and not saved yet — `ctrl+s` writes it).
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from proxy.frontend import AliasView

from .. import format as fmt


class AliasList(OptionList):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[tuple[str, str, bool, str], ...] | None = None

    @property
    def alias(self) -> str | None:
        """The highlighted alias name."""
        if self.highlighted is None or not self.option_count:
            return None
        return self.get_option_at_index(self.highlighted).id

    def show(self, aliases: list[AliasView], file_targets: dict[str, str],
             costs: dict[str, float | None] | None = None) -> None:
        """`costs`: what the requests made through each alias cost so far (proxy.stats), shown when priced."""
        spent = costs or {}
        shown = tuple((a.name, a.target, file_targets.get(a.name) != a.target,
                       fmt.usd(c) if (c := spent.get(a.name)) is not None else "") for a in aliases)
        if shown == self._shown:
            return
        keep = self.alias
        self._shown = shown
        self.clear_options()
        if not shown:
            self.add_option(Option(Content.from_markup("[$foreground-muted]no model_aliases in the config[/]"),
                                   disabled=True))
            return
        self.add_options(
            Option(Content.assemble((name, "bold"), (" ●", "$text-warning") if modified else "",
                                    ("\n  → ", "$foreground-muted"), (target, "$text-accent" if modified else ""),
                                    (f"  {cost}", "$foreground-muted") if cost else ""),
                   id=name)
            for name, target, modified, cost in shown
        )
        names = [s[0] for s in shown]
        self.highlighted = names.index(keep) if keep in names else 0
        unsaved = sum(1 for s in shown if s[2])
        self.border_subtitle = f"● {unsaved} unsaved · ctrl+s" if unsaved else "enter to retarget"
