"""The headless MODEL_RESOLUTION line: Plano's pretty-script regexes match; JSONL rows are complete."""

from __future__ import annotations

import io
import re
from pathlib import Path

import aiohttp
import orjson

from plano_tui.headless import HeadlessPrinter, format_record
from proxy.events import AliasChanged, RequestFailed, RequestFinished, RequestRecord, RouteInfo
from proxy.jsonlog import JsonlLog
from proxy.wire.usage import Usage

from .conftest import eventually

# The regexes of Plano's demos/llm_routing/*/pretty_model_resolution.sh (docs/plano-compat.md §3.5).
REQ = re.compile(r"req_model='[^']+'")
RES = re.compile(r"resolved_model='[^']+'")
LINE = re.compile(
    r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[(info|warn)\] request_id=\S+: MODEL_RESOLUTION: "
    r"req_model='[^']+' -> resolved_model='[^']+' provider='[^']+' streaming=(true|false)( \S+=.*)?$"
)


def rec(**kw) -> RequestRecord:
    base = dict(
        request_id="abc123",
        started_at=1764237600.123,
        client_api="responses",
        path="/v1/responses",
        client_model="arch.codex.default",
        stream=True,
        status=200,
        latency_ms=812.4,
        provider="openai/gpt-5.3-codex",
        upstream_model="gpt-5.3-codex",
        upstream_api="responses",
        alias="arch.codex.default",
        alias_target="gpt-5.3-codex",
        via="alias",
        ttft_ms=120.5,
        usage=Usage(100, 20, 30, 5),
    )
    base.update(kw)
    return RequestRecord(**base)


def test_line_matches_the_pretty_script_regexes() -> None:
    line = format_record(rec())
    assert LINE.match(line), line
    assert REQ.search(line).group(0) == "req_model='arch.codex.default'"
    assert RES.search(line).group(0) == "resolved_model='gpt-5.3-codex'"
    assert "provider='openai/gpt-5.3-codex' streaming=true" in line
    assert "alias_target='gpt-5.3-codex'" in line and "status=200" in line and "ttft_ms=120.5" in line


def test_failures_and_odd_values_still_match() -> None:
    for r in [
        rec(client_model="", upstream_model=None, provider=None, status=400, error="Model '' not found", stream=False),
        rec(client_model="it's", status=502, error="provider unreachable", route=RouteInfo("code generation")),
    ]:
        line = format_record(r)
        assert LINE.match(line), line
        assert "[warn]" in line
    assert "route='code generation'" in format_record(rec(route=RouteInfo("code generation", "local")))


async def test_printer_writes_bursts_in_the_order_of_events() -> None:
    out = io.StringIO()
    printer = HeadlessPrinter(out, flush_s=60)  # no timed flush within this test
    printer(RequestFinished(rec(request_id="first")))
    printer(RequestFailed(rec(request_id="second", status=502, error="down")))
    assert out.getvalue() == ""  # waiting for the burst's flush
    printer(AliasChanged("arch.codex.default", "gpt-5.3-codex", "claude-sonnet-4-5", "admin"))
    lines = out.getvalue().splitlines()  # a notice is written at once, after the requests before it
    assert [("request_id=first" in lines[0]), ("request_id=second" in lines[1]), ("ALIAS_CHANGED" in lines[2])] == [
        True, True, True]
    printer(RequestFinished(rec(request_id="third")))
    printer.flush()  # what the CLI does when it stops
    assert "request_id=third" in out.getvalue().splitlines()[-1] and len(out.getvalue().splitlines()) == 4


def test_printer_prints_alias_changes() -> None:
    out = io.StringIO()
    HeadlessPrinter(out)(AliasChanged("arch.codex.default", "gpt-5.3-codex", "claude-sonnet-4-5", "admin"))
    assert (
        "ALIAS_CHANGED: alias='arch.codex.default' old_target='gpt-5.3-codex' new_target='claude-sonnet-4-5'"
        in out.getvalue()
    )


async def test_live_lines_and_jsonl(proxy, tmp_path: Path) -> None:
    out = io.StringIO()
    printer = HeadlessPrinter(out, flush_s=0.05)
    proxy.state.bus.subscribe(printer)
    log = JsonlLog(tmp_path / "req.jsonl")
    proxy.state.bus.subscribe(log)
    async with aiohttp.ClientSession() as s:
        for body in ({"model": "arch.codex.default", "input": "x", "stream": True}, {"model": "nope", "input": "x"}):
            async with s.post(proxy.url + "/v1/responses", json=body) as r:
                await r.read()
    log.close()
    # Lines are written in bursts, flush_s after the first request: wait for the burst, not a fixed time.
    await eventually(lambda: len(out.getvalue().splitlines()) >= 2)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(LINE.match(x) for x in lines)
    assert "req_model='arch.codex.default' -> resolved_model='gpt-5.3-codex'" in lines[0]
    assert "req_model='nope' -> resolved_model='-'" in lines[1] and "status=400" in lines[1]
    rows = [orjson.loads(x) for x in (tmp_path / "req.jsonl").read_bytes().splitlines()]
    assert [r["status"] for r in rows] == [200, 400]
    first = rows[0]
    for key in (
        "request_id",
        "client_model",
        "alias_target",
        "provider",
        "upstream_model",
        "client_api",
        "upstream_api",
        "stream",
        "status",
        "ttft_ms",
        "latency_ms",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "reasoning_tokens",
        "error",
    ):
        assert key in first
    assert (first["input_tokens"], first["cached_tokens"], first["output_tokens"], first["reasoning_tokens"]) == (
        12,
        4,
        7,
        2,
    )
    assert rows[1]["error"].startswith("Model 'nope' not found")
