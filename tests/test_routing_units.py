"""Routing building blocks: turn detection on real client traffic, session keys, the decision cache,
preferences (v0.3 migration, v0.4, per-request), settings, and the router-target resolution."""

from __future__ import annotations

import copy
import json
import re
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.config import RoutingPreference, parse_config
from proxy.resolve import AliasTable, Resolver
from proxy.routing.conversation import _walked_prefix_facts, parse, prefix_facts, strip_envelopes
from proxy.routing.llm import resolve_target
from proxy.routing.pinning import DecisionCache, Pinned, codex_turn_id, keys_for
from proxy.routing.preferences import PreferenceError, parse_inline, ranked_models
from proxy.routing.settings import load
from proxy.stats import Stats
from proxy.wire.providers import Api
from proxy.wire.usage import EMPTY

from .conftest import FIXTURES, make_config


def codex_runs() -> dict:
    return json.loads((FIXTURES / "codex-0.169.0-tool-loops.json").read_text())["runs"]


def posts(run: str) -> list[dict]:
    return [r for r in codex_runs()[run]["requests"] if r["method"] == "POST"]


def claude_body() -> dict:
    return json.loads((FIXTURES / "claude-code-2.1.197-request.json").read_text())


# ------------------------------------------------------------------ turn detection on real traffic


@pytest.mark.parametrize("run", ["exec_ww", "patch_ww", "par", "ns", "resume"])
def test_codex_first_request_is_a_user_turn_and_tool_outputs_are_continuations(run: str) -> None:
    reqs = posts(run)
    convs = [parse(Api.RESPONSES, r["body"]) for r in reqs]
    assert convs[0].is_user_turn
    assert convs[0].latest_user_text and "<environment_context>" not in convs[0].latest_user_text
    assert not convs[1].is_user_turn  # ends with function_call_output / custom_tool_call_output
    last_type = reqs[1]["body"]["input"][-1]["type"]
    assert last_type in ("function_call_output", "custom_tool_call_output")


def test_codex_resume_second_prompt_is_a_new_user_turn_with_a_new_turn_id() -> None:
    reqs = posts("resume")
    conv = parse(Api.RESPONSES, reqs[2]["body"])
    assert conv.is_user_turn and conv.latest_user_text == "second prompt"
    turns = [codex_turn_id(r["headers"]) for r in reqs]
    assert turns[0] == turns[1] != turns[2] and all(turns)


def test_claude_code_tool_result_is_a_continuation_and_reminders_are_not_user_text() -> None:
    body = claude_body()
    conv = parse(Api.MESSAGES, body)
    assert not conv.is_user_turn
    assert conv.latest_user_text == "run echo hi" and conv.first_user == "run echo hi"
    first = copy.deepcopy(body)
    first["messages"] = first["messages"][:1]
    assert parse(Api.MESSAGES, first).is_user_turn
    # A user message made only of a <system-reminder> envelope is not a user turn.
    only_reminder = {"messages": [{"role": "user", "content": [body["messages"][0]["content"][0]]}]}
    assert not parse(Api.MESSAGES, only_reminder).is_user_turn
    # tool_result followed by a reminder text block: still a continuation.
    mixed = copy.deepcopy(body)
    mixed["messages"][-1]["content"].append({"type": "text", "text": "<system-reminder>x</system-reminder>"})
    assert not parse(Api.MESSAGES, mixed).is_user_turn


def test_chat_tool_message_is_a_continuation_and_images_count_as_user_turns() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "list files"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
            {"role": "tool", "tool_call_id": "1", "content": "a.py"},
        ]
    }
    conv = parse(Api.CHAT, body)
    assert not conv.is_user_turn and conv.instructions == "be brief"
    assert [t.role for t in conv.messages] == ["user"]
    img = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:x"}}]}]}
    assert parse(Api.CHAT, img).is_user_turn


def test_responses_string_input_and_envelope_stripping() -> None:
    assert parse(Api.RESPONSES, {"input": "hello"}).is_user_turn
    assert strip_envelopes("<system-reminder>\nA\n</system-reminder>\n\n do it ") == "do it"
    assert strip_envelopes("<user-prompt-submit-hook>x</user-prompt-submit-hook>") == ""


