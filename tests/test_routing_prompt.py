"""Plano router prompt format: golden bytes, the token budget and trimming, and answer parsing."""

# ruff: noqa: E501  (golden prompts hold Plano's long route lines verbatim)

from __future__ import annotations

import json

import pytest

from proxy.config import RoutingPreference
from proxy.routing.conversation import Turn, parse
from proxy.routing.prompt import (
    MAX_ROUTING_TURNS,
    TRIM_MARKER,
    build_prompt,
    parse_answer,
    request_body,
    routes_block,
    select_messages,
    trim_middle,
)
from proxy.wire.providers import Api

from .conftest import FIXTURES

IMAGE = (RoutingPreference("Image generation", "generating image", ("openai/gpt-4o",)),)
HI = [
    Turn("user", "hi"),
    Turn("assistant", "Hello! How can I assist you today?"),
    Turn("user", "given the image In style of Andy Warhol, portrait of Bart and Lisa Simpson"),
]

INSTRUCTIONS = """
## Instructions
1. Analyze the latest user intent from the conversation.
2. Compare it against the available routes to find which routes can help fulfill the request.
3. Respond only with the exact route names from <routes>.
4. If no routes can help or the intent is already fulfilled, return an empty list.

## Response Format
Return your answer strictly in JSON as follows:
{{"route": ["route_name_1", "route_name_2", "..."]}}
If no routes are needed, return an empty list for `route`.
"""

# Plano's own golden prompt for this input (orchestrator_model_v1 test_system_prompt_format).
GOLDEN_IMAGE = (
    """
You are a helpful assistant that selects the most suitable routes based on user intent.
You are provided with a list of available routes enclosed within <routes></routes> XML tags:
<routes>
{"name": "Image generation", "description": "generating image", "parameters": {"type": "object", "properties": {}, "required": []}}
</routes>

You are also given the conversation context enclosed within <conversation></conversation> XML tags:
<conversation>
[
    {
        "role": "user",
        "content": "hi"
    },
    {
        "role": "assistant",
        "content": "Hello! How can I assist you today?"
    },
    {
        "role": "user",
        "content": "given the image In style of Andy Warhol, portrait of Bart and Lisa Simpson"
    }
]
</conversation>
"""
    + INSTRUCTIONS
)

CODEX_PREFS = (
    RoutingPreference(
        "code generation",
        "generating new code snippets, functions, or boilerplate based on user prompts or requirements",
        ("openai/gpt-5.3-codex",),
    ),
    RoutingPreference(
        "project understanding",
        "understand repository structure, codebase, and code files, readmes, and other documentation",
        ("xai/grok-4-1-fast-non-reasoning",),
    ),
)
# The real Codex 0.169.0 first request: developer messages and the <environment_context> user
# message carry no intent, so only "run echo hi" reaches the router.
GOLDEN_CODEX = (
    """
You are a helpful assistant that selects the most suitable routes based on user intent.
You are provided with a list of available routes enclosed within <routes></routes> XML tags:
<routes>
{"name": "code generation", "description": "generating new code snippets, functions, or boilerplate based on user prompts or requirements", "parameters": {"type": "object", "properties": {}, "required": []}}
{"name": "project understanding", "description": "understand repository structure, codebase, and code files, readmes, and other documentation", "parameters": {"type": "object", "properties": {}, "required": []}}
</routes>

You are also given the conversation context enclosed within <conversation></conversation> XML tags:
<conversation>
[
    {
        "role": "user",
        "content": "run echo hi"
    }
]
</conversation>
"""
    + INSTRUCTIONS
)


def test_golden_prompt_matches_plano_bytes() -> None:
    assert build_prompt(IMAGE, HI) == GOLDEN_IMAGE


def test_golden_prompt_for_a_real_codex_request() -> None:
    runs = json.loads((FIXTURES / "codex-0.169.0-tool-loops.json").read_text())["runs"]
    first = next(r for r in runs["exec_ww"]["requests"] if r["method"] == "POST")
    assert build_prompt(CODEX_PREFS, parse(Api.RESPONSES, first["body"]).messages) == GOLDEN_CODEX


def test_routes_block_is_python_spaced_json_and_keeps_unicode() -> None:
    prefs = (RoutingPreference("résumé", 'says "hi"\nthen → bye', ("m",)),)
    assert routes_block(prefs) == (
        '{"name": "résumé", "description": "says \\"hi\\"\\nthen → bye", '
        '"parameters": {"type": "object", "properties": {}, "required": []}}'
    )


