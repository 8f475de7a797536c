"""OTLP traces: Plano's own consumer (`planoai trace listen` / `planoai trace --json` from planoai==0.4.39,
in its own venv under .tools/) receives a Codex request's spans with Plano's service names and attributes;
W3C traceparent flows client → proxy → upstream and back; a dead or silent collector fails no request."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from proxy.cost_hook import Cost
from proxy.server import ProxyServer
from proxy.state import ProxyState
from proxy.telemetry import Telemetry, install
from proxy.trace_settings import TraceSettings, parse_traceparent

from .conftest import FIXTURES, eventually
from .fakes import FakeUpstream
from .telemetry_traffic import ROUTED_PROMPT, closed_port, telemetry_config

PLANOAI = Path(__file__).resolve().parents[1] / ".tools" / "plano-venv" / "bin" / "planoai"
PLANO_PORT = 4317  # `planoai trace listen` always binds 4317


def price(provider: str, model: str, usage) -> Cost:
    return Cost(usage.input_tokens * 2e-6, usage.output_tokens * 8e-6)


async def tracing_proxy(upstream: FakeUpstream, endpoint: str) -> tuple[ProxyServer, Telemetry]:
    state = ProxyState(telemetry_config(upstream.url))
    server = ProxyServer(state, host="127.0.0.1", port=0)
    settings = TraceSettings(sampling=1.0, endpoint=endpoint, static_attributes={"team": "core"},
                             header_prefixes=("x-acme-",))  # fmt: skip
    tel = install(server, metrics=True, pricer=price, tracing=settings)
    await server.start()
    await tel.start()
    return server, tel


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
async def plano_listener(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    if not PLANOAI.exists():
        pytest.skip("planoai==0.4.39 not installed in .tools/plano-venv (see .ci/install_plano.sh)")
    # The listener always binds 4317: tests on other xdist workers that need it wait their turn here
    # (they used to find the port taken and skip).
    with (Path(tempfile.gettempdir()) / "planoai-tui-tests-4317.lock").open("w") as lock:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        if port_open(PLANO_PORT):
            pytest.skip("port 4317 is taken by another program: `planoai trace listen` cannot bind it")
        # Its own HOME: the listener's pid file lives in ~/.plano/run.
        env = {**os.environ, "HOME": str(tmp_path), "PLANO_TRACE_PORT": str(PLANO_PORT), "COLUMNS": "100000",
               "PLANO_SKIP_VERSION_CHECK": "1", "NO_COLOR": "1"}  # fmt: skip
        await asyncio.to_thread(
            subprocess.run, [str(PLANOAI), "trace", "listen"], env=env, check=True, capture_output=True, timeout=60
        )
        await eventually(lambda: port_open(PLANO_PORT), timeout=60)
        try:
            yield env
        finally:
            await asyncio.to_thread(
                subprocess.run, [str(PLANOAI), "trace", "down"], env=env, capture_output=True, timeout=60
            )
            await eventually(lambda: not port_open(PLANO_PORT), timeout=30)


def plano_trace_json(env: dict[str, str], trace_id: str) -> list[dict]:
    out = subprocess.run(
        [str(PLANOAI), "trace", trace_id, "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    return json.loads(out.stdout)["traces"] if out.returncode == 0 and out.stdout.strip() else []


def attrs(span: dict) -> dict[str, object]:
    out: dict[str, object] = {}
    for a in span["attributes"]:
        v = a["value"]
        out[a["key"]] = next(iter(v.values())) if v else None
    return out


@pytest.mark.slow  # Plano's `trace listen` and `trace` processes: scheduled first (tests/conftest.py)
async def test_planoai_trace_shows_a_codex_request(plano_listener, upstream) -> None:
    server, tel = await tracing_proxy(upstream, f"http://127.0.0.1:{PLANO_PORT}")
    try:
        body = json.loads((FIXTURES / "codex-0.169.0-exec-request.json").read_text())
        body |= {"model": "arch.codex.default", "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": ROUTED_PROMPT}]}
        ]}  # fmt: skip
        client_tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        headers = {"session_id": "codex-session-1", "traceparent": client_tp, "x-acme-user-tier": "gold"}
        async with (
            aiohttp.ClientSession() as s,
            s.post(server.url + "/v1/responses", data=orjson.dumps(body), headers=headers) as r,
        ):
            assert r.status == 200
            await r.read()
            returned = parse_traceparent(r.headers["traceparent"])
        # The client's trace continues: same trace id, our span (the LLM span) in it, sampled.
        assert returned is not None and returned[0] == 0x0AF7651916CD43DD8448EB211C80319C and returned[2]
        sent_up = parse_traceparent(upstream.last("/v1/responses").headers.get("traceparent"))
        assert sent_up == returned  # the upstream is told the same parent

        trace_id = "0af7651916cd43dd8448eb211c80319c"
        got: list[dict] = []

        async def arrived() -> bool:
            got[:] = await asyncio.to_thread(plano_trace_json, plano_listener, trace_id)
            return bool(got) and len(got[0]["spans"]) >= 2

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not await arrived():
            assert loop.time() < deadline, "spans never reached planoai trace listen"
            await asyncio.sleep(0.3)
        spans = {sp["service"]: sp for sp in got[0]["spans"]}
        llm, routing = spans["plano(llm)"], spans["plano(routing)"]
        a = attrs(llm)
        assert llm["spanId"] == f"{returned[1]:016x}" and llm["parentSpanId"] == "b7ad6b7169203331"
        assert llm["name"] == "POST /v1/responses arch.codex.default -> openai/gpt-5-mini"
        assert a["llm.model"] == "openai/gpt-5-mini" and a["model.requested"] == "arch.codex.default"
        assert a["llm.provider"] == "openai" and a["llm.is_streaming"] is True
        assert int(a["llm.usage.prompt_tokens"]) > 0 and int(a["llm.usage.completion_tokens"]) > 0
        assert int(a["llm.usage.total_tokens"]) == int(a["llm.usage.prompt_tokens"]) + int(
            a["llm.usage.completion_tokens"]
        )
        assert float(a["llm.usage.total_cost_usd"]) > 0 and "llm.usage.input_cost_usd" in a
        assert a["plano.route.name"] == "project understanding" and a["plano.session_id"] == "codex-session-1"
        assert int(a["http.status_code"]) == 200 and "llm.time_to_first_token" in a
        assert a["team"] == "core" and a["user.tier"] == "gold"  # span_attributes: static and header prefix
        # the request's own facts, formatted as brightstaff records them
        names = [t.get("name") or t.get("type") for t in body["tools"]]
        assert a["llm.tools"] == "\n".join(f"{n}(...)" for n in names) and "exec_command(...)" in a["llm.tools"]
        preview = ROUTED_PROMPT if len(ROUTED_PROMPT) <= 50 else ROUTED_PROMPT[:50] + "..."
        assert a["llm.user_message_preview"] == preview and "llm.temperature" not in a  # Codex sends none
        r_attrs = attrs(routing)
        assert routing["parentSpanId"] == llm["spanId"]
        assert r_attrs["route.selected_model"] == "openai/gpt-5-mini" and "routing.determination_ms" in r_attrs
        assert r_attrs["model.requested"] == "arch.codex.default"
    finally:
        await tel.stop()
        await server.stop(drain_s=0)


async def wait_for_spans(env: dict[str, str], trace_id: str, n: int) -> list[dict]:
    got: list[dict] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        got = await asyncio.to_thread(plano_trace_json, env, trace_id)
        if got and len(got[0]["spans"]) >= n:
            return got[0]["spans"]
        assert loop.time() < deadline, "spans never reached planoai trace listen"
        await asyncio.sleep(0.3)


async def test_routing_api_decisions_are_plano_routing_spans(plano_listener, upstream) -> None:
    """`/routing/v1/*` decisions are traced as Plano traces its routing service: a `plano(routing)` span
    in the client's trace, whose id the decision answers as `trace_id`."""
    server, tel = await tracing_proxy(upstream, f"http://127.0.0.1:{PLANO_PORT}")
    try:
        body = {"model": "arch.codex.default", "input": ROUTED_PROMPT}
        client_tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        headers = {"traceparent": client_tp, "x-model-affinity": "routing-api-session"}
        async with (
            aiohttp.ClientSession() as s,
            s.post(server.url + "/routing/v1/responses", data=orjson.dumps(body), headers=headers) as r,
        ):
            assert r.status == 200
            decision = await r.json()
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        assert decision["trace_id"] == trace_id and decision["route"] == "project understanding"
        spans = await wait_for_spans(plano_listener, trace_id, 1)
        (span,) = spans
        a = attrs(span)
        assert span["service"] == "plano(routing)" and span["name"] == "POST /routing/v1/responses"
        assert span["parentSpanId"] == "00f067aa0ba902b7"
        assert a["route.selected_model"] == decision["models"][0] == "openai/gpt-5-mini"
        assert a["model.requested"] == "arch.codex.default" and a["plano.route.name"] == "project understanding"
        assert a["plano.session_id"] == "routing-api-session" and "routing.determination_ms" in a
        assert a["team"] == "core"
    finally:
        await tel.stop()
        await server.stop(drain_s=0)


