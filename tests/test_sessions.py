"""Sessions, Plano's way (proxy.sessions): keys, warmth, TTL and bounds, route_on_user_only against our
turn pinning, `X-Plano-Cache: off`, and one session store shared by the proxy path and /routing/v1/*.

Time is the store's injected clock (`state.sessions.clock`), never a sleep."""

from __future__ import annotations

import copy
import json

import openai
import orjson
import pytest

from proxy.routing.conversation import parse
from proxy.sessions import SessionStore, resolve
from proxy.wire.providers import Api

from .conftest import FIXTURES
from .test_routing_proxy import FakeRouter, codex_run, config, post, records, route_of, router_model, settled

__all__ = ["router_model"]  # the fixture, re-used


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def chat(text: str, *history: dict) -> dict:
    return {
        "model": "arch.codex.default",
        "messages": [{"role": "system", "content": "You are a coding agent."}, *history,
                     {"role": "user", "content": text}],
    }


async def decide(proxy, body: dict, headers: dict | None = None, path: str = "/routing/v1/chat/completions") -> dict:
    status, raw = await post(proxy, path, body, headers)
    assert status == 200, raw
    return orjson.loads(raw)


# ------------------------------------------------------------------ keys


def test_implicit_key_is_plano_shaped_and_stable_as_history_grows() -> None:
    def ref(body: dict, headers: dict | None = None):
        c = parse(Api.CHAT, body)
        return resolve(headers or {}, c.instructions, c.tool_names, c.first_user or None, True)

    t1 = chat("Fix the bug in main.rs")
    t5 = chat("Now add tests", {"role": "user", "content": "Fix the bug in main.rs"},
              {"role": "assistant", "content": "Done."})
    a, b = ref(t1), ref(t5)
    assert a.session_id == b.session_id and a.session_id.startswith("implicit:") and len(a.session_id) == 25
    assert a.prefix_hash == b.prefix_hash and a.source == "implicit"
    other = ref(chat("a different conversation"))
    assert other.session_id != a.session_id and other.prefix_hash == a.prefix_hash
    assert ref(t1, {"X-Model-Affinity": "team-7"}).session_id == "team-7"  # explicit wins
    assert ref(t1, {"X-Plano-Cache": "off"}) is None  # opt-out: no implicit key
    assert ref(t1, {"X-Plano-Cache": "OFF", "X-Model-Affinity": "s"}).session_id == "s"  # explicit still works
    claude = ref(t1, {"X-Claude-Code-Session-Id": "cc-1"})
    sub_agent = ref(chat("Fix the bug in main.rs") | {"messages": [{"role": "system", "content": "sub"},
                                                                  {"role": "user", "content": "x"}]},
                    {"X-Claude-Code-Session-Id": "cc-1"})
    assert claude.session_id == sub_agent.session_id == "cc-1" and claude.key != sub_agent.key
    c = parse(Api.CHAT, t1)
    assert resolve({}, c.instructions, c.tool_names, c.first_user, implicit_on=False) is None


def test_store_is_bounded_and_expires_on_its_clock() -> None:
    from proxy.sessions import SessionRef, bind

    clock = Clock()
    store = SessionStore(ttl_s=600, max_entries=2, clock=clock)
    for i in range(3):
        bind(store, SessionRef(f"s{i}", f"s{i}", 1, "affinity"), "openai/a", None, "openai/a", 10)
    assert len(store) == 2 and store.get("s0") is None  # least recently used went first
    clock.t += 601
    assert store.get("s2") is None and list(store.live()) == []


def test_lru_order_follows_every_turn_including_back_to_back_ones() -> None:
    """A warm turn on its anchor only `touch`es its binding, and skips the move when it is already the
    newest: eviction must still drop the session used least recently."""
    from proxy.sessions import SessionRef, bind

    store = SessionStore(ttl_s=600, max_entries=2, clock=Clock())
    refs = [SessionRef(f"s{i}", f"s{i}", 1, "affinity") for i in range(4)]
    for ref in (refs[0], refs[1], refs[1], refs[0], refs[0]):  # s0 is the newest now, s1 the oldest
        assert bind(store, ref, "openai/a", None, "openai/a", 10).model == "openai/a"
    bind(store, refs[2], "openai/a", None, "openai/a", 10)
    assert store.get("s1") is None and store.get("s0") is not None
    bind(store, refs[0], "openai/a", None, "openai/a", 10)  # s2 is the oldest now
    bind(store, refs[3], "openai/a", None, "openai/a", 10)
    assert [b.session_id for b in store.live()] == ["s3", "s0"]
    assert store.get("s0").requests == 4  # type: ignore[union-attr]