_ENVELOPES = re.compile(r"<(system-reminder|user-prompt-submit-hook|environment_context)>.*?</\1>", re.DOTALL)
_PIECES = ["<system-reminder>", "</system-reminder>", "<environment_context>", "</environment_context>",
           "<user-prompt-submit-hook>", "</user-prompt-submit-hook>", "<system-reminder", "</", "<", ">", "x",
           " ", "\n", "é"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_envelope_stripping_matches_the_regex_it_replaced(text: str) -> None:
    """strip_envelopes scans with str.find; it removes exactly what the regex's sub removed: leftmost,
    non-overlapping, an unclosed opening tag skipped, envelopes of one kind containing another's tags."""
    assert strip_envelopes(text) == _ENVELOPES.sub("", text).strip()


_TEXTS = st.sampled_from(["", "  ", "do it", "<environment_context>cwd</environment_context>",
                          "<system-reminder>x</system-reminder> fix it", "You are Codex."])
_CONTENT = st.one_of(_TEXTS, st.lists(st.one_of(
    st.builds(lambda t, k: {"type": k, "text": t}, _TEXTS, st.sampled_from(["input_text", "text", "output_text"])),
    st.just({"type": "input_image", "image_url": "data:x"}), _TEXTS), max_size=3))
_ITEMS = st.one_of(
    st.builds(lambda r, c: {"type": "message", "role": r, "content": c},
              st.sampled_from(["system", "developer", "user", "assistant", None]), _CONTENT),
    st.builds(lambda r, c: {"role": r, "content": c}, st.sampled_from(["developer", "user"]), _CONTENT),
    st.sampled_from([{"type": "function_call", "name": "shell", "call_id": "c1", "arguments": "{}"},
                     {"type": "function_call_output", "call_id": "c1", "output": "ok"},
                     {"type": "reasoning", "summary": []}, "not an item"]))


@settings(max_examples=2000, deadline=None)
@given(st.lists(_ITEMS, max_size=8), st.sampled_from([None, "", "Be brief.", [{"type": "input_text", "text": "Hi"}]]))
def test_responses_prefix_facts_match_the_turn_walk(items: list, instructions: object) -> None:
    """The Responses fast path (read from the items) and the generic turn walk agree on what a session
    key hashes: instructions (with the leading system/developer messages), tools, first user text."""
    body = {"input": items, "tools": [{"type": "function", "name": "shell"}, {"type": "custom", "name": "apply_patch"}]}
    if instructions is not None:
        body["instructions"] = instructions
    assert prefix_facts(Api.RESPONSES, body) == _walked_prefix_facts(Api.RESPONSES, body)


# ------------------------------------------------------------------ session keys and the cache


def test_session_keys_codex_headers_turn_and_lane() -> None:
    reqs = posts("exec_ww")
    c0, c1 = (parse(Api.RESPONSES, r["body"]) for r in reqs)
    k0, k1 = keys_for(reqs[0]["headers"], c0, "gpt-5.3-codex"), keys_for(reqs[1]["headers"], c1, "gpt-5.3-codex")
    assert k0.session == reqs[0]["headers"]["session-id"]
    assert k0.session_key == k1.session_key and k0.turn_key == k1.turn_key is not None
    assert k0.retry_key != k1.retry_key  # more items: not a retry
    other_lane = keys_for(reqs[0]["headers"], c0, "gpt-5-mini")
    assert other_lane.session_key != k0.session_key and other_lane.turn_key != k0.turn_key


def test_session_keys_affinity_header_wins_and_implicit_hash_separates_conversations() -> None:
    a = parse(Api.CHAT, {"messages": [{"role": "user", "content": "task A"}]})
    b = parse(Api.CHAT, {"messages": [{"role": "user", "content": "task B"}]})
    assert keys_for({}, a, "m").session_key != keys_for({}, b, "m").session_key
    assert (
        keys_for({"X-Model-Affinity": "s1"}, a, "m").session_key
        == keys_for({"X-Model-Affinity": "s1"}, b, "m").session_key
    )
    assert keys_for({"X-Model-Affinity": "s1"}, a, "m").session == "s1"
    # Claude Code: the session header plus the conversation hash (sub-agents share the session id).
    h = {"X-Claude-Code-Session-Id": "cc-1"}
    assert keys_for(h, a, "m").session == "cc-1"
    assert keys_for(h, a, "m").session_key != keys_for(h, b, "m").session_key


def test_turn_id_parse_is_defensive() -> None:
    assert codex_turn_id({"x-codex-turn-metadata": "not json turn_id"}) is None
    assert codex_turn_id({"x-codex-turn-metadata": '{"turn_id": "t1"}'}) == "t1"
    assert codex_turn_id({}) is None


def test_decision_cache_ttl_lru_and_sliding_expiry() -> None:
    c = DecisionCache(ttl_s=10, max_entries=2)
    p = Pinned("r", "m", "local", None, None, 1.0)
    c.put("a", p, now=0)
    c.put("b", p, now=0)
    assert c.get("a", now=5) is p  # refreshes a
    c.put("c", p, now=6)  # evicts b (least recently used)
    assert c.get("b", now=6) is None and len(c) == 2
    assert c.get("a", now=14) is p  # 9 s after its refresh at 5
    assert c.get("c", now=17) is None  # 11 s old: expired
    assert c.get(None) is None


# ------------------------------------------------------------------ preferences


V03 = textwrap.dedent(
    """\
    version: v0.3.0
    model_providers:
      - model: openai/gpt-5-2025-08-07
        access_key: k
        routing_preferences:
          - name: code generation
            description: generating new code snippets, functions, or boilerplate
      - model: openai/gpt-4.1-2025-04-14
        access_key: k
        routing_preferences:
          - name: code understanding
            description: understand and explain existing code snippets, functions, or libraries
          - name: code generation
            description: a different description that must lose
      - model: anthropic/claude-sonnet-4-6
        access_key: k
        default: true
    """
)


def test_v03_inline_preferences_merge_like_plano() -> None:
    cfg = parse_config(V03, "v03.yaml", {})
    prefs = {p.name: p for p in cfg.routing_preferences}
    assert list(prefs) == ["code generation", "code understanding"]
    assert prefs["code generation"].models == ("openai/gpt-5-2025-08-07", "openai/gpt-4.1-2025-04-14")
    assert prefs["code generation"].description == "generating new code snippets, functions, or boilerplate"
    assert prefs["code understanding"].models == ("openai/gpt-4.1-2025-04-14",)
    assert any("keeping the first description" in w for w in cfg.warnings)


def test_v04_top_level_preferences_with_selection_policy() -> None:
    cfg = make_config(
        "http://127.0.0.1:9",
        textwrap.dedent(
            """\
            routing_preferences:
              - name: quick
                description: small edits
                models: [llama3.1, openai/gpt-5.3-codex]
                selection_policy: {prefer: fastest}
            """
        ),
    )
    (p,) = cfg.routing_preferences
    assert p.models == ("llama3.1", "openai/gpt-5.3-codex") and p.selection_policy == "fastest"


def resolver_for(cfg) -> Resolver:
    return Resolver(cfg, AliasTable(cfg.aliases))


def test_parse_inline_v04_and_legacy_shapes() -> None:
    r = resolver_for(make_config("http://127.0.0.1:9"))
    prefs = parse_inline([{"name": "gen", "description": "write code", "models": ["arch.local", "gpt-5.3-codex"]}], r)
    assert prefs == (RoutingPreference("gen", "write code", ("arch.local", "gpt-5.3-codex")),)
    legacy = parse_inline(
        [
            {"model": "llama3.1", "routing_preferences": [{"name": "gen", "description": "write code"}]},
            {"model": "gpt-5.3-codex", "routing_preferences": [{"name": "gen", "description": "other"}]},
        ],
        r,
    )
    assert legacy == (RoutingPreference("gen", "write code", ("llama3.1", "gpt-5.3-codex")),)
    assert parse_inline([], r) == ()


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"name": "x"}, "must be a list"),
        (["x"], "must be an object"),
        ([{"description": "d", "models": ["llama3.1"]}], ".name is required"),
        ([{"name": "n", "models": ["llama3.1"]}], ".description is required"),
        ([{"name": "n", "description": "d", "models": []}], "at least one model"),
        ([{"name": "n", "description": "d", "models": ["nope/nothing"]}], "not a configured model"),
        ([{"name": "n", "description": "d", "models": ["llama3.1"], "selection_policy": {"prefer": "x"}}], "prefer"),
        ([{"name": "n", "description": "d", "models": ["llama3.1"]}] * 2, "duplicate"),
    ],
)
def test_parse_inline_rejects_bad_input(raw, fragment: str) -> None:
    r = resolver_for(make_config("http://127.0.0.1:9"))
    with pytest.raises(PreferenceError, match=fragment.replace(".", r"\.")):
        parse_inline(raw, r)


