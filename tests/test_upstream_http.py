"""The upstream client (proxy.upstream_http) against real servers on 127.0.0.1: aiohttp ones for what a
provider normally sends, raw asyncio ones for what HTTP allows and aiohttp never sends (close-delimited
bodies, interim answers, a pooled connection closed under a request, a server that never answers), a
TLS server with a throwaway CA, and an outbound HTTP proxy in front of a provider."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import orjson
import pytest
import trustme
from aiohttp import web

from proxy.upstream_http import UpstreamClient, UpstreamError

from .conftest import make_config
from .fakes import FakeUpstream

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    c = UpstreamClient(connect_timeout_s=2.0, idle_timeout_s=5.0)
    yield c
    await c.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request off a raw connection: its head, then Content-Length bytes of body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    return head + await reader.readexactly(length)


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def raw_server(handler: RawHandler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/responses"


async def test_keeps_the_connection_alive_and_sends_a_proper_request(client: UpstreamClient) -> None:
    seen: list[tuple[object, str, dict[str, str], bytes]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append((request.transport.get_extra_info("peername") if request.transport else None, request.path_qs,
                     dict(request.headers), await request.read()))
        return web.json_response({"n": len(seen)}, headers={"X-Upstream": "yes"})

    runner, port = await serve(echo)
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions?api-version=1"
        for n in (1, 2, 3):
            headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}
            answer = await client.post(url, b'{"model":"m"}', headers)
            assert answer.status == 200
            assert answer.headers["x-upstream"] == "yes"  # names in lower case, whatever the server wrote
            assert orjson.loads(await answer.read()) == {"n": n}
            answer.release()
        assert len({peer for peer, *_ in seen}) == 1  # three requests, one connection
        _, path, headers, body = seen[0]
        assert path == "/v1/chat/completions?api-version=1"
        assert body == b'{"model":"m"}'
        assert headers["Host"] == f"127.0.0.1:{port}"
        assert headers["Authorization"] == "Bearer k"
        assert headers["Content-Length"] == "13"

        # A Host of the provider's choosing (`http_host`) replaces the URL's, and is sent once.
        answer = await client.post(url, b"{}", {"Host": "llm.internal", "host": "ignored.second"})
        await answer.read()
        answer.release()
        assert seen[-1][2]["Host"] in ("llm.internal", "ignored.second")
        assert list(seen[-1][2]).count("Host") == 1
    finally:
        await runner.cleanup()


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(client: UpstreamClient) -> None:
    hits = 0

    async def count(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.json_response({})

    runner, port = await serve(count)
    try:
        for headers in ({"X-Evil": "a\r\nX-Injected: 1"}, {"X-Evil\nX-Injected": "1"}, {"X-Name": "caf\u00e9\u2603"}):
            with pytest.raises(UpstreamError):
                await client.post(f"http://127.0.0.1:{port}/v1/responses", b"{}", headers)
        assert hits == 0
    finally:
        await runner.cleanup()


async def test_chunked_gzip_and_deflate_answers_are_decoded(client: UpstreamClient) -> None:
    text = b'data: {"delta":"tok"}\n\n' * 2000

    async def compressed(request: web.Request) -> web.StreamResponse:
        coding = request.query["coding"]
        if coding == "gzip":
            data = gzip.compress(text)
        elif coding == "deflate":
            data = zlib.compress(text)
        else:  # raw deflate, which some servers send as "deflate"
            c = zlib.compressobj(wbits=-15)
            data = c.compress(text) + c.flush()
        resp = web.StreamResponse(headers={"Content-Encoding": "gzip" if coding == "gzip" else "deflate",
                                           "Content-Type": "text/event-stream"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(data), 97):  # many small chunks: the decoder is fed piece by piece
            await resp.write(data[i : i + 97])
        await resp.write_eof()
        return resp

    runner, port = await serve(compressed)
    try:
        for coding in ("gzip", "deflate", "raw"):
            answer = await client.post(f"http://127.0.0.1:{port}/x?coding={coding}", b"{}", {})
            got = b"".join([chunk async for chunk in answer])
            answer.release()
            assert got == text, coding
    finally:
        await runner.cleanup()


async def test_bodies_larger_than_the_pause_threshold_arrive_whole(client: UpstreamClient) -> None:
    blob = bytes(range(256)) * (12 * 4096)  # 12 MiB: the reading side pauses and resumes many times

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(blob), 1 << 16):
            await resp.write(blob[i : i + (1 << 16)])
        await resp.write_eof()
        return resp

    runner, port = await serve(big)
    url = f"http://127.0.0.1:{port}/big"
    try:
        answer = await client.post(url, b"{}", {})
        assert await answer.read() == blob  # read() wants it all: never paused for it
        answer.release()
        answer = await client.post(url, b"{}", {})  # the same connection, read slowly chunk by chunk
        parts = []
        async for chunk in answer:
            parts.append(chunk)
            await asyncio.sleep(0)
        answer.release()
        assert b"".join(parts) == blob
        answer = await client.post(url, b"{}", {})  # still usable after a pause at the very end
        assert await answer.read() == blob
        answer.release()
    finally:
        await runner.cleanup()


async def test_close_delimited_and_interim_answers(client: UpstreamClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        if b"interim" in request:
            writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: 1\r\n\r\nok")
            await writer.drain()
            await reader.read()  # keep-alive: the client may close
        else:  # neither a length nor chunked: the body ends when the server closes
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello, ")
            await writer.drain()
            writer.write(b"world")
        writer.close()

    server, url = await raw_server(handler)
    try:
        answer = await client.post(url, b"{}", {})
        assert answer.status == 200
        assert await answer.read() == b"hello, world"
        answer.release()
        answer = await client.post(url, b'"interim"', {})
        assert (answer.status, answer.headers.get("x-final"), "link" in answer.headers) == (200, "1", False)
        assert await answer.read() == b"ok"
        answer.release()
    finally:
        server.close()


async def test_a_body_cut_short_is_an_error_not_a_short_answer(client: UpstreamClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await writer.drain()
        writer.close()

    server, url = await raw_server(handler)
    try:
        answer = await client.post(url, b"{}", {})
        with pytest.raises(UpstreamError, match="closed the connection"):
            await answer.read()
        answer = await client.post(url, b"{}", {})
        chunks = []
        with pytest.raises(UpstreamError):
            async for chunk in answer:
                chunks.append(chunk)
        assert b"".join(chunks) == b"only this"  # what did arrive is still delivered before the error
    finally:
        server.close()


async def test_an_encoding_it_cannot_decode_is_an_error_not_garbage(client: UpstreamClient) -> None:
    async def brotli(request: web.Request) -> web.Response:
        return web.Response(body=b"\x1b\x03\x00", headers={"Content-Encoding": "br"})

    runner, port = await serve(brotli)
    try:
        with pytest.raises(UpstreamError, match="compressed as 'br'"):
            await client.post(f"http://127.0.0.1:{port}/x", b"{}", {"Accept-Encoding": "br"})
    finally:
        await runner.cleanup()


async def test_not_http_is_an_error(client: UpstreamClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await reader.read()

    server, url = await raw_server(handler)
    try:
        with pytest.raises(UpstreamError, match="not valid HTTP"):
            await client.post(url, b"{}", {})
    finally:
        server.close()


async def test_a_pooled_connection_closed_under_a_request_is_replaced_once(client: UpstreamClient) -> None:
    """The provider closes a keep-alive connection just as the next request goes out on it (its idle
    timeout): not one byte of answer, so the request is sent again on a new connection. A new connection
    that closes the same way is the provider's failure, reported, not retried."""
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        if connections == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
            await writer.drain()
            await read_request(reader)  # the second request arrives on the pooled connection...
        elif connections == 2:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
            await writer.drain()
            await reader.read()
        writer.close()  # ...and is dropped unanswered (connection 1); connection 3+ answers nothing

    server, url = await raw_server(handler)
    try:
        answer = await client.post(url, b"{}", {})
        assert await answer.read() == b"first"
        answer.release()
        answer = await client.post(url, b"{}", {})
        assert await answer.read() == b"second"
        answer.release()
        assert connections == 2

        fresh = UpstreamClient(2.0, 5.0)  # nothing pooled: the first connection's failure is final
        try:
            with pytest.raises(UpstreamError, match="closed the connection"):
                await fresh.post(url, b"{}", {})
        finally:
            await fresh.close()
        assert connections == 3
    finally:
        server.close()


