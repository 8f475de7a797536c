"""A `plano` profile for Codex, so plain `codex --profile plano` goes through the proxy (current Codex
ignores `OPENAI_BASE_URL`, docs/codex-wire.md §1).

Codex 0.169 layers `--profile NAME` from its own file, `$CODEX_HOME/NAME.config.toml`, on top of
`config.toml`, and refuses to start while `config.toml` still holds a legacy `[profiles.NAME]` table
or `profile = "NAME"` (observed with the real binary, tests/e2e/test_codex_profile.py). So the profile
is a file of its own: the `[model_providers.plano]` table the launcher passes with `-c`, and the keys
that select it. The user's `config.toml` is never written; a legacy `plano` profile in it is reported.

`planoai cli-agent codex --print-config` prints the file; `--write-config` writes it (atomically), and
writes it again only over a file it wrote itself.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

NAME = "plano"
HEADER = "# Written by `planoai cli-agent codex --write-config`: `codex --profile plano` goes through planoai."


class CodexConfigError(Exception):
    pass


def codex_home(environ: Mapping[str, str]) -> Path:
    home = environ.get("CODEX_HOME")
    return Path(home) if home else Path(environ.get("HOME") or Path.home()) / ".codex"


def profile_path(environ: Mapping[str, str]) -> Path:
    return codex_home(environ) / f"{NAME}.config.toml"


def _q(value: str) -> str:
    """A TOML basic string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def profile_text(base_url: str, model: str, env_key: str | None) -> str:
    """The profile file. `env_key` only when a provider forwards the client's own key
    (passthrough_auth); otherwise the proxy holds the keys and Codex gets a placeholder."""
    lines = [
        HEADER,
        f"model_provider = {_q(NAME)}",
        f"model = {_q(model)}",
        "",
        f"[model_providers.{NAME}]",
        f"name = {_q(NAME)}",
        f"base_url = {_q(base_url)}",
        'wire_api = "responses"',
        f"model_catalog_url = {_q(base_url + '/models')}  # the proxy serves Codex its model metadata",
    ]
    if env_key:
        lines.append(f"env_key = {_q(env_key)}")
    else:
        # Codex fetches the model catalog only for a provider it has a credential for (without one it
        # fell back to generic metadata: no apply_patch tool). The proxy holds the real keys and drops this.
        lines.append('experimental_bearer_token = "planoai"')
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # what we hand Codex must parse
    return text


def legacy_profile(home: Path) -> str | None:
    """Why Codex would refuse `--profile plano` because of `config.toml` (None: it would not)."""
    try:
        conf = tomllib.loads((home / "config.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    if NAME in conf.get("profiles", {}) or conf.get("profile") == NAME:
        return (f"{home / 'config.toml'} has a legacy `[profiles.{NAME}]` table or `profile = \"{NAME}\"`: "
                f"Codex refuses --profile {NAME} until you remove it")
    return None


def write(path: Path, text: str) -> str:
    """Write the profile file; returns what was done, for the user."""
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if old == text:
        return f"{path} already has this profile"
    if old is not None and not old.startswith(HEADER):
        raise CodexConfigError("not written by planoai: not overwriting it (remove it, or use --print-config)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return f"{'updated' if old else 'wrote'} the `{NAME}` profile: {path}"
