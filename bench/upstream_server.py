"""A zero-delay loopback upstream for benchmarks: answers Responses/Chat/Messages instantly.

Usage: python bench/upstream_server.py PORT
"""

from __future__ import annotations

import logging
import sys

from aiohttp import web

BODY = (b'{"id":"resp_1","object":"response","created_at":1,"model":"m","status":"completed","output":[{"id":"msg_1",'
        b'"type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"ok",'
        b'"annotations":[]}]}],"usage":{"input_tokens":10,"output_tokens":2,"total_tokens":12}}')
EVENTS = [
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1"}}\n\n',
    b'event: response.output_item.added\ndata: {"type":"response.output_item.added","sequence_number":1,'
    b'"output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}\n\n',
    *[
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":%d,'
        b'"item_id":"msg_1","output_index":0,"content_index":0,"delta":"tok "}\n\n' % (i + 2)
        for i in range(20)
    ],
    b'event: response.completed\ndata: {"type":"response.completed","sequence_number":30,"response":{"id":"resp_1",'
    b'"status":"completed","output":[],"usage":{"input_tokens":10,"output_tokens":20,"total_tokens":30}}}\n\n',
]


async def handle(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    if b'"stream":true' in body or b'"stream": true' in body:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for ev in EVENTS:
            await resp.write(ev)
        await resp.write_eof()
        return resp
    return web.Response(body=BODY, content_type="application/json")


def main() -> None:
    # A load generator that stops mid-stream (wrk at the end of its run) is expected: no tracebacks.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