async def test_a_silent_provider_times_out_and_a_closed_port_is_refused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # never answers

    server, url = await raw_server(handler)
    c = UpstreamClient(connect_timeout_s=2.0, idle_timeout_s=0.3)
    try:
        with pytest.raises(TimeoutError, match="idle timeout"):
            await asyncio.wait_for(c.post(url, b"{}", {}), 10)
        assert not c.active
        closed = url.replace(str(server.sockets[0].getsockname()[1]), "1")
        with pytest.raises(UpstreamError):
            await c.post(closed, b"{}", {})
    finally:
        await c.close()
        server.close()


async def test_a_stream_stalled_mid_body_times_out_but_a_paused_reader_does_not() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        if b"stall" not in request:
            writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
            await writer.drain()
        await reader.read()

    server, url = await raw_server(handler)
    c = UpstreamClient(connect_timeout_s=2.0, idle_timeout_s=0.3)
    try:
        answer = await c.post(url, b'"stall"', {})
        it = answer.__aiter__()
        assert await it.__anext__() == b"first"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(it.__anext__(), 10)
        answer = await c.post(url, b"{}", {})  # a complete answer waiting unread for longer than the timeout
        await asyncio.sleep(0.8)
        assert await answer.read() == b"firstsecond"
        answer.release()
    finally:
        await c.close()
        server.close()


