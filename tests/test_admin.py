"""Admin endpoints: loopback only, optional bearer token, alias retargeting visible to the next request."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import make_mocked_request

from proxy.events import AliasChanged
from proxy.server import is_loopback
from proxy.state import ProxyOptions

from .conftest import make_config
from .fakes import FakeUpstream


def req_from(ip: str):
    # aiohttp's public test request, re-addressed with its public clone(remote=…): no network needed to
    # look like a caller on another host.
    return make_mocked_request("GET", "/admin/aliases").clone(remote=ip)


def test_loopback_detection() -> None:
    assert is_loopback(req_from("127.0.0.1")) and is_loopback(req_from("::1"))
    assert not is_loopback(req_from("10.1.2.3")) and not is_loopback(req_from("192.168.0.9"))


async def test_non_loopback_admin_call_is_refused(proxy) -> None:
    resp = await proxy._admin_aliases(req_from("10.1.2.3"))
    assert resp.status == 403


async def test_token_and_retarget(upstream: FakeUpstream, make_proxy) -> None:
    proxy = await make_proxy(make_config(upstream.url), ProxyOptions(admin_token="t0k"))
    events: list = []
    proxy.state.bus.subscribe(events.append)
    async with aiohttp.ClientSession() as s:
        async with s.get(proxy.url + "/admin/aliases") as r:
            assert r.status == 401
        auth = {"Authorization": "Bearer t0k"}
        async with s.put(proxy.url + "/admin/aliases", json={"alias": "arch.codex.default", "target": "llama3.1"},
                         headers=auth) as r:
            assert r.status == 200 and (await r.json())["old_target"] == "gpt-5.3-codex"
        async with s.put(proxy.url + "/admin/aliases", json={"alias": "arch.codex.default", "target": "nope"},
                         headers=auth) as r:
            assert r.status == 400
        async with s.post(proxy.url + "/v1/chat/completions",
                          json={"model": "arch.codex.default", "messages": [{"role": "user", "content": "x"}]}) as r:
            assert r.status == 200
        async with s.get(proxy.url + "/admin/stats", headers=auth) as r:
            stats = await r.json()
    assert upstream.last().json["model"] == "llama3.1"
    assert [(e.alias, e.old_target, e.new_target, e.source) for e in events if isinstance(e, AliasChanged)] == [
        ("arch.codex.default", "gpt-5.3-codex", "llama3.1", "admin")]
    assert stats["requests"] == 1 and "ollama/llama3.1" in stats["providers"]
