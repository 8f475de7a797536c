"""The HTTP/1.1 client the proxy forwards model requests with (`UpstreamClient`).

Why not aiohttp's `ClientSession` here: on a forwarder's hot path it is half of the CPU per request —
the ~50-line aiohttp forwarder we measure against served 1.9× the requests with a minimal client of this
kind in place of `ClientSession`, side by side on one core (bench/RESULTS.md, session 8). Forwarding
needs little of what it does per request (URL objects, cookie and trace hooks, a timer rescheduled per
chunk, a request object graph), so this client does only what forwarding needs:

- POST of a body already in memory, keep-alive connections pooled per origin, TLS with the system
  trust store (or `SSL_CERT_FILE`);
- answers parsed by llhttp (httptools): content-length, chunked and close-delimited bodies, interim
  1xx answers skipped, gzip/deflate decoded (it asks for them, as aiohttp did);
- the answer read whole (`read()`) or chunk by chunk as it arrives (`async for`), with the upstream
  paused while more than `_HIGH_WATER` bytes wait for a slow client;
- a connect timeout, and an idle timeout (no byte from the upstream for `idle_timeout_s`) checked by
  one watchdog per client rather than a timer per chunk;
- a pooled connection the upstream closed while idle is replaced once, as HTTP clients do when not
  one byte of the answer arrived (Go's `errServerClosedIdle`); anything else is the caller's failure.

Requests through an outbound proxy (`HTTPS_PROXY` & co., proxy.upstream.proxy_for) still go through
aiohttp, which implements CONNECT and proxy credentials; `AiohttpAnswer` gives them the same interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import zlib
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import aiohttp
import httptools

log = logging.getLogger(__name__)

_HIGH_WATER = 1 << 20  # buffered answer bytes above which the upstream is paused
_MAX_IDLE_PER_ORIGIN = 64
_KEEPALIVE_S = 15.0  # an idle pooled connection older than this is closed (aiohttp's default)
_SKIPPED = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"})


class UpstreamError(Exception):
    """The upstream could not be reached, broke the connection, or answered something that is not HTTP."""


class _Target(NamedTuple):
    origin: tuple[str, str, int]  # scheme, host, port: the pool key
    request_line: bytes  # b"POST /path?query HTTP/1.1\r\n"
    host: str  # the Host header's default value


@functools.lru_cache(maxsize=1024)
def _target(url: str) -> _Target:
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme not in ("http", "https") or not rest:
        raise UpstreamError(f"unsupported upstream URL {url!r}")
    authority, slash, path = rest.partition("/")
    authority = authority.rpartition("@")[2]  # user info never goes on the wire as part of Host
    if authority.startswith("["):  # [IPv6]:port
        host, _, port_s = authority[1:].partition("]")
        port_s = port_s.lstrip(":")
    else:
        host, _, port_s = authority.partition(":")
    default = 443 if scheme == "https" else 80
    try:
        port = int(port_s) if port_s else default
    except ValueError:
        raise UpstreamError(f"bad port in upstream URL {url!r}") from None
    target = slash + path if slash else "/"
    shown = f"[{host}]" if ":" in host else host
    return _Target((scheme, host, port), f"POST {target} HTTP/1.1\r\n".encode("latin-1"),
                   shown if port == default else f"{shown}:{port}")


def _head(t: _Target, headers: dict[str, str], length: int) -> bytes:
    host = t.host
    lines = []
    encodings = False
    for name, value in headers.items():
        low = name.lower()
        if low in _SKIPPED:
            if low == "host":
                host = value
            continue
        if low == "accept-encoding":
            encodings = True
        lines.append(f"{name}: {value}\r\n")
    if not encodings:
        lines.append("Accept-Encoding: gzip, deflate\r\n")
    text = f"Host: {host}\r\nContent-Length: {length}\r\n{''.join(lines)}\r\n"
    # One check for the whole head: a CR or LF inside a name or value would split it into more lines.
    if text.count("\n") != len(lines) + 3 or text.count("\r") != len(lines) + 3:
        raise UpstreamError("a header name or value contains a line break")
    try:
        return t.request_line + text.encode("latin-1")
    except UnicodeEncodeError:
        raise UpstreamError("a header value is not latin-1 text") from None


class UpstreamAnswer:
    """One upstream answer: `status`, `headers` (names in lower case), then the body through `read()`
    or `async for chunk in answer`. `release()` when done: a body left unread closes its connection."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_decoder",
        "_eof",
        "_error",
        "_framed",
        "_got_bytes",
        "_paused",
        "_size",
        "_waiter",
        "_whole",
        "headers",
        "status",
    )

    def __init__(self, conn: _Connection) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self._conn: _Connection | None = conn
        self._chunks: list[bytes] = []
        self._size = 0
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._decoder: Any = None
        self._got_bytes = False  # any byte of this answer arrived (a stale pooled connection sends none)
        self._paused = False
        self._framed = False  # content-length or chunked: EOF before the end is a broken body
        self._whole = False  # read() is collecting the body: no pausing

    # ---------------------------------------------------------------- reading (the handler's side)
    async def read(self) -> bytes:
        self._whole = True  # the whole body is wanted: never paused for it
        self._resume()
        while not self._eof:
            await self._wait()
        if self._error is not None:
            raise self._error
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        return data

    def __aiter__(self) -> UpstreamAnswer:
        return self

    async def __anext__(self) -> bytes:
        while not self._chunks:
            if self._eof:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            await self._wait()
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._size = 0
        if self._paused:
            self._resume()
        return data

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            conn = self._conn
            if conn is not None and conn.transport is not None:
                conn.last_io = conn.client.now()  # the idle clock restarts: the pause was ours
                conn.transport.resume_reading()

    def release(self) -> None:
        """Done with this answer. Its connection went back to the pool when the body ended; a body not
        read to its end leaves the connection unusable, so it is closed."""
        conn, self._conn = self._conn, None
        if conn is not None and not self._eof:
            conn.abort()

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # ---------------------------------------------------------------- feeding (the connection's side)
    def _body(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error as exc:
                self._fail(UpstreamError(f"the provider's compressed body is corrupt: {exc}"))
                return
            if not data:
                return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > _HIGH_WATER and not self._paused and not self._whole and self._conn is not None:
            transport = self._conn.transport
            if transport is not None:
                self._paused = True
                transport.pause_reading()
        self._wake()

    def _finish(self) -> None:
        if self._decoder is not None:
            with contextlib.suppress(zlib.error):
                tail = self._decoder.flush()
                if tail:
                    self._chunks.append(tail)
        self._eof = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if not self._eof:
            self._error = exc
            self._eof = True
            if self._conn is not None:
                self._conn.abort()
        self._wake()


class _Connection(asyncio.Protocol):
    """One keep-alive connection to an origin, with its llhttp parser; it carries one answer at a time."""

    def __init__(self, client: UpstreamClient, origin: tuple[str, str, int]) -> None:
        self.client = client
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.answer: UpstreamAnswer | None = None
        self.headers_ready: asyncio.Future[None] | None = None
        self.last_io = 0.0  # loop time of the last byte in (or of the request going out)
        self._interim = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream transport: create_connection's

    def data_received(self, data: bytes) -> None:
        self.last_io = self.client.now()
        if self.answer is not None:
            self.answer._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._broken(UpstreamError("the provider switched protocols"))
        except httptools.HttpParserError as exc:
            self._broken(UpstreamError(f"the provider's answer is not valid HTTP/1.1: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        a = self.answer
        if a is not None and a.status and not a._framed and not a._eof:  # no length, not chunked: EOF ends it
            self.answer = None
            a._finish()
            self.client.forget(self)
            return
        self._broken(UpstreamError(f"the provider closed the connection{': ' + str(exc) if exc else ''}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        a = self.answer
        if a is None:
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key in a.headers:
            a.headers[key] += ", " + text
        else:
            a.headers[key] = text

    def on_headers_complete(self) -> None:
        a = self.answer
        if a is None:
            return
        status = self._parser.get_status_code()
        if status < 200:  # 100 Continue, 103 Early Hints: the real answer follows
            self._interim = True
            a.headers = {}
            return
        h = a.headers
        a._framed = "content-length" in h or "chunked" in h.get("transfer-encoding", "").lower()
        coding = h.get("content-encoding", "").strip().lower()
        if coding in ("gzip", "x-gzip"):
            a._decoder = zlib.decompressobj(47)  # 32 + 15: a gzip or zlib header, whichever comes
        elif coding == "deflate":
            a._decoder = _Deflate()
        elif coding and coding != "identity":  # asked for by a provider's own `headers:` (Accept-Encoding)
            self._broken(UpstreamError(f"the provider's answer is compressed as {coding!r}, which the proxy "
                                       "cannot decode (remove Accept-Encoding from the provider's headers)"))
            return
        a.status = status  # last: an answer with a status is one the caller gets
        self._headers_done()

    def on_body(self, body: bytes) -> None:
        a = self.answer
        if a is not None:
            a._body(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        a = self.answer
        if a is None:
            return
        self.answer = None
        a._conn = None
        if a._paused:  # paused for a slow reader, but the body is complete: the next answer needs reading on
            a._paused = False
            if self.transport is not None:
                self.transport.resume_reading()
        a._finish()
        if self._parser.should_keep_alive() and self.transport is not None:
            self.client.park(self)
        else:
            self.abort()

    # the client's side
    def send(self, data: bytes, answer: UpstreamAnswer, ready: asyncio.Future[None]) -> None:
        if self.transport is None:  # accepted, then closed before we wrote (an overloaded server does)
            raise UpstreamError("the provider closed the connection before the request went out")
        self.answer = answer
        self.headers_ready = ready
        self.last_io = self.client.now()
        self.client.active.add(self)
        self.transport.write(data)

    def abort(self) -> None:
        t = self.transport
        if t is not None:
            self.transport = None
            t.abort()
        self.client.forget(self)

    def idle_too_long(self) -> None:
        limit = self.client.idle_timeout_s
        self._broken(TimeoutError(f"no data from the provider within the idle timeout ({limit:g} s)"))

    def _broken(self, exc: BaseException) -> None:
        """The answer in flight (if any) ends with `exc`, and the connection with it."""
        a = self.answer
        self.answer = None
        if a is not None:
            a._fail(exc)
        self._headers_done()
        self.abort()

    def _headers_done(self) -> None:
        f = self.headers_ready
        if f is not None:
            self.headers_ready = None
            if not f.done():
                f.set_result(None)


class _Deflate:
    """HTTP 'deflate' is meant to be zlib-wrapped; some servers send it raw. Decide on the first bytes."""

    def __init__(self) -> None:
        self._d: Any = None

    def decompress(self, data: bytes) -> bytes:
        if self._d is None:
            self._d = zlib.decompressobj(15)
            try:
                return bytes(self._d.decompress(data))
            except zlib.error:
                self._d = zlib.decompressobj(-15)
        return bytes(self._d.decompress(data))

    def flush(self) -> bytes:
        return bytes(self._d.flush()) if self._d is not None else b""


class UpstreamClient:
    """Pools keep-alive connections per origin; one per proxy server, opened and closed with it."""

    def __init__(self, connect_timeout_s: float, idle_timeout_s: float) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.active: set[_Connection] = set()
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._ssl_loading: asyncio.Future[ssl.SSLContext] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.now: Callable[[], float] = lambda: 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.now = loop.time
        self._watchdog = loop.create_task(self._watch())

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        for conns in list(self._idle.values()):
            for c in list(conns):
                c.abort()
        for c in list(self.active):
            c.abort()
        self._idle.clear()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> UpstreamAnswer:
        """Send `body` to `url`; returns once the answer's status and headers arrived. Raises
        `UpstreamError` or `TimeoutError`; the caller `release()`s the answer."""
        if self._watchdog is None:
            self.start()
        t = _target(url)
        data = _head(t, headers, len(body)) + body
        for attempt in (0, 1):
            conn = self._take(t.origin)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(t.origin)
            answer = UpstreamAnswer(conn)
            ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            conn.send(data, answer, ready)
            try:
                await ready
            except BaseException:  # cancelled: the connection is mid-request, unusable
                conn.abort()
                raise
            if answer.status:
                return answer
            if reused and attempt == 0 and not answer._got_bytes and isinstance(answer._error, UpstreamError):
                continue  # the upstream had closed this idle connection: once more on a new one
            raise answer._error or UpstreamError("the provider closed the connection")
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- pool
    def _take(self, origin: tuple[str, str, int]) -> _Connection | None:
        conns = self._idle.get(origin)
        while conns:
            c = conns.pop()
            if c.transport is not None and not c.transport.is_closing():
                return c
        return None

    def park(self, conn: _Connection) -> None:
        self.active.discard(conn)
        conns = self._idle.setdefault(conn.origin, [])
        if len(conns) >= _MAX_IDLE_PER_ORIGIN:
            conn.abort()
            return
        conn.last_io = self.now()
        conns.append(conn)

    def forget(self, conn: _Connection) -> None:
        self.active.discard(conn)
        conns = self._idle.get(conn.origin)
        if conns and conn in conns:
            conns.remove(conn)

    async def _connect(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        ctx = await self._ssl_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, origin), host, port, ssl=ctx, server_hostname=host if ctx else None
                )
        except TimeoutError:
            raise TimeoutError(f"no connection within the connect timeout ({self.connect_timeout_s:g} s)") from None
        except ssl.SSLError as exc:
            detail = getattr(exc, "verify_message", None) or exc.reason or str(exc)
            raise UpstreamError(f"TLS with {host}:{port} failed: {detail}") from None
        except OSError as exc:
            raise UpstreamError(exc.strerror or str(exc)) from None
        return conn

    async def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            # Loading the trust store takes ~100 ms: in a thread, once, at the first https request (the
            # requests that arrive meanwhile wait for the same load).
            if self._ssl_loading is None:
                self._ssl_loading = asyncio.ensure_future(asyncio.to_thread(ssl.create_default_context))
            self._ssl = await asyncio.shield(self._ssl_loading)
        return self._ssl

    def use_ssl_context(self, ctx: ssl.SSLContext) -> None:
        """Trust what `ctx` trusts instead of the system store (tests with their own CA)."""
        self._ssl = ctx

    async def _watch(self) -> None:
        tick = max(0.05, min(1.0, self.idle_timeout_s / 4))
        while True:
            await asyncio.sleep(tick)
            try:
                self._expire(self.now())
            except Exception:  # a bug here must not end the timeouts of every later request
                log.exception("upstream connection watchdog")

    def _expire(self, now: float) -> None:
        limit = self.idle_timeout_s
        # A connection paused because its reader is slow is not idle on the provider's side.
        for c in [c for c in self.active if now - c.last_io > limit and not (c.answer and c.answer._paused)]:
            c.idle_too_long()
        for conns in self._idle.values():
            for c in [c for c in conns if now - c.last_io > _KEEPALIVE_S]:
                c.abort()


def _from_aiohttp(exc: Exception) -> Exception:
    """aiohttp's failure as this module's: the same texts the handler shows for its own client."""
    if isinstance(exc, TimeoutError):  # connect or read timeout (aiohttp's carry no useful text)
        return TimeoutError("no data from the provider within the idle timeout")
    if isinstance(exc, aiohttp.ClientPayloadError):  # its text quotes an internal "400" that reads like a status
        return UpstreamError("the provider closed the connection mid-response")
    return UpstreamError(str(exc) or type(exc).__name__)


_AIOHTTP_FAILURES = (aiohttp.ClientError, TimeoutError)


class AiohttpAnswer:
    """An aiohttp answer behind `UpstreamAnswer`'s interface: requests through an outbound proxy."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.headers.items()}
        self._it = resp.content.iter_any().__aiter__()

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except _AIOHTTP_FAILURES as exc:
            raise _from_aiohttp(exc) from None

    def __aiter__(self) -> AiohttpAnswer:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._it.__anext__()
        except _AIOHTTP_FAILURES as exc:
            raise _from_aiohttp(exc) from None

    def release(self) -> None:
        self._resp.release()


async def post_via_proxy(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], proxy: str,
    timeout: aiohttp.ClientTimeout,
) -> AiohttpAnswer:
    try:
        resp = await session.post(url, data=body, headers=headers, timeout=timeout, proxy=proxy)
    except _AIOHTTP_FAILURES as exc:
        raise _from_aiohttp(exc) from None
    return AiohttpAnswer(resp)


Answer = UpstreamAnswer | AiohttpAnswer
