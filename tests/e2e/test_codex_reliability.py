"""Issue #8's failure rows through the real Codex CLI (0.169.0).

Each test starts `planoai tui --no-ui` as a subprocess (config: `arch.codex.default` with alias
`fallbacks`), scripts loopback upstreams (tests/fakes.py), runs the real `codex exec --json` through
`planoai cli-agent codex`, and checks what Codex printed, how many requests each upstream received and
the proxy's MODEL_RESOLUTION line.

Codex's own retry knobs (docs/codex-wire.md §1, §6) are set per run in the launcher's provider table:
0 where a failure only has to be fast, and NON-zero (`request_max_retries=2`, `stream_max_retries=1`)
where the point is that Codex does NOT retry — so a proxy that answered with something retryable
would show up as 2–6 upstream requests in the counts each test asserts. The control test
`test_control_5xx_is_retried_by_codex` proves those knobs really make Codex retry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from tests.fakes import Script, chat_events, messages_events, responses_events, sse

from .harness import AgentRun, E2EUpstream, ProxyProcess, refused_url, run_launcher, write_fallback_config

pytestmark = pytest.mark.e2e

FALLBACKS = ("claude-sonnet-4-5", "llama3.1")
ANSWER = "E2E-FAILOVER-ANSWER"
PARTIAL = "E2E-PARTIAL-E2E-PARTIAL"  # cut_after=5 delivers the first half as a text delta, then cuts
RUN_TIMEOUT = 40.0  # per Codex run; a hang shows up as rc=-9 and "[timed out]" in stderr
# Retries left on where the test proves Codex does not retry (see the module docstring).
NO_RETRY_EXPECTED = {"request_retries": 2, "stream_retries": 1}


def codex_args(ws: Path, prompt: str, request_retries: int, stream_retries: int) -> list[str]:
    return [
        "exec", "--skip-git-repo-check", "--json", "--sandbox", "workspace-write",
        "--disable", "plugins", "--disable", "remote_plugin", "--disable", "apps", "-c", "analytics.enabled=false",
        # merged into the launcher's `model_providers.plano` table
        "-c", f"model_providers.plano.request_max_retries={request_retries}",
        "-c", f"model_providers.plano.stream_max_retries={stream_retries}",
        "-C", str(ws), prompt,
    ]


async def run_codex(proxy: ProxyProcess, tmp_path: Path, codex_bin: str, prompt: str = "say hi", *,
                    request_retries: int = 0, stream_retries: int = 0) -> AgentRun:
    """One `codex exec` turn through the launcher. Retry storms show in the upstream request counts the
    tests assert, not in wall time; RUN_TIMEOUT only turns a hang into a failure."""
    ws = tmp_path / "workspace"
    for d in (ws, tmp_path / "codex_home", tmp_path / "home"):
        d.mkdir(exist_ok=True)
    env = {"CODEX_HOME": str(tmp_path / "codex_home"), "HOME": str(tmp_path / "home"), "PLANOAI_CODEX_BIN": codex_bin,
           "OPENAI_API_KEY": ""}
    return await run_launcher("codex", proxy, codex_args(ws, prompt, request_retries, stream_retries), env, cwd=ws,
                              timeout=RUN_TIMEOUT)


def posts(up: E2EUpstream, suffix: str) -> int:
    return sum(1 for c in up.requests if c.method == "POST" and c.path.endswith(suffix))


def turn_failed(run: AgentRun) -> str:
    """The message of Codex's `turn.failed` event ('' when the turn did not fail)."""
    failed = [e.get("error") or {} for e in run.events() if e.get("type") == "turn.failed"]
    return str(failed[-1].get("message", "")) if failed else ""


def reconnects(run: AgentRun) -> list[str]:
    """Codex's "Reconnecting… n/N" notices (one per turn-level retry)."""
    return [e.get("message", "") for e in run.events()
            if e.get("type") == "error" and str(e.get("message", "")).startswith("Reconnecting")]


Launch = Callable[..., Awaitable[ProxyProcess]]


