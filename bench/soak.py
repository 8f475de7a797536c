"""Soak: 10,000 mixed requests (three client APIs, streaming and not, 5% injected upstream faults) at
concurrency 20 through the real `planoai tui --no-ui --log-json` process.

Checks that every request is accounted for (one JSONL row each, failures only where a fault was
injected) and that the proxy's RSS, open file descriptors and asyncio tasks return to their
post-warm-up baseline.

    python bench/soak.py                 # 10,000 requests
    python bench/soak.py --requests 100000 --no-faults   # the "RSS flat after 100k" check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import free_port, scratch_dir

from tests.fakes import chat_events, messages_events, responses_events

FRAMES = {
    "/v1/responses": b"".join(responses_events("m")),
    "/v1/chat/completions": b"".join(chat_events("m")),
    "/v1/messages": b"".join(messages_events("m")),
}
BODIES = {
    "/v1/responses": b'{"id":"r","object":"response","status":"completed","output":[],"usage":{"input_tokens":5,'
    b'"output_tokens":2,"total_tokens":7}}',
    "/v1/chat/completions": b'{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",'
    b'"content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}',
    "/v1/messages": b'{"id":"m","type":"message","role":"assistant","content":[{"type":"text","text":"ok"}],'
    b'"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2}}',
}
REQUESTS = [
    ("/v1/responses", {"model": "arch.codex.default", "input": "hi"}),
    ("/v1/chat/completions", {"model": "arch.local", "messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/messages", {"model": "arch.claude", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}),
]




async def upstream_handler(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    body = json.loads(raw)
    fault = body.get("metadata", {}).get("fault") if isinstance(body.get("metadata"), dict) else None
    path = request.path
    if not body.get("stream"):
        if fault:
            return web.json_response({"error": {"message": "injected fault", "type": "server_error"}}, status=500)
        return web.Response(body=BODIES[path], content_type="application/json")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    blob = FRAMES[path]
    if fault:
        await resp.write(blob[: len(blob) // 3])
        assert request.transport is not None
        request.transport.close()  # a cut stream
        return resp
    await resp.write(blob)
    await resp.write_eof()
    return resp


def proc_stat(pid: int) -> tuple[float, int]:
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def admin_stats(s: aiohttp.ClientSession, url: str) -> dict:
    async with s.get(url + "/admin/stats") as r:
        return await r.json()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--fault-rate", type=float, default=0.05)
    ap.add_argument("--no-faults", action="store_true")
    args = ap.parse_args()
    fault_rate = 0.0 if args.no_faults else args.fault_rate

    app = web.Application()
    app.router.add_post("/{tail:.*}", upstream_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    up_port, px_port = free_port(), free_port()
    await web.TCPSite(runner, "127.0.0.1", up_port).start()
    tmp = scratch_dir()
    (tmp / "config.yaml").write_text(
        "version: v0.4.0\nmodel_providers:\n"
        f"  - model: openai/gpt-5.3-codex\n    access_key: sk-soak\n    base_url: http://127.0.0.1:{up_port}/v1\n"
        f"  - model: anthropic/claude-sonnet-4-5\n    access_key: sk-soak\n    base_url: http://127.0.0.1:{up_port}/v1\n"
        f"  - model: ollama/llama3.1\n    base_url: http://127.0.0.1:{up_port}\n"
        "model_aliases:\n  arch.codex.default: {target: gpt-5.3-codex}\n"
        "  arch.claude: {target: claude-sonnet-4-5}\n  arch.local: {target: llama3.1}\n"
    )
    log = tmp / "soak.jsonl"
    proxy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plano_tui",
            "tui",
            "--no-ui",
            "--no-watch",
            "--config",
            str(tmp / "config.yaml"),
            "--port",
            str(px_port),
            "--log-json",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{px_port}"
    rng = random.Random(1)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as s:
            for _ in range(200):
                try:
                    await admin_stats(s, url)
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            plan = []
            for i in range(args.requests):
                path, body = REQUESTS[i % 3]
                fault = rng.random() < fault_rate
                plan.append((path, {**body, "stream": rng.random() < 0.5, "metadata": {"fault": fault}}, fault))
            unexpected = 0
            failures_seen = 0
            done = 0

            async def run(items: list) -> None:
                nonlocal unexpected, failures_seen, done
                queue = list(items)

                async def worker() -> None:
                    nonlocal unexpected, failures_seen, done
                    while queue:
                        path, body, fault = queue.pop()
                        async with s.post(url + path, json=body) as r:
                            data = await r.read()
                        failed = (
                            r.status >= 400
                            or b"response.failed" in data
                            or b"event: error" in data
                            or b'{"error"' in data
                        )
                        failures_seen += failed
                        unexpected += failed != fault
                        done += 1

                await asyncio.gather(*(worker() for _ in range(args.concurrency)))

            warm = plan[:1000]
            await run(warm)
            await asyncio.sleep(0.5)
            base = await admin_stats(s, url)
            rss0, fds0 = proc_stat(proxy.pid)
            t0 = time.perf_counter()
            rss_samples = []
            rest = plan[1000:]
            for k in range(0, len(rest), 2000):
                await run(rest[k : k + 2000])
                rss_samples.append(proc_stat(proxy.pid)[0])
            elapsed = time.perf_counter() - t0
            await asyncio.sleep(0.5)
            end = await admin_stats(s, url)
            rss1, fds1 = proc_stat(proxy.pid)
        rows = log.read_bytes().count(b"\n")
        injected = sum(1 for _, _, f in plan if f)
        print(
            f"soak: {args.requests} requests (3 client APIs, ~50% streaming, {fault_rate:.0%} faults) at "
            f"concurrency {args.concurrency}: {elapsed:.1f}s after warm-up ({len(rest) / elapsed:.0f} req/s)"
        )
        print(
            f"accounted: {rows} JSONL rows for {args.requests} requests; proxy counted {end['requests']}; "
            f"injected faults {injected}, failures seen {failures_seen}, unexpected {unexpected}"
        )
        print(
            f"RSS after warm-up {rss0:.1f} MB → end {rss1:.1f} MB (growth {rss1 - rss0:+.1f} MB; "
            f"samples {', '.join(f'{x:.1f}' for x in rss_samples)})"
        )
        print(
            f"open fds {fds0} → {fds1}; asyncio tasks {base['asyncio_tasks']} → {end['asyncio_tasks']}; "
            f"in flight {end['in_flight']}"
        )
    finally:
        proxy.terminate()
        proxy.wait(5)
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
