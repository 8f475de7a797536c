"""The core's own warnings, as events every front end shows.

The proxy reports a degraded service with a log warning: Redis unreachable (proxy.shared_state), the
OTLP collector refusing spans (proxy.tracing), a cost feed down (proxy.cost), a routing step that failed.
Headless, those went to stderr; under the Textual dashboard stderr is captured and dropped, so a replica
running on memory alone, or traces going nowhere, was invisible where people look. `LogNotices` turns
every warning of the `proxy` loggers into a `ServiceNotice` on the bus while a server runs: a row in the
dashboard's request log (in process and attached, proxy.admin_stream), a `SERVICE_NOTICE` line
headless, never a failed request. A warning about something out of service until further notice names
it, `extra={"down": "redis"}`, and the one saying it is back, `extra={"back": "redis"}`: the dashboard's
banner holds the subject in between.

Warnings may come from other threads (the OTLP export thread) or from inside the bus itself (a failing
subscriber): the event is always handed to the loop with `call_soon_threadsafe`, never published in
place. A module's repeat of its last warning is shown once a minute at most, and a flood is capped, so a
failing dependency cannot bury the requests it did not fail. One server per process, as `planoai` runs
it: the handler sits on the `proxy` logger, which every server's modules share.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from .bus import EventBus
from .events import ServiceNotice
from .redaction import scrub_credentials

LOGGER = "proxy"
REPEAT_S = 60.0  # a module repeating its last warning within this is not shown again
PER_MINUTE = 30  # notices shown per minute at most, whatever they say
MAX_CHARS = 500


def notice_of(record: logging.LogRecord) -> ServiceNotice:
    """A log record as a notice: its message, and an exception's type and text (not its traceback)."""
    try:
        text = record.getMessage()
    except Exception:  # a bad format string must not lose the warning
        text = str(record.msg)
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        text = f"{text}: {type(exc).__name__}: {exc}"
    text = scrub_credentials(" ".join(text.split()))  # one line in any front end, no URL's password
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 1] + "…"
    source = record.name.removeprefix(LOGGER + ".") or LOGGER
    level = "error" if record.levelno >= logging.ERROR else "warning"
    subject = getattr(record, "down", None)  # `extra={"down": "redis"}`: out of service until said back
    back = getattr(record, "back", None)  # `extra={"back": "redis"}`: it is back
    if back is not None:
        level, subject = "info", back
    return ServiceNotice(time.time(), level, source, text, str(subject) if subject is not None else None)


class LogNotices(logging.Handler):
    """WARNING and above from the `proxy` loggers → `ServiceNotice` on `bus`, on `loop`'s thread."""

    def __init__(self, bus: EventBus, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.WARNING)
        self.bus = bus
        self.loop = loop
        self._lock = threading.Lock()
        self._last: dict[str, tuple[str, float]] = {}  # source → its last message shown, when (monotonic)
        self._window = (0.0, 0)  # (start of the current minute, notices shown in it)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            ev = notice_of(record)
            if not self._admit(ev.source, ev.message):
                return
            if self.loop.is_closed():
                return
            # Never published from inside emit(): a warning raised by a bus subscriber (bus.py logs a failing
            # one) would re-enter the bus it came from. The loop publishes it next, from any thread.
            self.loop.call_soon_threadsafe(self.bus.publish, ev)
        except Exception:  # logging must never raise into the code that warned
            self.handleError(record)

    def _admit(self, source: str, message: str) -> bool:
        """A source's repeat of its own last message within REPEAT_S is dropped (a flapping service's
        down / back / down all show); beyond PER_MINUTE notices a minute, everything is."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(source)
            if last is not None and last[0] == message and now - last[1] < REPEAT_S:
                return False
            start, shown = self._window
            if now - start >= 60.0:
                start, shown = now, 0
            if shown >= PER_MINUTE:
                return False
            self._window = (start, shown + 1)
            if len(self._last) > 1024:
                self._last.clear()
            self._last[source] = (message, now)
            return True


def attach(bus: EventBus) -> LogNotices:
    """Start turning the core's warnings into notices on `bus` (call on the event loop's thread)."""
    handler = LogNotices(bus, asyncio.get_running_loop())
    logging.getLogger(LOGGER).addHandler(handler)
    return handler


def detach(handler: LogNotices) -> None:
    logging.getLogger(LOGGER).removeHandler(handler)