@pytest.fixture
async def launch(tmp_path: Path, e2e_upstream: E2EUpstream, request: pytest.FixtureRequest) -> AsyncIterator[Launch]:
    """`await launch(target, fallbacks, openai_url=…)` → a running `planoai tui --no-ui`."""
    procs: list[ProxyProcess] = []

    async def start(codex_target: str = "gpt-5.3-codex", codex_fallbacks: Sequence[str] = (),
                    openai_url: str | None = None, extra_providers: str = "") -> ProxyProcess:
        conf_dir = tmp_path / f"proxy{len(procs)}"
        conf_dir.mkdir()
        cfg = write_fallback_config(conf_dir, e2e_upstream.url, codex_target, codex_fallbacks, openai_url,
                                    extra_providers)
        proc = ProxyProcess(cfg)
        procs.append(proc)
        return await proc.start()

    yield start
    for p in procs:
        stderr = await p.stop()
        if getattr(request.node, "rep_call_failed", False):
            print("--- proxy stdout\n" + "\n".join(p.lines) + f"\n--- proxy stderr\n{stderr[-3000:]}")
            if p.jsonl.exists():
                print("--- --log-json\n" + p.jsonl.read_text())


# ----------------------------------------------------------------------------- 1. failover


def _failed_event_before_output() -> list[bytes]:
    """`response.created`, then `response.failed` — an upstream that gives up before any output."""
    base = {"id": "resp_up_fail", "object": "response", "created_at": 1, "model": "gpt-5.3-codex",
            "status": "in_progress", "output": []}
    return [sse({"type": "response.created", "response": base, "sequence_number": 0}, "response.created"),
            sse({"type": "response.failed", "sequence_number": 1, "response": {
                **base, "status": "failed", "error": {"code": "server_error", "message": "upstream overloaded"}}},
                "response.failed")]


# failure: (script for the Responses upstream or None = connection refused,
#           script for the Anthropic upstream or None = it answers,
#           the provider that finally answers, its upstream path, total attempts)
FAILOVERS: dict[str, tuple[Script | None, Script | None, str, str, int]] = {
    "http500": (Script(status=500, json={"error": {"message": "upstream exploded", "type": "server_error"}}),
                None, "anthropic/claude-sonnet-4-5", "/messages", 2),
    "http429": (Script(status=429, headers={"retry-after": "30"},
                       json={"error": {"message": "Rate limit reached", "type": "rate_limit_error",
                                       "code": "rate_limit_exceeded"}}),
                None, "anthropic/claude-sonnet-4-5", "/messages", 2),
    "refused": (None, None, "anthropic/claude-sonnet-4-5", "/messages", 2),
    "cut_before_output": (Script(frames=responses_events("gpt-5.3-codex", "never shown"), cut_after=2),
                          None, "anthropic/claude-sonnet-4-5", "/messages", 2),
    "failed_event_before_output": (Script(frames=_failed_event_before_output()),
                                   None, "anthropic/claude-sonnet-4-5", "/messages", 2),
    # both the target and the first fallback fail: the second fallback (Chat Completions) answers
    "chain_503_529": (Script(status=503, json={"error": {"message": "unavailable", "type": "server_error"}}),
                      Script(status=529, json={"type": "error", "error": {"type": "overloaded_error",
                                                                           "message": "Overloaded"}}),
                      "ollama/llama3.1", "/chat/completions", 3),
}


@pytest.mark.parametrize("failure", list(FAILOVERS))
async def test_failover_completes_the_turn(failure: str, launch: Launch, e2e_upstream: E2EUpstream, tmp_path: Path,
                                           codex_bin: str) -> None:
    """Issue #8 row "provider down / 5xx / 429 / cut before output": the Responses upstream fails
    before any byte reached Codex; a fallback answers through translation (Responses→Messages, or
    Responses→Chat when Anthropic fails too) and `codex exec` completes the turn with the scripted text
    after ONE request from Codex (retries are 0, so any leak of the failure would fail the turn).

    Observed with Codex 0.169.0: exactly as expected — rc 0, one agent_message, no error events; the
    MODEL_RESOLUTION line names the final provider with `attempts=N fallback_from='openai/gpt-5.3-codex'`;
    a 429 with `retry-after: 30` also prints `PROVIDER_COOLING … for_s=30`."""
    first, second, provider, suffix, attempts = FAILOVERS[failure]
    proxy = await launch("gpt-5.3-codex", FALLBACKS, openai_url=refused_url() if first is None else None)
    if first is not None:
        e2e_upstream.script("/responses", first)
    if second is not None:
        e2e_upstream.script("/messages", second)
    model = provider.split("/", 1)[1]
    answer = (Script(frames=messages_events(model, ANSWER)) if suffix == "/messages"
              else Script(frames=chat_events(model, ANSWER)))
    e2e_upstream.script(suffix, answer)

    run = await run_codex(proxy, tmp_path, codex_bin)
    assert run.returncode == 0, run.describe()
    assert run.agent_messages() == [ANSWER], run.describe()
    assert [e for e in run.events() if e.get("type") == "error"] == [], run.describe()

    # each upstream was asked once: the proxy does not retry a provider, it moves on
    assert posts(e2e_upstream, "/responses") == (0 if first is None else 1)
    assert posts(e2e_upstream, "/messages") == 1
    assert posts(e2e_upstream, "/chat/completions") == (1 if suffix == "/chat/completions" else 0)
    assert e2e_upstream.bodies(suffix)[-1]["model"] == model

    [line] = proxy.resolution_lines()
    assert proxy.resolutions() == [("arch.codex.default", model, provider)], line
    assert "[info]" in line and "status=200" in line, line
    assert f"attempts={attempts} fallback_from='openai/gpt-5.3-codex'" in line, line
    cooling = proxy.lines_with("PROVIDER_COOLING")
    if failure == "http429":
        assert len(cooling) == 1 and "provider='openai/gpt-5.3-codex' for_s=30" in cooling[0], cooling
    else:  # one failure is below the cooldown threshold (3 in a row)
        assert cooling == [], cooling


