"""Short, fixed-width text for numbers, times and resolutions shown in the dashboard.

Pure functions (no Textual), shared by the widgets and the screens so the same value always looks the
same; tested directly in tests/test_ui_store.py.
"""

from __future__ import annotations

import time

from proxy.events import RequestRecord
from proxy.frontend import ProviderView

DASH = "—"
SPARK = "▁▂▃▄▅▆▇█"


def ms(value: float | None) -> str:
    """245ms · 1.23s · 12.3s · 2m05s — at most 5 cells."""
    if value is None:
        return DASH
    if value < 1000:
        return f"{value:.0f}ms"
    s = value / 1000
    if s < 10:
        return f"{s:.2f}s"
    if s < 100:
        return f"{s:.1f}s"
    m, sec = divmod(int(s), 60)
    return f"{m}m{sec:02d}s"


def count(n: int | None) -> str:
    """512 · 1.2k · 45k · 1.2M."""
    if n is None:
        return DASH
    if n < 1000:
        return str(n)
    if n < 10_000:
        return f"{n / 1000:.1f}k"
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def usd(value: float | None) -> str:
    """Dollars: cents above $1, more digits below (a cached Codex turn costs fractions of a cent)."""
    if value is None:
        return DASH
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}" if value >= 0.0001 or value == 0 else f"${value:.6f}"


def rate(value: float | None) -> str:
    return DASH if value is None else f"{value:.0f}"


def clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def clock_ms(epoch: float) -> str:
    return clock(epoch) + f".{int((epoch % 1) * 1000):03d}"


def duration(seconds: float) -> str:
    """Uptime/age: 42s · 3m12s · 2h05m · 3d04h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def tokens(r: RequestRecord) -> str:
    """in/cached/out, or a dash when the upstream reported no usage."""
    u = r.usage
    if not u:
        return DASH
    return f"{count(u.input_tokens)}/{count(u.cached_tokens)}/{count(u.output_tokens)}"


def model_chain(r: RequestRecord) -> tuple[str, str, str | None]:
    """(what the client asked, what it became, route) — the first two equal when nothing applied."""
    asked = r.client_model or "(default)"
    final = r.upstream_model or "✗"
    route = r.route.route if r.route is not None and r.route.route else None
    return asked, final, route


def key_label(p: ProviderView) -> str:
    """Compact key status: "✓ ok", "✗ XAI_API_KEY" (missing), "⇄ client key", "· not needed"."""
    if p.key_status == "ok":
        return "✓ ok"
    if p.key_status == "missing":
        return f"✗ {p.key_env or 'no key'}"
    if p.key_status == "passthrough":
        return "⇄ client key"
    return "· not needed"


def sparkline(values: tuple[float, ...] | list[float], width: int) -> list[tuple[str, float]]:
    """The last `width` samples as (block, value) pairs, scaled to their own min..max."""
    vals = list(values[-width:])
    if not vals:
        return []
    lo, hi = min(vals), max(vals)
    span = hi - lo
    top = len(SPARK) - 1
    return [(SPARK[round((v - lo) / span * top) if span > 0 else 0], v) for v in vals]


def short_reason(r: RequestRecord) -> str:
    """A one-line reason for a failed request (the detail screen shows the full text)."""
    err = (r.error or f"HTTP {r.status}").replace("\n", " ")
    code = r.error_code or ""
    if code == "model_not_found":
        return f"unknown model '{r.client_model}'" if r.client_model else "no model and no default provider"
    if code == "missing_api_key":
        var = err.split("export ", 1)[1].split("=", 1)[0] if "export " in err else "the key"
        return f"no API key: export {var}"
    if r.provider and err.startswith(r.provider + ": "):
        err = err[len(r.provider) + 2 :]
    return err


def body_text(data: bytes | None, limit: int) -> tuple[str, str, bool]:
    """(text, lexer, truncated) for a captured body: pretty JSON when it parses, else raw text."""
    import orjson

    if not data:
        return "", "text", False
    try:
        text = orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2).decode()
        lexer = "json"
    except orjson.JSONDecodeError:
        text = data.decode("utf-8", "replace")
        lexer = "text"
    if len(text) > limit:
        return text[:limit], lexer, True
    return text, lexer, False
