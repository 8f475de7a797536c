"""The Textual dashboard: the app, its panes (widgets/), its screens (screens/) and what feeds them.

It knows the proxy only through `proxy.frontend` and `proxy.events` (import-linter's
`dashboard-boundary` contract in pyproject.toml). This file imports nothing: the commands that borrow a
pure module from here (`planoai status` uses `format`, `planoai replay` reads `forensics`' exchange
format) must not load Textual.
"""
