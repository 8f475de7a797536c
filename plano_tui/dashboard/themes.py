"""The dashboard's two themes. Status colours (success/warning/error) are chosen to stay readable as
text on the theme's own background, since latency and status cells are coloured text, not badges."""

from __future__ import annotations

from textual.theme import Theme

DARK = Theme(
    name="plano-dark",
    primary="#5AA9E6",
    secondary="#A78BFA",
    accent="#F2A65A",
    warning="#E8C547",
    error="#F2686B",
    success="#5CCB8A",
    foreground="#D8DEE6",
    background="#10141A",
    surface="#161B22",
    panel="#1F2630",
    dark=True,
    variables={"footer-key-foreground": "#5AA9E6", "block-cursor-text-style": "none"},
)

LIGHT = Theme(
    name="plano-light",
    primary="#1F6FB2",
    secondary="#6D4FD8",
    accent="#B25A00",
    warning="#946200",
    error="#C62828",
    success="#1B7F45",
    foreground="#1F2328",
    background="#F6F5F2",
    surface="#FFFFFF",
    panel="#E9E6E1",
    dark=False,
    variables={"footer-key-foreground": "#1F6FB2", "block-cursor-text-style": "none"},
)

THEMES = (DARK, LIGHT)