# ----------------------------------------------------------------------------- 2. deterministic 400


async def test_deterministic_400_ends_the_turn_after_one_request(launch: Launch, e2e_upstream: E2EUpstream,
                                                                  tmp_path: Path, codex_bin: str) -> None:
    """Issue #8 row "deterministic 400": relayed as HTTP 400 with the upstream's own JSON body; Codex
    treats 400 as fatal and stops — one upstream request although Codex may retry (2 HTTP, 1 turn),
    and no failover to the fallbacks (a bad request is not the provider's fault).

    Observed with Codex 0.169.0: rc 1; `error` and `turn.failed` events whose message is the raw
    upstream body `{"error":{"message":"E2E-BAD-REQUEST: …","code":"invalid_request"}}`; no
    "Reconnecting" notice; ~0.7 s."""
    proxy = await launch("gpt-5.3-codex", FALLBACKS)
    e2e_upstream.script("/responses", Script(status=400, json={
        "error": {"message": "E2E-BAD-REQUEST: tools[3] is invalid", "code": "invalid_request"}}))
    run = await run_codex(proxy, tmp_path, codex_bin, **NO_RETRY_EXPECTED)
    assert run.returncode != 0, run.describe()
    failed = turn_failed(run)
    assert "E2E-BAD-REQUEST: tools[3] is invalid" in failed and "invalid_request" in failed, run.describe()
    assert reconnects(run) == [] and run.agent_messages() == [], run.describe()

    assert posts(e2e_upstream, "/responses") == 1  # not 3 (HTTP retries) nor 6 (turn retries)
    assert posts(e2e_upstream, "/messages") == posts(e2e_upstream, "/chat/completions") == 0  # no failover
    [line] = proxy.resolution_lines()
    assert "[warn]" in line and "provider='openai/gpt-5.3-codex'" in line and "status=400" in line, line
    assert "E2E-BAD-REQUEST" in line and "attempts=" not in line, line


# ----------------------------------------------------------------------------- 3. context length


async def test_context_length_on_translated_path_is_fatal(launch: Launch, e2e_upstream: E2EUpstream,
                                                          tmp_path: Path, codex_bin: str) -> None:
    """Issue #8 row "context too long": a Chat-Completions upstream (vLLM/Ollama style: no error code)
    answers 400 "maximum context length …"; the proxy translates the error for the Responses client
    with code `context_length_exceeded`, which Codex treats as fatal.

    Observed with Codex 0.169.0: rc 1; `turn.failed` "Codex ran out of room in the model's context
    window. Start a new thread or clear earlier history before retrying."; one upstream request
    although retries were allowed; ~0.7 s."""
    proxy = await launch("llama3.1", FALLBACKS)
    e2e_upstream.script("/chat/completions", Script(status=400, json={"error": {
        "message": "This model's maximum context length is 8192 tokens. However, you requested 9001 tokens.",
        "type": "BadRequestError"}}))
    run = await run_codex(proxy, tmp_path, codex_bin, **NO_RETRY_EXPECTED)
    assert run.returncode != 0, run.describe()
    failed = turn_failed(run)
    assert "ran out of room" in failed and "context window" in failed, run.describe()
    assert reconnects(run) == [], run.describe()

    assert posts(e2e_upstream, "/chat/completions") == 1
    assert posts(e2e_upstream, "/responses") == posts(e2e_upstream, "/messages") == 0  # no failover
    [line] = proxy.resolution_lines()
    assert "provider='ollama/llama3.1'" in line and "api=responses→chat" in line, line
    assert "status=400" in line and "maximum context length" in line, line


# ----------------------------------------------------------------------------- 4. cut stream