def test_fastest_policy_ranks_by_observed_latency() -> None:
    from proxy.events import RequestRecord

    cfg = make_config("http://127.0.0.1:9")
    stats = Stats()
    for provider, ms in (("openai/gpt-5.3-codex", 900.0), ("ollama/llama3.1", 100.0)):
        stats.add(RequestRecord("r", 0, "chat", "/", "m", False, 200, ms, provider=provider, usage=EMPTY))
    pref = RoutingPreference("q", "d", ("gpt-5.3-codex", "claude-sonnet-4-5", "llama3.1"), "fastest")
    assert ranked_models(pref, stats, resolver_for(cfg)) == ["llama3.1", "gpt-5.3-codex", "claude-sonnet-4-5"]
    assert ranked_models(RoutingPreference("q", "d", pref.models, "cheapest"), stats, resolver_for(cfg)) == list(
        pref.models
    )


# ------------------------------------------------------------------ settings and router target


def test_settings_defaults_and_warnings() -> None:
    s = load(make_config("http://127.0.0.1:9"))
    assert (s.backend, s.timeout_s, s.route_on_user_only, s.session_ttl_s, s.context_tokens) == (
        "local",
        3.0,
        None,
        600.0,
        8192,
    )
    s = load(
        make_config(
            "http://127.0.0.1:9",
            "routing: {backend: nonsense, router_timeout_ms: '250ms', route_on_user_only: maybe, "
            "session_ttl_seconds: -1}\noverrides: {llm_routing_model: ollama/llama3.1, "
            "orchestrator_model_context_length: 4096}\n",
        )
    )
    assert s.backend == "llm" and s.timeout_s == 0.25 and s.route_on_user_only is None
    assert s.session_ttl_s == 600.0 and s.context_tokens == 4096
    assert len(s.warnings) == 3