class SilentCollector:
    """Accepts TCP connections and never answers: the worst collector, short of none."""

    def __init__(self) -> None:
        self.conns: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        async def hold(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.conns.append(w)

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for w in self.conns:
            w.close()
        if self.server is not None:
            self.server.close()


@pytest.mark.parametrize("collector", ["down", "silent"])
async def test_a_dead_or_silent_collector_fails_no_request(upstream, collector: str) -> None:
    silent = SilentCollector()
    port = await silent.start() if collector == "silent" else closed_port()
    server, tel = await tracing_proxy(upstream, f"http://127.0.0.1:{port}")
    try:
        async with aiohttp.ClientSession() as s:
            for i in range(20):
                body = {"model": "gpt-5.3-codex", "input": f"hello {i}", "stream": i % 2 == 0}
                async with s.post(server.url + "/v1/responses", data=orjson.dumps(body)) as r:
                    assert r.status == 200
                    await r.read()
                    assert parse_traceparent(r.headers.get("traceparent")) is not None
        assert tel.tracing is not None
        await eventually(lambda: tel.tracing.spans >= 20)  # built and queued; delivery is the exporter's business
        if collector == "down":  # a refused connection fails fast: the loss shows in /metrics
            await eventually(lambda: tel.tracing.dropped > 0, timeout=60)
            assert b"planoai_trace_spans_dropped" in tel.metrics.render()
    finally:
        await tel.stop()
        await server.stop(drain_s=0)
        await silent.stop()


async def test_unsampled_requests_build_no_spans_but_still_carry_a_traceparent(upstream) -> None:
    state = ProxyState(telemetry_config(upstream.url))
    server = ProxyServer(state, host="127.0.0.1", port=0)
    tel = install(server, metrics=False, tracing=TraceSettings(sampling=1e-12, endpoint=f"http://127.0.0.1:{closed_port()}"))
    async with server:
        async with aiohttp.ClientSession() as s:
            async with s.post(server.url + "/v1/chat/completions", data=orjson.dumps(
                {"model": "gpt-5.3-codex", "messages": [{"role": "user", "content": "hi"}]}
            )) as r:  # fmt: skip
                assert r.status == 200
                tp = parse_traceparent(r.headers.get("traceparent"))
            # Answers the proxy shapes itself carry it too: an unknown model (4xx), a streamed answer.
            async with s.post(server.url + "/v1/responses", data=b'{"model": "gpt-9", "input": "hi"}') as r:
                assert r.status == 400 and parse_traceparent(r.headers.get("traceparent")) is not None
            async with s.post(server.url + "/v1/responses", data=orjson.dumps(
                {"model": "gpt-5.3-codex", "input": "hi", "stream": True}
            )) as r:  # fmt: skip
                await r.read()
                streamed = parse_traceparent(r.headers.get("traceparent"))
        assert tp is not None and tp[2] is False
        assert streamed is not None and streamed[0] != tp[0]
        assert parse_traceparent(upstream.last("/responses").headers.get("traceparent")) == streamed
    await tel.stop()
    assert tel.tracing is not None and tel.tracing.spans == 0


def test_settings_follow_plano_config_and_env() -> None:
    off = TraceSettings.from_config({}, {})
    assert not off.enabled
    s = TraceSettings.from_config({"random_sampling": 25, "span_attributes": {"static": {"a": 1}}}, {
        "OTEL_TRACING_GRPC_ENDPOINT": "http://127.0.0.1:9999"
    })  # fmt: skip
    assert s.sampling == 0.25 and s.endpoint == "http://127.0.0.1:9999" and s.static_attributes == {"a": "1"}
    cfg = TraceSettings.from_config(
        {"random_sampling": 100, "opentracing_grpc_endpoint": "http://127.0.0.1:4999"},
        {"OTEL_TRACING_GRPC_ENDPOINT": "http://127.0.0.1:9999"},
    )
    assert cfg.endpoint == "http://127.0.0.1:4999" and cfg.sampling == 1.0


def test_spans_built_from_records_parse_back_as_plano_expects(upstream) -> None:
    """The export thread's protobuf (fragments serialized once and concatenated) parses back to exactly the
    span a record describes: ids, parent, times, status, and every attribute with its type."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    from proxy.events import Attempt, RequestRecord, RouteInfo
    from proxy.tracing import Tracing, _Trace
    from proxy.wire.usage import Usage

    state = ProxyState(telemetry_config(upstream.url))
    tr = Tracing(state, TraceSettings(sampling=1.0, endpoint=f"http://127.0.0.1:{closed_port()}",
                                      static_attributes={"team": "core"}))  # fmt: skip
    try:
        provider = "openai/gpt-5-mini"  # the provider's name in telemetry_config
        rec = RequestRecord(
            "r-1", 1_700_000_000.5, "responses", "/v1/responses", "arch.codex.default", True, 502, 12.5,
            provider=provider, upstream_model="gpt-5-mini", upstream_api="chat", alias_target="gpt-5.3-codex",
            route=RouteInfo(route="project understanding", backend="llm", latency_ms=3.25, session_id="s-1",
                            pinned=True, decision="allowed", decision_reason="same_anchor",
                            span_attrs=(("plano.cache.idle_ms", 1200), ("plano.session.total_cost_in_usd", 0.5))),
            ttft_ms=4.5,
            usage=Usage(120, 20, 7, 3), error="upstream broke", error_code="upstream_error", session_id="s-1",
            attempts=(Attempt(provider, "gpt-5-mini", 429, "rate limited", 1.0),
                      Attempt(provider, "gpt-5-mini", 502, None, 2.0)),
            cost=Cost(0.25, 0.5),
        )  # fmt: skip
        for _ in range(2):  # the second time from the shape cache
            trace = _Trace(0xABC, 0xDEF, 0x123, True, {"team": "core"})
            trace.facts = {"llm.tools": "shell(...)", "llm.user_message_preview": "fix it"}
            raw, n = tr._encode([(rec, trace)])
            assert n == 2
            req = ExportTraceServiceRequest.FromString(raw)  # what the collector reads
            by_service = {r.resource.attributes[0].value.string_value: r.scope_spans[0].spans
                          for r in req.resource_spans}  # fmt: skip
            (llm,), (routing,) = by_service["plano(llm)"], by_service["plano(routing)"]
            assert (llm.trace_id.hex(), llm.span_id.hex(), llm.parent_span_id.hex()) == (
                f"{0xABC:032x}", f"{0xDEF:016x}", f"{0x123:016x}"
            )  # fmt: skip
            assert llm.name == "POST /v1/responses arch.codex.default -> openai/gpt-5-mini"
            assert llm.kind == Span.SPAN_KIND_SERVER and llm.status.code == 2  # STATUS_CODE_ERROR
            assert llm.start_time_unix_nano == 1_700_000_000_500_000_000
            assert llm.end_time_unix_nano - llm.start_time_unix_nano == 12_500_000
            got = {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in llm.attributes}
            assert got["http.status_code"] == 502 and got["llm.is_streaming"] is True
            assert got["llm.model"] == "openai/gpt-5-mini" and got["llm.provider"] == "openai"
            assert (got["llm.usage.prompt_tokens"], got["llm.usage.completion_tokens"]) == (120, 7)
            assert got["llm.usage.total_cost_usd"] == 0.75 and got["llm.time_to_first_token"] == 4.5
            assert got["routing.is_fallback"] is True and got["planoai.attempts"] == 2
            assert got["error.type"] == "upstream_error" and got["team"] == "core" and got["request_id"] == "r-1"
            assert got["llm.tools"] == "shell(...)" and got["llm.user_message_preview"] == "fix it"
            assert len(got) == len(llm.attributes)  # no attribute twice
            assert routing.parent_span_id == llm.span_id and routing.trace_id == llm.trace_id
            r_got = {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in routing.attributes}
            assert r_got["route.selected_model"] == "openai/gpt-5-mini" and r_got["routing.determination_ms"] == 3.25
            assert r_got["plano.cache.warm"] is True and r_got["plano.switch.decision"] == "allowed"
            assert r_got["plano.cache.idle_ms"] == 1200 and r_got["plano.session.total_cost_in_usd"] == 0.5
    finally:
        tr.stop()


def test_spans_go_out_as_encoded_bytes_and_still_go_out_if_the_exporter_changes(upstream) -> None:
    """The exporter sends our protobuf bytes through a stub that takes bytes; should an exporter version stop
    calling the hook that installs it, the batch is handed over as the library's own message instead."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from proxy.span_encoding import export_request
    from proxy.tracing import Tracing, _RawTraceService

    tr = Tracing(ProxyState(telemetry_config(upstream.url)),
                 TraceSettings(sampling=1.0, endpoint=f"http://127.0.0.1:{closed_port()}"))  # fmt: skip
    try:
        raw = export_request([(b"", [b"\x2a\x04name"])], "planoai-tui")  # one span named "name"
        assert isinstance(tr.exporter._client, _RawTraceService)
        assert tr.exporter._translate_data((raw, 1)) == raw
        tr.exporter._client = object()  # as if the library had set up its own stub
        msg = tr.exporter._translate_data((raw, 1))
        assert isinstance(msg, ExportTraceServiceRequest)
        assert msg.resource_spans[0].scope_spans[0].spans[0].name == "name"
    finally:
        tr.stop(0.5)