def test_response_side_settles_in_batches_but_every_reader_sees_it() -> None:
    """`settle_later` queues a record's usage and cost; `live`, `get` and the dashboard's version see them
    at once, and the queue never grows past its batch."""
    from types import SimpleNamespace

    from proxy.cost import Cost
    from proxy.sessions import SessionRef, bind
    from proxy.wire.usage import Usage

    store = SessionStore(clock=Clock())
    bind(store, SessionRef("s", "s", 1, "client"), "openai/a", None, "openai/a", 0)

    def record(tokens: int, usd: float | None) -> SimpleNamespace:
        return SimpleNamespace(session_id="s", usage=Usage(input_tokens=tokens, output_tokens=3),
                               cost=Cost(usd, 0.0, 0.0) if usd is not None else None)

    v = store.version
    store.settle_later(record(1200, 0.5))
    assert store.version > v  # a dashboard polling the version redraws
    (b,) = store.live()
    assert b.cached_tokens == 1200 and b.session_cost_usd == 0.5 and b.history[0].cached_tokens == 1200
    store.settle_later(record(1500, None))  # an unpriced answer still refreshes the context size
    assert store.get("s").cached_tokens == 1500 and store.get("s").session_cost_usd == 0.5  # type: ignore[union-attr]
    for _ in range(200):
        store.settle_later(record(2000, 0.25))
    assert len(store._settled) < 64  # applied in batches as they come, not only when read
    assert next(store.live()).session_cost_usd == 0.5 + 200 * 0.25


# ------------------------------------------------------------------ the decision API, Plano's answers


async def test_decision_api_session_id_and_pinned_like_plano(upstream, router_model: FakeRouter, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url, routing="  route_on_user_only: true\n"))
    clock = proxy.state.sessions.clock = Clock()
    router_model.default = route_of("project understanding")
    first = await decide(proxy, chat("explain the repo"))
    assert first["session_id"].startswith("implicit:") and first["pinned"] is False  # the call that binds
    again = await decide(proxy, chat("explain the repo"))
    assert again["session_id"] == first["session_id"] and again["pinned"] is True and again["switched"] is False
    clock.t += 301  # idle past the provider's 5-minute cache window: cold, a fresh episode
    cold = await decide(proxy, chat("explain the repo"))
    assert cold["pinned"] is False
    off = await decide(proxy, chat("explain the repo"), {"X-Plano-Cache": "off"})
    assert "session_id" not in off and off["pinned"] is False


async def test_ttl_and_max_entries_come_from_the_config(upstream, router_model: FakeRouter, make_proxy) -> None:
    routing = "  route_on_user_only: true\n  session_ttl_seconds: 120\n  session_max_entries: 2\n"
    proxy = await make_proxy(config(upstream.url, router_model.url, routing=routing))
    clock = proxy.state.sessions.clock = Clock()
    router_model.default = route_of("project understanding")
    for who in ("a", "b", "c"):
        await decide(proxy, chat("hi"), {"X-Model-Affinity": who})
    assert len(proxy.state.sessions) == 2
    assert (await decide(proxy, chat("hi"), {"X-Model-Affinity": "a"}))["pinned"] is False  # evicted
    clock.t += 100
    assert (await decide(proxy, chat("hi"), {"X-Model-Affinity": "c"}))["pinned"] is True
    clock.t += 121  # past session_ttl_seconds: the binding is gone
    assert (await decide(proxy, chat("hi"), {"X-Model-Affinity": "c"}))["pinned"] is False


async def test_prompt_caching_session_ttl_overrides_routing(upstream, router_model: FakeRouter, make_proxy) -> None:
    from proxy.routing.settings import load

    cfg = config(upstream.url, router_model.url, routing="  session_ttl_seconds: 120\n")
    assert load(cfg).session_ttl_s == 120
    from proxy.config import parse_config

    text = config_text_with(cfg, "prompt_caching:\n  enabled: true\n  session_ttl_seconds: 3600\n")
    assert load(parse_config(text, "c.yaml", {})).session_ttl_s == 3600


def config_text_with(cfg, extra: str) -> str:
    import yaml

    return yaml.safe_dump(dict(cfg.raw)) + extra