async def test_an_abandoned_answer_closes_its_connection(client: UpstreamClient) -> None:
    closed = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            while True:
                await resp.write(b"data: x\n\n")
                await asyncio.sleep(0.01)
        except (ConnectionError, asyncio.CancelledError):
            closed.set()
            raise

    runner, port = await serve(endless)
    try:
        answer = await client.post(f"http://127.0.0.1:{port}/s", b"{}", {})
        async for _ in answer:
            break
        answer.release()  # mid-body: the connection cannot carry another request
        await asyncio.wait_for(closed.wait(), 10)
        assert not client.active

        task = asyncio.create_task(client.post(f"http://127.0.0.1:{port}/s", b"{}", {}))
        answer = await task
        reading = asyncio.create_task(answer.read())  # a cancelled reader (the client hung up)
        await asyncio.sleep(0.05)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        answer.release()
        assert not client.active
    finally:
        await runner.cleanup()


async def test_tls_with_a_trusted_ca_and_refused_without(tmp_path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"tls": request.secure, "body": (await request.read()).decode()})

    runner, port = await serve(hello, server_ctx)
    url = f"https://127.0.0.1:{port}/v1/responses"
    trusting = UpstreamClient(2.0, 5.0)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    trusting.use_ssl_context(client_ctx)
    system = UpstreamClient(2.0, 5.0)  # the system trust store has never heard of this CA
    try:
        for _ in range(2):  # the second on the pooled TLS connection
            answer = await trusting.post(url, b"hi", {})
            assert orjson.loads(await answer.read()) == {"tls": True, "body": "hi"}
            answer.release()
        with pytest.raises(UpstreamError, match=r"TLS with 127\.0\.0\.1.*failed: .*certificate"):
            await system.post(url, b"hi", {})
    finally:
        await trusting.close()
        await system.close()
        await runner.cleanup()


