"""Small blocking HTTP calls from the CLI commands to a proxy on loopback (stdlib only: these commands
must start fast, and never go through an HTTP(S)_PROXY from the environment)."""

from __future__ import annotations

import json
from typing import Any


def get_json(url: str, timeout: float = 2.0, token: str | None = None) -> Any:
    """GET `url` and decode its JSON. Raises OSError (URLError, HTTPError, refused, timeout) or ValueError."""
    import urllib.request  # lazy: costs start-up time on every `planoai` command

    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    with opener.open(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def health(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The proxy's /healthz answer, or None when nothing (or something else) answers at `url`."""
    try:
        data = get_json(f"{url}/healthz", timeout)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("status") == "ok" else None
