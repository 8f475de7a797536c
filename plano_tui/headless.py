"""The headless front end: one `MODEL_RESOLUTION` line per finished request (no Textual here).

Replaces Plano's `pretty_model_resolution.sh` log filter; the line keeps the fields that script greps
(`req_model='…'`, `resolved_model='…'`, `provider='…'`, `streaming=…`) and appends key=value extras.
`req_model` is what the client sent (Plano logged the alias-resolved model); `alias_target=` shows the
alias step. A bus subscriber writing to an injected text stream, so tests read lines from a StringIO.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import IO

from proxy.events import (
    NOTICES,
    TERMINAL,
    AliasChanged,
    ConfigReloaded,
    Event,
    ProviderCooling,
    RequestRecord,
    ServiceNotice,
)

_second: list[object] = [None, ""]  # (whole second, formatted) — strftime once per second, not per line


def _ts(epoch: float) -> str:
    sec = int(epoch)
    if _second[0] != sec:
        _second[0], _second[1] = sec, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec))
    return f"{_second[1]}.{int((epoch - sec) * 1000):03d}"


def _q(value: str | None) -> str:
    """A quoted field value; never empty, never containing a quote (the pretty-script regexes)."""
    text = value or "-"
    if "'" in text or "\n" in text:
        text = text.replace("'", "’").replace("\n", " ")
    return f"'{text}'"


def format_record(r: RequestRecord) -> str:
    # One f-string for the fields every line has (this runs once per request in --no-ui).
    line = (
        f"[{_ts(r.started_at)}][{'info' if r.ok else 'warn'}] request_id={r.request_id}: MODEL_RESOLUTION: "
        f"req_model={_q(r.client_model or '(none)')} -> resolved_model={_q(r.upstream_model)} "
        f"provider={_q(r.provider)} streaming={'true' if r.stream else 'false'} api={r.translation}"
    )
    extras: list[str] = []
    if r.alias_target:
        extras.append(f"alias_target={_q(r.alias_target)}")
    if r.via == "default":
        extras.append("via=default")
    if r.route is not None:
        if r.route.route:
            extras.append(f"route={_q(r.route.route)}")
        if r.route.reason:
            extras.append(f"route_reason={_q(r.route.reason)}")
    extras.append(f"status={r.status}")
    if r.ttft_ms is not None:
        extras.append(f"ttft_ms={r.ttft_ms:.1f}")
    extras.append(f"latency_ms={r.latency_ms:.1f}")
    u = r.usage
    if u:
        extras.append(f"tokens_in={u.input_tokens} cached={u.cached_tokens} tokens_out={u.output_tokens}")
    if r.cost is not None:  # USD, as Plano prices it (proxy.cost)
        c = r.cost
        i, k, o = c.input_usd, c.cached_usd, c.output_usd  # one % format: a fifth cheaper than the f-string
        extras.append("cost_usd=%.6f cost_in=%.6f cost_cached=%.6f cost_out=%.6f" % (i + k + o, i, k, o))  # noqa: UP031
    if r.session_id:
        extras.append(f"session={_q(r.session_id)}")
    if len(r.attempts) > 1:
        extras.append(f"attempts={len(r.attempts)} fallback_from={_q(r.attempts[0].provider)}")
    if r.notes:
        extras.append(f"notes={_q('; '.join(r.notes))}")
    if r.error:
        extras.append(f"error={_q(r.error[:300])}")
    return f"{line} {' '.join(extras)}"


class HeadlessPrinter:
    """Collects finished requests and writes their lines every `flush_s`: one format loop, one write
    and one syscall per burst instead of per request (formatting inside the request path measured 3-4 %
    of the proxy's CPU at saturation), so `--no-ui | grep` stays live, `flush_s` behind at most. Alias
    changes, reloads and cool-downs are written at once. The CLI calls `flush()` when it stops."""

    TYPES = (*TERMINAL, *NOTICES)  # what it subscribes to

    def __init__(self, out: IO[str], flush_s: float = 0.05) -> None:
        self.out = out
        self.flush_s = flush_s
        self._pending: list[RequestRecord] = []

    def flush(self) -> None:
        """Write every pending line now."""
        records, self._pending = self._pending, []
        self._write([format_record(r) for r in records])

    def _write(self, lines: list[str]) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stdout must not break requests
            if lines:
                self.out.write("\n".join(lines) + "\n")
            self.out.flush()

    def __call__(self, event: Event) -> None:
        if isinstance(event, TERMINAL):
            self._pending.append(event.record)
            if len(self._pending) > 1:
                return  # a flush is already scheduled
            try:
                asyncio.get_running_loop().call_later(self.flush_s, self.flush)
            except RuntimeError:  # no loop (tests, shutdown): write now
                self.flush()
            return
        line = notice_line(event)
        if line is not None:
            records, self._pending = self._pending, []  # keep the order of events
            self._write([*(format_record(r) for r in records), line])


def notice_line(event: Event) -> str | None:
    """The line of an alias change, reload, cool-down or service notice (None for other events)."""
    now = time.time()
    if isinstance(event, AliasChanged):
        return (
            f"[{_ts(now)}][info] ALIAS_CHANGED: alias={_q(event.alias)} "
            f"old_target={_q(event.old_target)} new_target={_q(event.new_target)} source={event.source}"
        )
    if isinstance(event, ConfigReloaded):
        if event.ok:
            changes = _q(", ".join(event.changes) or "none")
            return f"[{_ts(now)}][info] CONFIG_RELOADED: path={_q(event.path)} changes={changes}"
        return (
            f"[{_ts(now)}][error] CONFIG_RELOAD_FAILED: path={_q(event.path)} "
            f"kept the previous config: {event.error}"
        )
    if isinstance(event, ProviderCooling):
        return (
            f"[{_ts(now)}][warn] PROVIDER_COOLING: provider={_q(event.provider)} "
            f"for_s={max(0.0, event.until - now):.0f} reason={_q(event.reason)}"
        )
    if isinstance(event, ServiceNotice):  # the core's own warnings (proxy.notices): Redis, OTLP, cost feeds
        level = {"error": "error", "info": "info"}.get(event.level, "warn")
        # down='redis' … back='redis': a script can follow what is out of service
        state = "" if event.subject is None else f" {'back' if event.level == 'info' else 'down'}={_q(event.subject)}"
        return f"[{_ts(event.at)}][{level}] SERVICE_NOTICE: source={event.source}{state} message={_q(event.message)}"
    return None
