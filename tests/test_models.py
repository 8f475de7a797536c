"""proxy.wire.models: the per-model capability table and the fitting of a request to its target."""

from __future__ import annotations

import pytest

from proxy.wire.models import caps_for, clamp_effort, fit_request
from proxy.wire.providers import Api


@pytest.mark.parametrize(("model", "efforts", "reasoning"), [
    ("gpt-5.3-codex", ("low", "medium", "high", "xhigh"), True),
    ("gpt-5.2-codex", ("low", "medium", "high", "xhigh"), True),
    ("gpt-5.1-codex-max", ("low", "medium", "high", "xhigh"), True),
    ("gpt-5.1-codex", ("low", "medium", "high"), True),
    ("gpt-5-codex", ("low", "medium", "high"), True),
    ("gpt-5.1", ("none", "low", "medium", "high"), True),
    ("gpt-5", ("minimal", "low", "medium", "high"), True),
    ("o3", ("low", "medium", "high"), True),
    ("gpt-4.1-2025-04-14", (), False),
    ("gpt-4o-mini", (), False),
    ("grok-4-1-fast-non-reasoning", (), False),
    ("grok-4-1-fast-reasoning", (), True),  # reasons, refuses an effort
    ("claude-3-5-haiku-latest", (), False),
    ("something-new", None, None),  # unknown: nothing is adjusted
])
def test_table(model: str, efforts: tuple[str, ...] | None, reasoning: bool | None) -> None:
    caps = caps_for(model)
    assert (caps.efforts, caps.reasoning) == (efforts, reasoning)


def test_bundled_entries_come_from_codex() -> None:
    caps = caps_for("gpt-5.5", "openai", True)
    assert caps.source == "bundled" and caps.efforts == ("low", "medium", "high", "xhigh") and caps.reasoning


def test_ollama_quirk_is_in_the_table() -> None:
    assert caps_for("llama3.1", "ollama").efforts == ()
    assert caps_for("llama3.1").efforts is None  # the same model elsewhere: not known
    assert caps_for("qwen3:8b", "ollama").efforts is None


@pytest.mark.parametrize(("effort", "efforts", "want"), [
    ("none", ("low", "medium", "high", "xhigh"), "low"),
    ("minimal", ("low", "medium", "high"), "low"),
    ("xhigh", ("low", "medium", "high"), "high"),
    ("max", ("low", "medium", "high", "xhigh"), "xhigh"),
    ("minimal", ("none", "low", "medium"), "low"),  # a tie goes to the higher level
    ("medium", ("low", "medium"), "medium"),
    ("medium", (), None),
    ("turbo", ("low",), None),
])
def test_clamp_effort(effort: str, efforts: tuple[str, ...], want: str | None) -> None:
    assert clamp_effort(effort, efforts) == want


CODEX_BODY = {"model": "arch.codex.default", "input": [
    {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
    "reasoning": {"effort": "medium", "summary": "auto"}, "include": ["reasoning.encrypted_content"],
    "text": {"verbosity": "low"}, "store": False}


def test_a_request_that_fits_is_untouched() -> None:
    assert fit_request(Api.RESPONSES, CODEX_BODY, caps_for("gpt-5.3-codex"), "gpt-5.3-codex", True) == (None, [])


def test_retarget_to_a_non_reasoning_model() -> None:
    body = dict(CODEX_BODY)
    fitted, notes = fit_request(Api.RESPONSES, body, caps_for("gpt-4.1"), "gpt-4.1", True)
    assert fitted is not None and body == CODEX_BODY  # a copy: the next candidate gets the original
    assert "include" not in fitted and "reasoning" not in fitted and fitted["text"] == {}
    assert [i["type"] for i in fitted["input"]] == ["message"]
    assert len(notes) == 4 and all("gpt-4.1" in n for n in notes)


def test_codex_own_request_for_a_non_reasoning_model_named_directly() -> None:
    """Codex 0.169 asks for encrypted reasoning whatever its catalog says: dropped even unretargeted,
    while a setting the client chose for this very model is left for the upstream to judge."""
    body = {"model": "gpt-4.1", "input": "hi", "reasoning": {}, "include": ["reasoning.encrypted_content"],
            "text": {"verbosity": "low"}}
    fitted, notes = fit_request(Api.RESPONSES, body, caps_for("gpt-4.1"), "gpt-4.1", False)
    assert fitted == {"model": "gpt-4.1", "input": "hi", "text": {"verbosity": "low"}}
    assert notes == ["include reasoning.encrypted_content dropped: gpt-4.1 does not reason"]
    chosen = {"model": "gpt-4.1", "input": "hi", "reasoning": {"effort": "high"}}
    assert fit_request(Api.RESPONSES, chosen, caps_for("gpt-4.1"), "gpt-4.1", False) == (None, [])


def test_retarget_clamps_effort_and_sampling() -> None:
    body = {"input": "hi", "reasoning": {"effort": "none"}, "temperature": 0.2, "max_output_tokens": 500_000}
    fitted, notes = fit_request(Api.RESPONSES, body, caps_for("gpt-5.3-codex"), "gpt-5.3-codex", True)
    assert fitted == {"input": "hi", "reasoning": {"effort": "low"}, "max_output_tokens": 128_000}
    assert len(notes) == 3
    chat = {"messages": [], "reasoning_effort": "high", "top_p": 0.5}
    fitted, notes = fit_request(Api.CHAT, chat, caps_for("llama3.1", "ollama"), "llama3.1", True)
    assert fitted == {"messages": [], "top_p": 0.5}  # sampling is not known to be refused: kept
    assert notes == ["reasoning effort dropped: llama3.1 takes none (asked 'high')"]
    assert fit_request(Api.CHAT, chat, caps_for("llama3.1", "ollama"), "llama3.1", False) == (None, [])


def test_retarget_to_a_claude_that_cannot_think() -> None:
    body = {"messages": [], "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}
    fitted, notes = fit_request(Api.MESSAGES, body, caps_for("claude-3-5-haiku-latest"), "claude-3-5-haiku", True)
    assert fitted == {"messages": []} and len(notes) == 2
