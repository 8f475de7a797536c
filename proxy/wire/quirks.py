"""Provider quirks: where a server refuses what the API it speaks allows, and what the proxy sends instead.

`QUIRKS` is the one table: each quirk has a name (its config switch), the provider kinds it applies to
(canonical config prefixes; None: every provider reached through that API), the upstream API whose
requests it adapts, what it changes and why. Every quirk is on by default; the sidecar turns one off
for one provider, under the same key path as the provider in config.yaml (proxy.config_ext):

    # config.tui.yaml
    model_providers:
      - name: local               # ollama/my-finetune: it thinks, though OLLAMA_THINKERS cannot tell
        quirks: {ollama_reasoning_dropped: false}

proxy.config checks each switch (an unknown name, or a quirk that cannot apply to that provider, is a
ConfigError at the sidecar's line) and keeps the names turned off in `Provider.quirks_off`;
`models.caps_of` puts the provider's quirks in force on the `ModelCaps` that the translators and
`fit_request` already receive (`ModelCaps.quirks`), so each adaptation happens where its field is written.

Not quirks, and so not here:
- What a model refuses wherever it is served (OpenAI's reasoning models and `temperature`, the codex
  family and the `none` effort, a non-reasoning model and encrypted reasoning): the capability table,
  proxy.wire.models.
- The rules of an API's own owner (Anthropic: `max_tokens` required, no thinking with a forced tool
  choice; OpenAI: `max_output_tokens` of at least 16): the writers obey them for every provider.
- Stream deviations (tool calls without `index`, `finish_reason: "stop"` after tool calls, usage under
  `x_groq`, reasoning under `reasoning`; docs/codex-wire.md §9): `ChatDecoder` accepts each variant from
  any server, and accepting one never changes a conforming stream, so there is nothing to turn off.
- What a server needs back (DeepSeek's `reasoning_content` within a tool loop, Gemini's thought
  signatures): echoed only when an upstream's answer carried it (proxy.translate.conversation).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .providers import Api


@dataclass(frozen=True, slots=True)
class Quirk:
    name: str
    kinds: frozenset[str] | None  # canonical provider prefixes; None: every provider reached through `api`
    api: Api  # the upstream API whose requests it adapts
    does: str
    why: str


OLLAMA_REASONING_DROPPED = "ollama_reasoning_dropped"
THINKING_NOT_FORWARDED = "thinking_not_forwarded"
LARGE_MAX_TOKENS_DROPPED = "large_max_tokens_dropped"
DEFAULT_TOOL_FIELDS_OMITTED = "default_tool_fields_omitted"

QUIRKS: tuple[Quirk, ...] = (
    Quirk(
        OLLAMA_REASONING_DROPPED, frozenset({"ollama"}), Api.CHAT,
        "an Ollama model that cannot think is treated as taking no reasoning effort: `reasoning_effort` is "
        "dropped (with a note) and Codex is offered no reasoning levels for it",
        "Ollama answers 400 '\"<model>\" does not support thinking' to reasoning options on such a model "
        "(e.g. llama3.1); which models think is `OLLAMA_THINKERS`",
    ),
    Quirk(
        THINKING_NOT_FORWARDED, None, Api.CHAT,
        "a Messages client's thinking request (`thinking`, `output_config.effort`) is not sent as "
        "`reasoning_effort`",
        "Claude Code asks for thinking on every request, and a `reasoning_effort` makes Ollama refuse "
        "models that cannot think and Mistral refuse the request",
    ),
    Quirk(
        LARGE_MAX_TOKENS_DROPPED, None, Api.CHAT,
        "a Messages client's `max_tokens` above 8192 is left out (a smaller, deliberate value, e.g. for "
        "title generation, is forwarded)",
        "Claude Code's 32000/64000 is a client default, not a user limit, and DeepSeek and Groq refuse "
        "values that large",
    ),
    Quirk(
        DEFAULT_TOOL_FIELDS_OMITTED, None, Api.CHAT,
        "`tool_choice: \"auto\"` and `parallel_tool_calls: true` are left out of translated requests (they "
        "are the defaults)",
        "servers that do not implement a field refuse it (Mistral rejects fields it does not know)",
    ),
)
BY_NAME = {q.name: q for q in QUIRKS}

# The Ollama models that think (and so take reasoning options); the rest refuse them.
OLLAMA_THINKERS = re.compile(r"qwen3|deepseek-r1|gpt-oss|magistral|think|reason|deepseek-v3\.1|qwq", re.I)


@functools.cache
def active_quirks(prefix: str | None, off: frozenset[str] = frozenset()) -> frozenset[str]:
    """The quirks in force for a provider of kind `prefix` (None: not known) with the switches in `off`."""
    return frozenset(q.name for q in QUIRKS if (q.kinds is None or prefix in q.kinds) and q.name not in off)


# What a model looked up without its provider gets: the quirks of every provider.
EVERY_PROVIDER = active_quirks(None)


def switch_problem(name: str, prefix: str, apis: frozenset[Api]) -> tuple[str, str] | None:
    """(message, hint) when `name` is not a quirk that a provider of kind `prefix` speaking `apis` has,
    else None."""
    quirk = BY_NAME.get(name)
    if quirk is None:
        return f"unknown quirk '{name}'", f"known quirks: {', '.join(BY_NAME)}"
    if quirk.kinds is not None and prefix not in quirk.kinds:
        return (f"quirk '{name}' applies only to {', '.join(sorted(quirk.kinds))} providers, not '{prefix}'",
                "remove it")
    if quirk.api not in apis:
        return (f"quirk '{name}' adapts requests to the {quirk.api.value} API, which this provider does not "
                "speak", "remove it")
    return None
