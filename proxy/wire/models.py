"""What each model accepts: one capability table for the Codex catalog, the translators and the handler.

Three readers:
- proxy.catalog describes each slug to Codex (context window, reasoning levels, summaries, images), so
  Codex asks for what the model supports;
- the translators write only the reasoning, sampling and output-length fields the target accepts;
- proxy.handler calls `fit_request` on a passthrough body whose resolved model is not the one the
  client prepared it for (alias, route, fallback, default), and drops or clamps what the target would
  refuse, with a note on the request.

Facts come from Codex's bundled catalog for its own slugs (proxy/data/codex_models.json), else from the
family rules below (first match wins), then from the provider's quirks in force (proxy.wire.quirks:
Ollama refuses reasoning options for models that cannot think), which `ModelCaps.quirks` also carries
to the translators. `None` means "not known": an unknown model gets what the client asked for,
unchanged — only a known refusal is ever adjusted.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypedDict

from .providers import Api
from .quirks import EVERY_PROVIDER, OLLAMA_REASONING_DROPPED, OLLAMA_THINKERS, active_quirks

DATA_PATH = Path(__file__).parents[1] / "data" / "codex_models.json"  # proxy/data

# Reasoning efforts from least to most; clamping picks the nearest one a model accepts.
EFFORT_ORDER = ("none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra")
_RANK = {e: i for i, e in enumerate(EFFORT_ORDER)}
_LMH = ("low", "medium", "high")
_LMHX = (*_LMH, "xhigh")
ENCRYPTED_REASONING = "reasoning.encrypted_content"


@dataclass(frozen=True, slots=True)
class ModelCaps:
    """What a model accepts and what Codex should believe about it."""

    context_window: int
    efforts: tuple[str, ...] | None = None  # accepted reasoning efforts; () = the parameter is refused
    default_effort: str | None = None
    reasoning: bool | None = None  # reasons: accepts `include: reasoning.encrypted_content`, reasoning items
    summaries: bool = False  # returns reasoning summaries (Codex: default_reasoning_summary "auto")
    sampling: bool | None = None  # accepts temperature / top_p (OpenAI reasoning models refuse them)
    max_output: int | None = None  # largest max_output_tokens / max_tokens accepted
    images: bool = False
    verbosity: bool = False  # OpenAI `text.verbosity` (GPT-5 family only)
    search_tool: bool = False  # Codex's `tool_search` tool (bundled OpenAI models on a Responses upstream)
    display_name: str | None = None
    visibility: str = "list"
    source: str = "family"  # "bundled" | "family" | "default"
    quirks: frozenset[str] = EVERY_PROVIDER  # the provider's quirks in force (proxy.wire.quirks)

    @property
    def levels(self) -> tuple[str, ...]:
        """Reasoning levels to offer a client (none when unknown)."""
        return self.efforts or ()


def _openai(efforts: tuple[str, ...], ctx: int = 272_000, out: int = 128_000, default: str = "medium",
            verbosity: bool = True) -> ModelCaps:
    return ModelCaps(ctx, efforts, default, reasoning=True, summaries=True, sampling=False, max_output=out,
                     images=True, verbosity=verbosity)


class _Reasoning(TypedDict):
    efforts: tuple[str, ...]
    reasoning: bool


_NO_REASONING: _Reasoning = {"efforts": (), "reasoning": False}

# First match wins; patterns are searched in the lower-cased upstream model id.
FAMILIES: tuple[tuple[str, ModelCaps], ...] = (
    (r"claude-3-5|claude-3-haiku|claude-3-opus|claude-3-sonnet", ModelCaps(200_000, images=True, **_NO_REASONING)),
    (r"claude", ModelCaps(200_000, _LMH, "medium", reasoning=True, summaries=True, images=True)),  # thinking
    # OpenAI's codex family: Responses only, no `none`/`minimal` effort (400 unsupported_value).
    (r"gpt-5(\.\d+)?-codex-max", _openai(_LMHX)),
    (r"gpt-5(\.1)?-codex", _openai(_LMH)),  # gpt-5-codex, gpt-5.1-codex(-mini)
    (r"gpt-5\.\d+-codex", _openai(_LMHX)),  # gpt-5.2-codex, gpt-5.3-codex, …
    (r"gpt-5-chat", ModelCaps(128_000, sampling=True, max_output=16_384, images=True, **_NO_REASONING)),
    (r"gpt-5-pro", _openai(("high",), default="high")),
    (r"gpt-5\.1", _openai(("none", *_LMH))),
    (r"gpt-5\.\d+", _openai(("none", *_LMHX))),
    (r"gpt-5", _openai(("minimal", *_LMH))),
    (r"(^|/)o1-(mini|preview)", ModelCaps(128_000, (), reasoning=True, sampling=False)),
    (r"(^|/)o[134](-|$)", _openai(_LMH, ctx=200_000, out=100_000, verbosity=False)),
    (r"gpt-4\.1", ModelCaps(1_047_576, sampling=True, max_output=32_768, images=True, **_NO_REASONING)),
    (r"gpt-4o|chatgpt-4o", ModelCaps(128_000, sampling=True, max_output=16_384, images=True, **_NO_REASONING)),
    (r"gpt-4|gpt-3\.5", ModelCaps(128_000, sampling=True, **_NO_REASONING)),
    (r"gpt-oss", ModelCaps(131_072, _LMH, "medium", reasoning=True, summaries=True)),
    (r"grok-3-mini", ModelCaps(131_072, ("low", "high"), "low", reasoning=True)),
    # Grok 4 reasons but refuses a reasoning effort.
    (r"grok-4-1-fast|grok-4-fast", ModelCaps(2_000_000, (), reasoning=True, images=True)),
    (r"grok-code", ModelCaps(256_000, (), reasoning=True)),
    (r"grok-4", ModelCaps(256_000, (), reasoning=True, images=True)),
    (r"grok", ModelCaps(256_000, images=True)),
    (r"gemini-(1\.|2\.0)", ModelCaps(1_048_576, images=True, **_NO_REASONING)),
    (r"gemini", ModelCaps(1_048_576, _LMH, "medium", reasoning=True, summaries=True, images=True)),
    (r"kimi|moonshot", ModelCaps(262_144)),
    (r"deepseek-reasoner|deepseek-r1", ModelCaps(128_000, (), reasoning=True)),
    (r"deepseek", ModelCaps(128_000)),
    (r"qwen", ModelCaps(131_072)),
    (r"glm", ModelCaps(131_072)),
    (r"devstral|codestral|mistral|magistral", ModelCaps(128_000)),
    (r"llama", ModelCaps(128_000)),
)
_FAMILY_RES = tuple((re.compile(p), caps) for p, caps in FAMILIES)
DEFAULT = ModelCaps(128_000, source="default")


@functools.cache
def load_data(path: Path = DATA_PATH) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@functools.lru_cache(maxsize=512)
def caps_for(model_id: str, prefix: str | None = None, native_responses: bool = False,
             quirks_off: frozenset[str] = frozenset()) -> ModelCaps:
    """The capabilities of `model_id` served by a provider of kind `prefix` (None: unknown provider);
    `native_responses`: the provider speaks the Responses API (OpenAI-only Codex features need it);
    `quirks_off`: the provider's quirks its config turned off."""
    bare = model_id.rsplit("/", 1)[-1]
    b = load_data()["bundled"].get(bare)
    if b is not None:
        levels = tuple(b.get("reasoning_levels") or ())
        caps = ModelCaps(
            context_window=int(b.get("context_window") or DEFAULT.context_window),
            efforts=levels,
            default_effort=b.get("default_reasoning_level") if levels else None,
            reasoning=True,
            summaries=True,
            sampling=False,
            images="image" in (b.get("input_modalities") or ()),
            verbosity=bool(b.get("support_verbosity")) and native_responses,
            search_tool=bool(b.get("supports_search_tool")) and native_responses,
            display_name=b.get("display_name"),
            visibility=b.get("visibility") or "list",
            source="bundled",
        )
    else:
        caps = _family(model_id.lower())
    quirks = active_quirks(prefix, quirks_off)
    if OLLAMA_REASONING_DROPPED in quirks and not OLLAMA_THINKERS.search(model_id):
        caps = replace(caps, efforts=(), default_effort=None, reasoning=False, summaries=False)
    if quirks != caps.quirks:
        caps = replace(caps, quirks=quirks)
    return caps


