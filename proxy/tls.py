"""Load the system CA bundle off the start-up path.

Importing aiohttp builds its default TLS contexts, and loading the CA bundle into them costs about
100 ms — a fifth of a cold start. `deferred_ca_loading()` records those contexts instead of loading
them during the import; `finish_ca_loading()` loads them in a thread (OpenSSL releases the GIL) once
the proxy already listens. Only https upstreams wait for it (`wait_ready()`); loopback and local
providers never do.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator

_real = ssl.SSLContext.set_default_verify_paths
_pending: list[ssl.SSLContext] = []
_done = threading.Event()
_done.set()


@contextlib.contextmanager
def deferred_ca_loading() -> Iterator[None]:
    def record(self: ssl.SSLContext) -> None:
        _pending.append(self)

    _done.clear()
    ssl.SSLContext.set_default_verify_paths = record  # type: ignore[method-assign]
    try:
        yield
    finally:
        ssl.SSLContext.set_default_verify_paths = _real  # type: ignore[method-assign]
        if not _pending:
            _done.set()


def _load() -> None:
    try:
        while _pending:
            _real(_pending.pop())
    finally:
        _done.set()


async def finish_ca_loading() -> None:
    if not _done.is_set():
        await asyncio.to_thread(_load)


async def wait_ready() -> None:
    if not _done.is_set():
        await asyncio.to_thread(_done.wait, 10)