def test_router_target_strips_prefix_and_knows_the_hosted_endpoint() -> None:
    from proxy.upstream import upstream_url

    cfg = make_config("http://127.0.0.1:9", "overrides: {llm_routing_model: ollama/llama3.1}\n")
    p, model, err = resolve_target(load(cfg), cfg)
    assert (
        err is None
        and model == "llama3.1"
        and upstream_url(p, Api.CHAT, model) == "http://127.0.0.1:9/v1/chat/completions"
    )
    cfg = make_config("http://127.0.0.1:9", "overrides: {llm_routing_model: Plano-Orchestrator}\n")
    p, model, err = resolve_target(load(cfg), cfg)
    assert err is None and model == "Plano-Orchestrator"
    assert upstream_url(p, Api.CHAT, model) == "https://archfc.katanemo.dev/v1/chat/completions"
    cfg = make_config("http://127.0.0.1:9", "overrides: {llm_routing_model: ollama/not-configured}\n")
    assert "not served by any configured provider" in (resolve_target(load(cfg), cfg)[2] or "")
    cfg = make_config("http://127.0.0.1:9", "overrides: {llm_routing_model: claude-sonnet-4-5}\n")
    assert "no Chat Completions API" in (resolve_target(load(cfg), cfg)[2] or "")
    cfg = make_config("http://127.0.0.1:9", "overrides: {llm_routing_model: xai/grok-4-1-fast-non-reasoning}\n")
    assert "no API key" in (resolve_target(load(cfg), cfg)[2] or "")


