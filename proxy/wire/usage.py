"""Token usage in one shape, extracted from any of the three APIs' bodies and stream events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(unsafe_hash=True)
class Usage:
    """Immutable by convention (one is built per answer; `frozen=True` costs 3× to build, and slots make
    orjson 4× slower to write it: proxy.cost.Cost, proxy.events.Timing)."""

    input_tokens: int = 0  # all prompt tokens, cached included
    cached_tokens: int = 0
    output_tokens: int = 0  # reasoning included
    reasoning_tokens: int = 0
    # Prompt-cache writes (Anthropic's cache_creation_input_tokens), part of input_tokens like reads:
    # priced at the input rate as Plano prices them, counted as brightstaff_llm_tokens{kind="cache_write"}.
    cache_write_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def __bool__(self) -> bool:
        return bool(self.input_tokens or self.output_tokens)


EMPTY = Usage()


def _i(v: Any) -> int:
    return v if isinstance(v, int) else 0


def from_openai(u: Any) -> Usage:
    """Responses (`input_tokens`…) or Chat (`prompt_tokens`…) usage objects."""
    if not isinstance(u, dict):
        return EMPTY
    if "input_tokens" in u or "output_tokens" in u:
        itd = u.get("input_tokens_details") or {}
        otd = u.get("output_tokens_details") or {}
        return Usage(
            _i(u.get("input_tokens")),
            _i(itd.get("cached_tokens")),
            _i(u.get("output_tokens")),
            _i(otd.get("reasoning_tokens")),
            _i(itd.get("cache_write_tokens")),
        )
    ptd = u.get("prompt_tokens_details") or {}
    ctd = u.get("completion_tokens_details") or {}
    # DeepSeek reports cache reads as prompt_cache_hit_tokens; gateways fronting Anthropic (DigitalOcean)
    # as Anthropic's own cache_read_input_tokens / cache_creation_input_tokens, as Plano reads them.
    cached = (_i(ptd.get("cached_tokens")) or _i(u.get("prompt_cache_hit_tokens"))
              or _i(u.get("cache_read_input_tokens")))
    return Usage(_i(u.get("prompt_tokens")), cached, _i(u.get("completion_tokens")), _i(ctd.get("reasoning_tokens")),
                 _i(ptd.get("cache_write_tokens")) or _i(u.get("cache_creation_input_tokens")))


def from_anthropic(u: Any, previous: Usage = EMPTY) -> Usage:
    """Anthropic usage: input excludes cache reads/writes, so add them back to get the prompt size.

    In a stream `message_delta.usage` is cumulative and may omit input fields: keep the earlier ones.
    """
    if not isinstance(u, dict):
        return previous
    if "input_tokens" in u or "cache_read_input_tokens" in u:
        cached = _i(u.get("cache_read_input_tokens"))
        written = _i(u.get("cache_creation_input_tokens"))
        inp = _i(u.get("input_tokens")) + cached + written
    else:
        cached, inp, written = previous.cached_tokens, previous.input_tokens, previous.cache_write_tokens
    out = _i(u.get("output_tokens")) if "output_tokens" in u else previous.output_tokens
    return Usage(inp, cached, out, previous.reasoning_tokens, written)


def from_body(body: Any) -> Usage:
    """Usage of a complete (non-streamed) response body of any API."""
    if not isinstance(body, dict):
        return EMPTY
    u = body.get("usage")
    if body.get("type") == "message":
        return from_anthropic(u)
    if isinstance(body.get("response"), dict):  # a Responses stream's terminal event
        u = body["response"].get("usage")
    return from_openai(u)