async def test_a_provider_behind_an_outbound_proxy(monkeypatch, make_proxy, upstream: FakeUpstream) -> None:
    """HTTP_PROXY set: a provider with a non-loopback name is reached through the proxy (aiohttp's client
    does that part), and answers, streams and failures look exactly as they do direct."""
    relayed: list[str] = []

    async def forward_proxy(request: web.Request) -> web.StreamResponse:
        # An absolute-form request target: the proxy connects to the named host (here: the fake).
        relayed.append(request.raw_path)
        import aiohttp

        body = await request.read()
        async with aiohttp.ClientSession() as s, s.post(
            upstream.url + request.path, data=body,
            headers={"Content-Type": "application/json", "Authorization": request.headers.get("Authorization", "")},
        ) as up:
            resp = web.StreamResponse(status=up.status, headers={"Content-Type": up.headers["Content-Type"]})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            data = await up.read()
            if b"CUT" in body:  # the stream breaks part way: a chunked body that never ends
                await resp.write(data[:40])
                assert request.transport is not None
                request.transport.close()
                return resp
            await resp.write(data)
            await resp.write_eof()
            return resp

    runner, port = await serve(forward_proxy)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the SDK reaches our proxy directly (httpx reads these too)
    remote = "http://llm.example.test:9"  # never resolved by us: only the proxy sees the name
    proxy = await make_proxy(make_config(remote))
    try:
        import openai

        async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as oai:
            r = await oai.chat.completions.create(model="ollama/llama3.1", messages=[{"role": "user", "content": "hi"}])
            assert r.choices[0].message.content
            stream = await oai.chat.completions.create(
                model="ollama/llama3.1", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert text
        assert relayed
        assert all(u.startswith("http://llm.example.test:9/") and u.endswith("/chat/completions") for u in relayed)
        assert len(upstream.requests) == 2
        # A stream broken part way says so in the client's grammar, with the text of a direct break.
        cut = {"model": "ollama/llama3.1", "messages": [{"role": "user", "content": "CUT"}], "stream": True}
        async with aiohttp.ClientSession() as s, s.post(proxy.url + "/v1/chat/completions", json=cut) as r:
            streamed = await r.read()
        assert r.status == 200 and b'"error"' in streamed
        assert b"upstream stream broke: the provider closed the connection mid-response" in streamed
        await runner.cleanup()  # the outbound proxy goes away: a clear error, in the client's format
        async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as oai:
            with pytest.raises(openai.APIStatusError) as err:
                await oai.chat.completions.create(model="ollama/llama3.1", messages=[{"role": "user", "content": "hi"}])
        assert err.value.status_code == 502
        assert "unreachable" in err.value.message
    finally:
        await runner.cleanup()


async def test_idle_pooled_connections_are_closed_after_the_keepalive_window(client: UpstreamClient) -> None:
    """A connection idle in the pool for longer than the keep-alive window is closed by the watchdog (the
    provider would close it soon anyway); the next request opens a new one. The watchdog's clock is
    passed in, so no test waits 15 s."""
    peers: list[object] = []

    async def hello(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.json_response({})

    runner, port = await serve(hello)
    url = f"http://127.0.0.1:{port}/x"
    try:
        for _ in range(2):
            answer = await client.post(url, b"{}", {})
            await answer.read()
            answer.release()
        assert len(set(peers)) == 1
        client._expire(client.now() + 1.0)  # within the window: kept
        answer = await client.post(url, b"{}", {})
        await answer.read()
        answer.release()
        assert len(set(peers)) == 1
        client._expire(client.now() + 60.0)  # long idle: closed
        answer = await client.post(url, b"{}", {})
        await answer.read()
        answer.release()
        assert len(set(peers)) == 2
    finally:
        await runner.cleanup()
