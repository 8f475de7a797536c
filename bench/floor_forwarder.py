"""The floor: a bare ~50-line aiohttp forwarder (no parsing, no resolution, no events).

Usage: python bench/floor_forwarder.py LISTEN_PORT UPSTREAM_URL
Anything our proxy adds on top of this is the cost of what it does.
"""

from __future__ import annotations

import logging
import sys

import aiohttp
from aiohttp import web

HOP = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}


async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
    app["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    yield
    await app["s"].close()


async def forward(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
    async with request.app["s"].post(request.app["up"] + request.path, data=body, headers=headers) as up:
        if "text/event-stream" in up.headers.get("Content-Type", ""):
            resp = web.StreamResponse(status=up.status, headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        data = await up.read()
        return web.Response(status=up.status, body=data, content_type="application/json")


def main() -> None:
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # wrk ending mid-stream is expected
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["up"] = sys.argv[2]
    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/{tail:.*}", forward)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
