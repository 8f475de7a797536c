"""The tuned floor: the fastest ~50-line aiohttp forwarder we know how to write, run the way the proxy
runs (uvloop, orjson). Like the proxy it rewrites `model` (parse, set, serialise) and relays streams as
they arrive; unlike it, it resolves nothing, records nothing, handles no failure. Issue #16's reference:
the proxy's throughput and added latency are reported as ratios against this in the same run.

Usage: python bench/floor_tuned.py LISTEN_PORT UPSTREAM_URL
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator

import aiohttp
import orjson
import uvloop
from aiohttp import web

HOP = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}


async def session_ctx(app: web.Application) -> AsyncIterator[None]:
    app["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
    yield
    await app["s"].close()


async def forward(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    body["model"] = "gpt-5.3-codex"  # what a router must at least do
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
    headers["Authorization"] = "Bearer sk-floor"
    async with request.app["s"].post(request.app["up"] + request.path, data=orjson.dumps(body), headers=headers) as up:
        if up.headers.get("Content-Type", "").startswith("text/event-stream"):
            resp = web.StreamResponse(status=up.status, headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        return web.Response(status=up.status, body=await up.read(), content_type="application/json")


def main() -> None:
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # wrk ending mid-stream is expected
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["up"] = sys.argv[2]
    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/{tail:.*}", forward)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
                loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
