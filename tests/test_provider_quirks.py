"""Provider-specific adjustments the handler makes on translated requests."""

from __future__ import annotations

import aiohttp

from proxy.events import RequestFinished

from .conftest import eventually
from .fakes import FakeUpstream


async def test_ollama_non_thinking_model_gets_no_reasoning_effort(proxy, upstream: FakeUpstream) -> None:
    recs: list = []
    proxy.state.bus.subscribe(lambda e: recs.append(e.record) if isinstance(e, RequestFinished) else None)
    body = {"model": "arch.local", "input": "hi", "reasoning": {"effort": "medium", "summary": "auto"}}
    async with aiohttp.ClientSession() as s, s.post(proxy.url + "/v1/responses", json=body) as r:
        assert r.status == 200
    sent = upstream.last("/chat/completions").json
    assert sent["model"] == "llama3.1" and "reasoning_effort" not in sent
    await eventually(lambda: recs)
    assert any("reasoning effort dropped" in n for n in recs[-1].notes)