async def test_cut_stream_after_output_fails_the_turn_cleanly(launch: Launch, e2e_upstream: E2EUpstream,
                                                              tmp_path: Path, codex_bin: str) -> None:
    """Issue #8 row "stream cut after output started": too late to fail over (Codex already has
    bytes), so the proxy ends the stream with `response.failed` (code `stream_interrupted`). With
    `stream_max_retries=0` Codex fails the turn at once — no hang until its 300 s idle timeout.

    Observed with Codex 0.169.0: rc 1 in ~0.7 s; `turn.failed` "stream disconnected before completion:
    upstream stream broke: Response payload is not completed: <TransferEncodingError: 400, …>" — the
    text after the colon is the proxy's `response.failed` message, so Codex read the proxy's terminal
    event (the "400" in it is aiohttp's internal code for a short chunked body, not an HTTP status)."""
    proxy = await launch("gpt-5.3-codex", FALLBACKS)
    e2e_upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex", PARTIAL), cut_after=5))
    run = await run_codex(proxy, tmp_path, codex_bin, stream_retries=0)
    assert run.returncode != 0, run.describe()
    assert "upstream stream broke" in turn_failed(run), run.describe()
    assert run.agent_messages() == [], run.describe()  # the partial text never became a message

    assert posts(e2e_upstream, "/responses") == 1
    assert posts(e2e_upstream, "/messages") == posts(e2e_upstream, "/chat/completions") == 0  # no late failover
    [line] = proxy.resolution_lines()
    assert "[warn]" in line and "provider='openai/gpt-5.3-codex'" in line, line
    assert "status=200" in line and "error='upstream stream broke" in line, line