async def test_one_store_for_the_proxy_path_and_the_decision_api(upstream, router_model, make_proxy) -> None:
    """A conversation served through the proxy (the official OpenAI SDK) is the same session the decision
    endpoint answers for: same implicit id, pinned, no router call needed to know it."""
    proxy = await make_proxy(config(upstream.url, router_model.url, routing="  route_on_user_only: true\n"))
    recs = records(proxy)
    router_model.answer(route_of("project understanding"))
    body = chat("how is this repo laid out?")
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as client:
        await client.chat.completions.create(model=body["model"], messages=body["messages"])
    (rec,) = await settled(recs, 1)
    assert rec.session_id and rec.session_id.startswith("implicit:") and rec.route.pinned is False
    assert upstream.last("/v1/responses").json["model"] == "gpt-5-mini"  # chat clients reach OpenAI via Responses
    tool_turn = copy.deepcopy(body)
    tool_turn["messages"] += [
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "src/ tests/"},
    ]
    d = await decide(proxy, tool_turn)
    assert d["session_id"] == rec.session_id and d["pinned"] is True
    assert d["models"][0] == "openai/gpt-5-mini" and len(router_model.requests) == 1  # replayed, not routed


async def test_affinity_header_without_routing_preferences_still_binds(upstream, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, None, prefs=""))
    h = {"X-Model-Affinity": "sess-1"}
    one = await decide(proxy, chat("hello"), h)
    two = await decide(proxy, chat("hello"), h)
    assert (one["session_id"], one["pinned"], two["pinned"]) == ("sess-1", False, True)
    assert "session_id" not in await decide(proxy, chat("hello"))  # no header, no affinity: no session


# ------------------------------------------------------------------ route_on_user_only vs turn pinning


@pytest.mark.parametrize(
    ("routing", "api", "router_calls"),
    [
        ("", "responses", 1),  # unset: our default for coding agents, the tool loop replays
        ("  route_on_user_only: false\n", "responses", 2),  # Plano's default when set: every request routed
        ("", "chat", 2),  # unset, Chat client: routed per request, as Plano does
        ("  route_on_user_only: true\n", "chat", 1),  # set: Chat continuations replay too
    ],
)
async def test_route_on_user_only_when_set_and_our_default_when_not(
    upstream, router_model: FakeRouter, make_proxy, routing: str, api: str, router_calls: int
) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url, routing=routing))
    router_model.default = route_of("project understanding")
    if api == "responses":
        for r in codex_run("exec_ww"):  # user turn, then a function_call_output continuation
            assert (await post(proxy, "/v1/responses", r["body"], r["headers"]))[0] == 200
    else:
        body = chat("list the files")
        await post(proxy, "/v1/chat/completions", body)
        body["messages"] += [
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "a b"},
        ]
        await post(proxy, "/v1/chat/completions", body)
    assert len(router_model.requests) == router_calls


async def test_codex_session_header_names_the_session(upstream, router_model: FakeRouter, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    recs = records(proxy)
    router_model.default = route_of("project understanding")
    reqs = codex_run("exec_ww")
    for r in reqs:
        await post(proxy, "/v1/responses", r["body"], r["headers"])
    a, b = await settled(recs, 2)
    assert a.session_id == b.session_id == reqs[0]["headers"]["session-id"]
    assert (a.route.pinned, b.route.pinned) == (False, True)
    live = list(proxy.state.sessions.live())
    assert [(s.session_id, s.anchor_model, s.requests, s.source) for s in live] == [
        (a.session_id, "openai/gpt-5-mini", 2, "client")
    ]


async def test_claude_code_session_header_and_sub_agents(upstream, router_model: FakeRouter, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    body = json.loads((FIXTURES / "claude-code-2.1.197-request.json").read_text())
    body["model"] = "claude-sonnet-4-5"
    body["messages"] = body["messages"][:1]
    h = {"X-Claude-Code-Session-Id": "0c60050e", "anthropic-version": "2023-06-01"}
    sub = copy.deepcopy(body)
    sub["system"] = "You are a sub-agent that searches files."
    router_model.default = route_of("claude understanding")
    for b in (body, sub, body):
        assert (await post(proxy, "/v1/messages", b, h))[0] == 200
    live = list(proxy.state.sessions.live())
    assert sorted(s.requests for s in live) == [1, 2] and {s.session_id for s in live} == {"0c60050e"}