def _family(low: str) -> ModelCaps:
    if "non-reasoning" in low:  # xAI's explicit non-reasoning variants: the family's size, no reasoning
        base = next((c for rx, c in _FAMILY_RES if rx.search(low)), DEFAULT)
        return ModelCaps(base.context_window, images=base.images, source=base.source, **_NO_REASONING)
    return next((c for rx, c in _FAMILY_RES if rx.search(low)), DEFAULT)


def caps_of(model_id: str, provider: Any) -> ModelCaps:
    """`caps_for` with a configured `Provider` (or None)."""
    if provider is None:
        return caps_for(model_id)
    return caps_for(model_id, provider.prefix, Api.RESPONSES in provider.apis, provider.quirks_off)


# ----------------------------------------------------------------------------- fitting a request


def clamp_effort(effort: str, efforts: tuple[str, ...]) -> str | None:
    """`effort` if accepted, else the nearest accepted level (the higher one on a tie); None if the
    model takes no effort at all or `effort` is not a level we know."""
    if effort in efforts:
        return effort
    rank = _RANK.get(effort)
    known = [e for e in efforts if e in _RANK]
    if rank is None or not known:
        return None
    return min(known, key=lambda e: (abs(_RANK[e] - rank), -_RANK[e]))


def fit_effort(effort: str, caps: ModelCaps, model: str, notes: list[str]) -> str | None:
    """The effort to send `model` for a requested `effort` (None: send none), with a note when changed."""
    if caps.efforts is None:
        return effort
    got = clamp_effort(effort, caps.efforts)
    if got is None:
        notes.append(f"reasoning effort dropped: {model} takes none (asked '{effort}')")
    elif got != effort:
        notes.append(f"reasoning effort '{effort}' → '{got}': {model} accepts {'/'.join(caps.efforts)}")
    return got