def test_placeholders_inside_descriptions_stay_literal() -> None:
    prefs = (RoutingPreference("x", "mentions {conversation} and {routes}", ("m",)),)
    prompt = build_prompt(prefs, [Turn("user", "hello")])
    assert '"description": "mentions {conversation} and {routes}"' in prompt
    assert prompt.count("<conversation>\n[") == 1


def test_budget_trims_older_user_message_in_the_middle() -> None:
    # Plano's test_conversation_trim_upto_user_message (max 230 tokens).
    conv = [
        Turn("user", "hi"),
        Turn("assistant", "Hello! How can I assist you today?"),
        Turn("user", "given the image In style of Andy Warhol"),
        Turn("assistant", "ok here is the image"),
        Turn("user", "pls give me another image about Bart and Lisa"),
    ]
    assert select_messages(conv, 230) == [
        {"role": "user", "content": "given…rhol"},
        {"role": "assistant", "content": "ok here is the image"},
        {"role": "user", "content": "pls give me another image about Bart and Lisa"},
    ]


def test_budget_drops_older_turns_and_falls_back_to_the_last_message() -> None:
    assert select_messages(HI, 235) == [{"role": "user", "content": HI[2].text}]
    # Template alone exceeds 200 tokens: nothing fits, so the last message is kept whole (Plano).
    long = Turn("user", "x" * 400)
    assert select_messages([Turn("user", "hi"), long], 200) == [{"role": "user", "content": long.text}]


def test_huge_user_message_is_bounded_and_keeps_head_and_tail() -> None:
    text = "HEAD_MARKER_START " + "A" * 500_000 + " TAIL_MARKER_END"
    prompt = build_prompt(IMAGE, [Turn("user", text)], 2048)
    assert len(prompt.encode()) < 2048 * 4 + 1500
    assert "HEAD_MARKER_START" in prompt and "TAIL_MARKER_END" in prompt and TRIM_MARKER in prompt


def test_only_the_last_16_messages_are_considered() -> None:
    conv = [Turn("user" if i % 2 == 0 else "assistant", f"turn-{i:03}") for i in range(40)]
    prompt = build_prompt(IMAGE, conv, 10**9)
    assert all(f"turn-{i:03}" in prompt for i in range(40 - MAX_ROUTING_TURNS, 40))
    assert not any(f"turn-{i:03}" in prompt for i in range(40 - MAX_ROUTING_TURNS))


def test_trim_middle_respects_utf8_and_small_limits() -> None:
    assert trim_middle("hello", 5) == "hello"
    out = trim_middle("a" * 20, 10)
    assert out == "aaaa…aaa" and len(out.encode()) <= 10
    assert trim_middle("abcdefgh", 2) == "ab"
    out = trim_middle("é" * 50, 25)
    assert len(out.encode()) <= 25 and set(out) <= {"é", "…"}


def test_request_body_is_plano_shaped() -> None:
    body = request_body("Arch-Router", "PROMPT")
    assert body == {
        "model": "Arch-Router",
        "messages": [{"role": "user", "content": "PROMPT"}],
        "temperature": 0.01,
        "stream": False,
    }


@pytest.mark.parametrize(
    ("answer", "routes"),
    [
        ('{"route": ["code generation"]}', ["code generation"]),
        ("{'route': ['code generation', 'project understanding']}", ["code generation", "project understanding"]),
        ('{"route": ["a"]}\\n', ["a"]),
        ('```json\n{"route": ["a"]}\n```', ["a"]),
        ('Sure! {"route": ["a"]} is my pick.', ["a"]),
        ('{"route": "code_generation"}', ["code_generation"]),  # Arch-Router-1.5B's own format
        ('{"route": []}', []),
        ('{"route": ["", "b"]}', ["b"]),
        ('{"route": null}', []),
        ("", []),
        ('{"route": ["it\'s"]}', ["it's"]),  # strict JSON first, so an apostrophe survives
    ],
)
def test_parse_answer_is_lenient(answer: str, routes: list[str]) -> None:
    assert parse_answer(answer) == routes


@pytest.mark.parametrize("answer", ["no idea", "[1, 2]", '{"route": 5}', "{route: [a]"])
def test_parse_answer_rejects_garbage(answer: str) -> None:
    with pytest.raises(ValueError):
        parse_answer(answer)
