"""The upstream request body for one candidate: what `_attempt` sends, built without any I/O.

Same API on both sides: the client's bytes, byte-faithful, with only `model` spliced in, unless the
target would refuse part of the request (proxy.wire.models.fit_request). Another API upstream: the
translator's body (proxy.translate). Then prompt caching (proxy.caching) adds or removes Anthropic
`cache_control` breakpoints on Messages upstreams.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .caching import CachePolicy, inject_breakpoints, strip_markers
from .errors import ProxyError
from .resolve import Resolution
from .translate import Translation, get_translation
from .wire.errors import Untranslatable
from .wire.models import ModelCaps, fit_request
from .wire.providers import Api


@dataclass(slots=True)
class UpstreamPayload:
    body: bytes
    translation: Translation | None = None  # None: passthrough
    tstate: Any = None  # the translator's state for the answer (tool kinds, client model, …)
    notes: list[str] = field(default_factory=list)  # shown on the request's row


def build_payload(
    client_api: Api,
    up_api: Api,
    cand: Resolution,
    body: dict[str, Any],
    raw: bytes,
    changed: bool,
    caps: ModelCaps,
    caching: CachePolicy,
    headers: Any,
) -> UpstreamPayload:
    """`raw`: the client's bytes, `body` their parse; `changed`: `body` differs from `raw` (routing
    preferences were taken out). Raises ProxyError 400 for a body the client API does not allow, 501
    for a pair of APIs no translator joins."""
    model = cand.upstream_model
    out: UpstreamPayload
    if up_api is client_api:
        # A model the client did not name itself (alias, route, fallback, default) was not what it
        # prepared the request for: fit it to what that model accepts.
        fitted, fit_notes = fit_request(up_api, body, caps, model, cand.via not in ("explicit", "wildcard"))
        if fitted is not None:
            fitted["model"] = model
            out = UpstreamPayload(orjson.dumps(fitted), notes=list(fit_notes))
        elif changed or body.get("model") != model:
            out = UpstreamPayload(with_model(raw, body, model, changed))
        else:
            out = UpstreamPayload(raw)
        upstream_body: dict[str, Any] = body
    else:
        translation = get_translation(client_api, up_api)
        if translation is None:
            raise ProxyError(
                501,
                f"translation {client_api.value}→{up_api.value} is not available (provider '{cand.provider.name}')",
                "translation_unavailable",
            )
        try:
            tr = translation.request(body, model, caps)
        except Untranslatable as exc:  # the client asked for what the target cannot do: its 400
            raise ProxyError(400, exc.message, exc.code) from None
        except (TypeError, KeyError, ValueError, AttributeError, IndexError) as exc:
            # A body of the wrong shape (e.g. `"messages": true`) is the client's mistake: a 400 it can
            # read, never a 500 that agents retry.
            raise ProxyError(
                400,
                f"request body does not fit the {client_api.value} API: {type(exc).__name__}: {exc}",
                "invalid_request",
            ) from None
        out = UpstreamPayload(orjson.dumps(tr.body), translation, tr.state, list(tr.notes))
        upstream_body = tr.body
    if up_api is Api.MESSAGES:
        _prompt_cache(out, upstream_body, model, caching, headers)
    return out


def _prompt_cache(out: UpstreamPayload, upstream_body: dict[str, Any], model: str, caching: CachePolicy,
                  headers: Any) -> None:
    if caching.applies(headers):
        marked = inject_breakpoints(upstream_body, caching.min_prefix_tokens)
        if marked is not None:
            out.body = orjson.dumps(dict(marked[0], model=model))
            out.notes.append(f"prompt cache: {marked[1]} cache_control breakpoints added")
    # The translator's own breakpoints, turned off by the config or the request's header.
    elif out.translation is not None and caching.strips(headers) and strip_markers(upstream_body):
        out.body = orjson.dumps(upstream_body)
        out.notes.append("prompt cache: breakpoints off")


def with_model(raw: bytes, body: dict[str, Any], model: str, changed: bool) -> bytes:
    """The raw body with only `model` replaced. Splices bytes when the top-level key can be told apart
    cheaply: it is the object's first key (Codex and Claude Code put it there; the parse agrees it is the
    first key), or `"model"` occurs exactly once (a scan of the whole body: ~20 µs on a 40 KB Codex body,
    where a key of that name in a tool's schema also made it fall back). Else re-serialises the body.
    (A body repeating the top-level key with the same value keeps its second copy when spliced.)"""
    old = body.get("model")
    if not changed and isinstance(old, str):
        at = raw.find(b'"model"', 0, 16)
        first = at >= 0 and not raw[:at].strip(b" \t\r\n{") and raw[:at].count(b"{") == 1 \
            and next(iter(body)) == "model"
        if not first:
            at = raw.find(b'"model"')
        if at >= 0 and (first or raw.find(b'"model"', at + 7) < 0):
            value = orjson.dumps(old)
            for sep in (b'"model":', b'"model": '):
                if raw.startswith(sep + value, at):
                    end = at + len(sep) + len(value)
                    return b"".join((raw[:at], sep, orjson.dumps(model), raw[end:]))
    body["model"] = model
    return orjson.dumps(body)