def test_plano_local_router_demo_config_targets_ollama_with_the_prefix_stripped() -> None:
    from proxy.routing.router import TaskRouter
    from proxy.upstream import upstream_url

    text = textwrap.dedent(
        """\
        version: v0.3.0
        overrides:
          router_model: plano/hf.co/katanemo/Arch-Router-1.5B.gguf:Q4_K_M
        routing:
          session_ttl_seconds: 42
          session_max_entries: 7
        model_providers:
          - model: plano/hf.co/katanemo/Arch-Router-1.5B.gguf:Q4_K_M
            base_url: http://localhost:11434
          - model: openai/gpt-4o-mini
            access_key: k
            default: true
          - model: openai/gpt-4o
            access_key: k
            routing_preferences:
              - name: code understanding
                description: understand and explain existing code snippets, functions, or libraries
        """
    )
    cfg = parse_config(text, "plano_config_local.yaml", {})
    router = TaskRouter(cfg)
    backend = router.backend
    assert router.settings.backend == "llm" and backend is not None
    assert backend.model == "hf.co/katanemo/Arch-Router-1.5B.gguf:Q4_K_M"  # type: ignore[attr-defined]
    assert upstream_url(backend.provider, Api.CHAT, backend.model) == "http://localhost:11434/v1/chat/completions"  # type: ignore[attr-defined]
    assert (router.cache.ttl_s, router.cache.max_entries) == (42.0, 7)
    assert router.pins(Api.RESPONSES) and router.pins(Api.MESSAGES) and not router.pins(Api.CHAT)


def test_recent_user_message_follows_planos_rules_per_api() -> None:
    """What Plano previews on its LLM span: Responses and Messages, the newest user text (tool results
    and tool outputs skipped); Chat, the last message's string content whoever wrote it."""
    from proxy.routing.conversation import recent_user_message
    from proxy.tracing import request_facts

    resp = {"input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "first"}]},
                      {"type": "function_call_output", "call_id": "c", "output": "ok"},
                      {"role": "user", "content": "second"},
                      {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}
    assert recent_user_message(Api.RESPONSES, resp) == "second"
    assert recent_user_message(Api.RESPONSES, {"input": "bare"}) == "bare"
    msgs = {"messages": [{"role": "user", "content": [{"type": "text", "text": "fix it"}]},
                         {"role": "assistant", "content": "ok"},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}]}
    assert recent_user_message(Api.MESSAGES, msgs) == "fix it"
    chat = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    assert recent_user_message(Api.CHAT, chat) == "a"
    assert recent_user_message(Api.CHAT, {"messages": [{"role": "user", "content": [{"type": "text"}]}]}) is None
    facts = request_facts(Api.CHAT, {"temperature": 0.7, "messages": [{"role": "user", "content": "x" * 60}],
                                     "tools": [{"type": "function", "function": {"name": "shell"}}]})
    assert facts == {"llm.temperature": "0.7", "llm.tools": "shell(...)", "llm.user_message_preview": "x" * 50 + "..."}
    assert request_facts(Api.RESPONSES, {"input": []}) == {}


def test_a_remembered_head_answers_only_for_the_same_head() -> None:
    """Turns of one session re-send the same head: the remembered answer is reused while the items up to
    the first user text and `instructions` are equal, whatever follows; any change there reads afresh."""
    head = [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix the bug"}]}]
    turn1 = {"instructions": "be brief", "input": [*head]}
    turn2 = {"instructions": "be brief", "input": [*head, {"type": "function_call_output", "call_id": "c",
                                                            "output": "ok"}]}
    assert prefix_facts(Api.RESPONSES, turn1)[0::2] == ("be brief\nrules", "fix the bug")
    assert prefix_facts(Api.RESPONSES, turn2)[0::2] == ("be brief\nrules", "fix the bug")
    other = {"instructions": "be verbose", "input": [*head]}
    assert prefix_facts(Api.RESPONSES, other)[0] == "be verbose\nrules"
    edited = {"instructions": "be brief", "input": [head[0], {**head[1], "content": "new task"}]}
    assert prefix_facts(Api.RESPONSES, edited)[2] == "new task"
    for body in (turn1, turn2, other, edited):
        assert prefix_facts(Api.RESPONSES, body) == _walked_prefix_facts(Api.RESPONSES, body)