async def test_cut_stream_after_output_is_retried_by_codex(launch: Launch, e2e_upstream: E2EUpstream,
                                                           tmp_path: Path, codex_bin: str) -> None:
    """The same cut with `stream_max_retries=1`: Codex retries the turn itself and the retry
    completes. The abandoned partial output must not leak into the retried request (the proxy never
    marks abandoned output `.done`, docs/codex-wire.md §6).

    Observed with Codex 0.169.0: one `error` event "Reconnecting... 1/1 (stream disconnected before
    completion: upstream stream broke: …)", then the answer; rc 0 in ~1 s; the retried request has the
    same `input` as the first."""
    proxy = await launch("gpt-5.3-codex", FALLBACKS)
    e2e_upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex", PARTIAL), cut_after=5),
                        Script(frames=responses_events("gpt-5.3-codex", ANSWER)))
    run = await run_codex(proxy, tmp_path, codex_bin, stream_retries=1)
    assert run.returncode == 0, run.describe()
    assert run.agent_messages() == [ANSWER], run.describe()
    [notice] = reconnects(run)
    assert "1/1" in notice and "upstream stream broke" in notice, notice

    first, retry = e2e_upstream.bodies("/responses")
    assert retry["input"] == first["input"]
    assert PARTIAL[: len(PARTIAL) // 2].encode() not in e2e_upstream.requests[-1].raw
    assert posts(e2e_upstream, "/messages") == posts(e2e_upstream, "/chat/completions") == 0
    lines = proxy.resolution_lines()
    assert len(lines) == 2 and "error='upstream stream broke" in lines[0] and "[info]" in lines[1], lines


# ----------------------------------------------------------------------------- 5. missing key


async def test_missing_key_is_shown_without_an_upstream_request(launch: Launch, e2e_upstream: E2EUpstream,
                                                                tmp_path: Path, codex_bin: str) -> None:
    """Issue #8 row "missing API key": the proxy answers 400 `missing_api_key` itself (not 401, which
    Codex retries); Codex shows the `export VAR=` hint and nothing reaches any upstream.

    Observed with Codex 0.169.0: rc 1; `turn.failed` carries the proxy's raw JSON body with
    "provider 'xai/grok-4' has no API key: export PLANOAI_E2E_UNSET_KEY=... (or put it in the .env
    beside config.yaml) and reload"; no retries although allowed; ~0.7 s."""
    proxy = await launch("grok-4", extra_providers=(
        "  - model: xai/grok-4\n"
        "    access_key: $PLANOAI_E2E_UNSET_KEY\n"
        f"    base_url: {e2e_upstream.url}/v1\n"))
    run = await run_codex(proxy, tmp_path, codex_bin, **NO_RETRY_EXPECTED)
    assert run.returncode != 0, run.describe()
    failed = turn_failed(run)
    assert "export PLANOAI_E2E_UNSET_KEY=" in failed and "missing_api_key" in failed, run.describe()
    assert reconnects(run) == [], run.describe()
    assert [c for c in e2e_upstream.requests if c.method == "POST"] == []
    [line] = proxy.resolution_lines()
    assert "provider='xai/grok-4'" in line and "status=400" in line and "export PLANOAI_E2E_UNSET_KEY=" in line


async def test_missing_key_on_the_target_fails_over_silently(launch: Launch, e2e_upstream: E2EUpstream,
                                                             tmp_path: Path, codex_bin: str) -> None:
    """With fallbacks, a target without a key is skipped (a config problem, not counted against the
    provider's health) and the fallback answers; the line still says where the request went.

    Observed with Codex 0.169.0: rc 0 with the fallback's answer, `attempts=2
    fallback_from='xai/grok-4'`, no PROVIDER_COOLING line."""
    proxy = await launch("grok-4", FALLBACKS, extra_providers=(
        "  - model: xai/grok-4\n"
        "    access_key: $PLANOAI_E2E_UNSET_KEY\n"
        f"    base_url: {e2e_upstream.url}/v1\n"))
    e2e_upstream.script("/messages", Script(frames=messages_events("claude-sonnet-4-5", ANSWER)))
    run = await run_codex(proxy, tmp_path, codex_bin)
    assert run.returncode == 0 and run.agent_messages() == [ANSWER], run.describe()
    assert posts(e2e_upstream, "/responses") == 0 and posts(e2e_upstream, "/messages") == 1
    [line] = proxy.resolution_lines()
    assert "provider='anthropic/claude-sonnet-4-5'" in line and "attempts=2 fallback_from='xai/grok-4'" in line
    assert proxy.lines_with("PROVIDER_COOLING") == []


# ----------------------------------------------------------------------------- exhaustion and control


async def test_every_provider_failing_ends_the_turn_naming_them(launch: Launch, e2e_upstream: E2EUpstream,
                                                                tmp_path: Path, codex_bin: str) -> None:
    """All three candidates answer 5xx: the proxy tries each once, then answers the status of the
    last one with a message naming every provider; Codex (retries 0) fails the turn.

    Observed with Codex 0.169.0: rc 1; `turn.failed` "unexpected status 503 Service Unavailable: all
    providers failed: openai/gpt-5.3-codex answered 500: boom; anthropic/… answered 529: Overloaded;
    ollama/llama3.1: no GPU, url: http://127.0.0.1:…/v1/responses, request id: …"."""
    proxy = await launch("gpt-5.3-codex", FALLBACKS)
    e2e_upstream.script("/responses", Script(status=500))
    e2e_upstream.script("/messages", Script(status=529, json={"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}))
    e2e_upstream.script("/chat/completions", Script(status=503, json={"error": {"message": "no GPU"}}))
    run = await run_codex(proxy, tmp_path, codex_bin)
    assert run.returncode != 0, run.describe()
    failed = turn_failed(run)
    assert "all providers failed" in failed, run.describe()
    for name in ("openai/gpt-5.3-codex", "anthropic/claude-sonnet-4-5", "ollama/llama3.1"):
        assert name in failed, (name, failed)
    assert [posts(e2e_upstream, s) for s in ("/responses", "/messages", "/chat/completions")] == [1, 1, 1]
    [line] = proxy.resolution_lines()
    assert "[warn]" in line and "provider='ollama/llama3.1'" in line and "status=503" in line, line
    assert "attempts=3 fallback_from='openai/gpt-5.3-codex'" in line, line
    assert "openai/gpt-5.3-codex: openai/gpt-5.3-codex" not in failed  # each provider named once


async def test_control_5xx_is_retried_by_codex(launch: Launch, e2e_upstream: E2EUpstream, tmp_path: Path,
                                               codex_bin: str) -> None:
    """Control for the "exactly one request" assertions above: with the same retry knobs, a 500
    (no fallback left) IS retried by Codex — (1 + request_max_retries) HTTP attempts per turn attempt,
    (1 + stream_max_retries) turn attempts.

    Observed with Codex 0.169.0: 6 upstream requests (3 × 2), one "Reconnecting... 1/1" notice, rc 1."""
    proxy = await launch("gpt-5.3-codex")
    e2e_upstream.script("/responses", *[Script(status=500) for _ in range(10)])
    run = await run_codex(proxy, tmp_path, codex_bin, **NO_RETRY_EXPECTED)
    assert run.returncode != 0, run.describe()
    assert posts(e2e_upstream, "/responses") == 6, run.describe()
    assert len(reconnects(run)) == 1, run.describe()