def fit_request(api: Api, body: dict[str, Any], caps: ModelCaps, model: str,
                retargeted: bool) -> tuple[dict[str, Any] | None, list[str]]:
    """(a fitted copy of `body`, notes), or (None, []) when `model` accepts the body as it is.

    `retargeted`: the resolved model is not the one the client named (alias, route, fallback, default),
    so settings the client chose for another model are fitted too. Whatever the resolution, Codex's
    request for encrypted reasoning (and the empty `reasoning` object that comes with it) is dropped for
    a model that does not reason: Codex 0.169 sends both for every model whatever its catalog entry says
    (measured), and OpenAI refuses them with a 400.
    """
    notes: list[str] = []
    out = dict(body)
    if api is Api.RESPONSES:
        _fit_responses(out, caps, model, retargeted, notes)
    elif api is Api.CHAT:
        if retargeted:
            _fit_chat(out, caps, model, notes)
    elif retargeted and caps.efforts == ():
        _fit_messages(out, model, notes)
    return (out, notes) if notes else (None, [])


def _fit_responses(out: dict[str, Any], caps: ModelCaps, model: str, retargeted: bool, notes: list[str]) -> None:
    if caps.reasoning is False:
        inc = out.get("include")
        if isinstance(inc, list) and ENCRYPTED_REASONING in inc:
            rest = [x for x in inc if x != ENCRYPTED_REASONING]
            if rest:
                out["include"] = rest
            else:
                del out["include"]
            notes.append(f"include {ENCRYPTED_REASONING} dropped: {model} does not reason")
        r = out.get("reasoning")
        if isinstance(r, dict) and (retargeted or not r.get("effort")):
            del out["reasoning"]
            if r:
                notes.append(f"reasoning {json.dumps(r, separators=(',', ':'))} dropped: {model} does not reason")
        items = out.get("input")
        if isinstance(items, list):
            kept = [i for i in items if not (isinstance(i, dict) and i.get("type") == "reasoning")]
            if len(kept) != len(items):
                out["input"] = kept
                notes.append(f"{len(items) - len(kept)} reasoning item(s) of another model dropped: "
                             f"{model} does not reason")
    if not retargeted:
        return
    r = out.get("reasoning")
    if isinstance(r, dict):
        effort = r.get("effort")
        if isinstance(effort, str):
            got = fit_effort(effort, caps, model, notes)
            if got != effort:
                r = {k: v for k, v in r.items() if k != "effort"}
                if got is not None:
                    r["effort"] = got
                out["reasoning"] = r
    text = out.get("text")
    if isinstance(text, dict) and "verbosity" in text and not caps.verbosity and caps.source != "default":
        out["text"] = {k: v for k, v in text.items() if k != "verbosity"}
        notes.append(f"text.verbosity dropped: {model} does not take it")
    fit_sampling(out, caps, model, notes)
    mot = out.get("max_output_tokens")
    if isinstance(mot, int) and caps.max_output and mot > caps.max_output:
        out["max_output_tokens"] = caps.max_output
        notes.append(f"max_output_tokens {mot} → {caps.max_output}: the most {model} accepts")


def _fit_messages(out: dict[str, Any], model: str, notes: list[str]) -> None:
    th = out.get("thinking")
    if isinstance(th, dict) and th.get("type") != "disabled":
        del out["thinking"]
        notes.append(f"thinking dropped: {model} does not think")
    oc = out.get("output_config")
    if isinstance(oc, dict) and "effort" in oc:
        rest = {k: v for k, v in oc.items() if k != "effort"}
        if rest:
            out["output_config"] = rest
        else:
            del out["output_config"]
        notes.append(f"output_config.effort dropped: {model} does not think")


def _fit_chat(out: dict[str, Any], caps: ModelCaps, model: str, notes: list[str]) -> None:
    effort = out.get("reasoning_effort")
    if isinstance(effort, str):
        got = fit_effort(effort, caps, model, notes)
        if got is None:
            del out["reasoning_effort"]
        else:
            out["reasoning_effort"] = got
    fit_sampling(out, caps, model, notes)


def fit_sampling(out: dict[str, Any], caps: ModelCaps, model: str, notes: list[str]) -> None:
    """Drop temperature / top_p from `out` when the model refuses them (OpenAI's reasoning models)."""
    if caps.sampling is False:
        dropped = [k for k in ("temperature", "top_p") if k in out]
        for k in dropped:
            del out[k]
        if dropped:
            notes.append(f"{'/'.join(dropped)} dropped: {model} refuses sampling settings")
