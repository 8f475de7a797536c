"""What the requests pane shows before the first request: how to point an agent here, what is missing."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from proxy.frontend import ConfigView


class EmptyState(Static):
    def __init__(self, *, url: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.url = url
        self.border_title = "Waiting for the first request"

    def show(self, config: ConfigView, alias_names: list[str]) -> None:
        muted, code = "$foreground-muted", "bold $text-accent"
        port = self.url.rsplit(":", 1)[-1]
        port_flag = "" if port == str(config.port) else f" --port {port}"  # not the config's port
        # Current Codex ignores OPENAI_BASE_URL: without the launcher it needs a provider of its own,
        # which --write-config puts in a profile (plano_tui/codex_config.py).
        parts: list[str | tuple[str, str]] = [
            ("Point a coding agent at this proxy:\n\n", "bold"),
            ("  Codex        ", "bold"), ("planoai cli-agent codex", code), ("\n", ""),
            ("               or  ", muted), ("codex --profile plano", code),
            ("   (set up once: ", muted), (f"planoai cli-agent codex --write-config{port_flag}", code),
            (")\n", muted),
            ("  Claude Code  ", "bold"), (f"ANTHROPIC_BASE_URL={self.url} claude", code), ("\n", ""),
            ("  Any client   ", "bold"), (f"curl {self.url}/v1/models", code),
            ("   (lists models and aliases)\n", muted),
        ]
        if alias_names:
            parts += [("\n  Aliases you can ask for: ", muted), (", ".join(alias_names), ""), ("\n", "")]
        missing = config.missing_keys
        if missing:
            parts.append(("\nProviders without an API key ", "bold $text-warning"))
            parts.append(("(requests to them fail until you set it):\n", muted))
            for p, var in missing:
                parts += [("  ✗ ", "$text-error"), (f"{p.name:<34}", ""), (f"export {var}=…", code), ("\n", "")]
            parts.append(("  export it and restart, or add it to the .env beside config.yaml and press r to reload.\n",
                          muted))
        else:
            parts.append(("\nEvery provider has what it needs to authenticate.\n", "$text-success"))
        self.update(Content.assemble(*parts))
