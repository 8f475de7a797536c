"""A small soak: mixed traffic with injected faults; every request accounted for, nothing leaks.

The full-size version (10,000 requests, RSS tracking) is bench/soak.py.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
from pathlib import Path

import aiohttp
import orjson

from proxy.events import RequestFailed, RequestFinished
from proxy.jsonlog import JsonlLog

from .conftest import eventually, make_config
from .fakes import FakeUpstream, Script, chat_events, messages_events, responses_events

CASES = [
    ("/v1/responses", {"model": "arch.codex.default", "input": "hi"}, "/responses", responses_events),
    (
        "/v1/chat/completions",
        {"model": "arch.local", "messages": [{"role": "user", "content": "hi"}]},
        "/chat/completions",
        chat_events,
    ),
    (
        "/v1/messages",
        {"model": "arch.claude", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]},
        "/messages",
        messages_events,
    ),
]


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_mixed_soak_with_faults(upstream: FakeUpstream, make_proxy, tmp_path: Path) -> None:
    proxy = await make_proxy(make_config(upstream.url))
    terminal: list = []
    proxy.state.bus.subscribe(lambda e: terminal.append(e) if isinstance(e, RequestFinished | RequestFailed) else None)
    rng = random.Random(7)
    total, concurrency = 600, 20
    plan = []
    for i in range(total):
        path, body, suffix, make = CASES[i % 3]
        stream = rng.random() < 0.5
        fault = rng.random() < 0.05
        plan.append((path, {**body, "stream": stream}, suffix, make, fault))

    async def one(s: aiohttp.ClientSession, item) -> tuple[bool, bool]:
        path, body, _suffix, _make, fault = item
        async with s.post(proxy.url + path, data=orjson.dumps(body)) as r:
            data = await r.read()
        failed = r.status >= 400 or b"response.failed" in data or b"event: error" in data or b'{"error"' in data
        return fault, failed

    async def warm_up() -> None:  # fill the connection pools so the baseline includes them
        async with aiohttp.ClientSession() as s:
            await asyncio.gather(
                *(one(s, (p, {**b, "stream": False}, x, m, False)) for p, b, x, m, _ in plan[: 3 * concurrency])
            )

    await warm_up()
    await asyncio.sleep(0.2)
    baseline_tasks = len(asyncio.all_tasks())
    baseline_fds = fds()
    terminal.clear()
    log = JsonlLog(tmp_path / "soak.jsonl")
    proxy.state.bus.subscribe(log)
    results = []
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def guarded(item):
            _path, body, suffix, make, fault = item
            async with sem:
                if fault:  # script the fault right before its request so it hits this one
                    upstream.script(
                        suffix, Script(frames=make("m"), cut_after=3) if body["stream"] else Script(status=500)
                    )
                    upstream.scripts[suffix].rotate(0)
                return await one(s, item)

        # Faults are scripted per path; run each path's faulty requests alone so the script lands on them.
        for item in plan:
            if item[4]:
                results.append(await guarded(item))
        results += await asyncio.gather(*(guarded(item) for item in plan if not item[4]))
    await eventually(lambda: len(terminal) == total)
    log.close()
    injected = sum(1 for f, _ in results if f)
    unexpected = [(f, x) for f, x in results if f != x]
    assert injected > 0 and not unexpected
    assert len((tmp_path / "soak.jsonl").read_bytes().splitlines()) == total
    assert len({e.record.request_id for e in terminal}) == total
    failed_records = sum(1 for e in terminal if not e.record.ok)
    assert failed_records == injected
    # Connections close and their tasks end a few loop turns after the last response: wait for that,
    # then check nothing more is left over.
    await eventually(lambda: gc.collect() >= 0 and len(asyncio.all_tasks()) <= baseline_tasks + 3
                     and fds() <= baseline_fds + 3)
    assert len(asyncio.all_tasks()) <= baseline_tasks + 3, asyncio.all_tasks()
    assert fds() <= baseline_fds + 3
    assert proxy.state.in_flight == 0
