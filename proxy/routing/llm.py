"""Router-LLM backend: one Chat Completions call to a Plano-Orchestrator / Arch-Router model.

The router model is `overrides.llm_routing_model`, served by a configured provider (e.g. Ollama or
vLLM hosting Arch-Router-1.5B: `plano/hf.co/katanemo/Arch-Router-1.5B.gguf:Q4_K_M` with a base_url);
its `provider/` prefix is stripped in the body like Plano does. With no such provider, a `plano/…`
or `Plano-Orchestrator` model goes to Plano's hosted endpoint (the built-in `plano` provider). The call
uses the proxy's shared aiohttp session and never publishes request events: router calls are not
client requests. Timeouts are enforced by the caller (proxy.routing.router).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import aiohttp
import orjson

from ..config import Config, Provider, RoutingPreference, find_provider
from ..errors import extract_error_message
from ..upstream import upstream_headers, upstream_url
from ..wire.providers import BUILTIN, Api
from .backend import Verdict, clip
from .conversation import Conversation
from .prompt import build_prompt, parse_answer, request_body
from .settings import PLANO_ROUTER_MODEL, RoutingSettings


def _strip_prefix(model: str) -> str:
    return model.split("/", 1)[1] if "/" in model else model


def hosted_provider(model: str) -> Provider:
    kind = BUILTIN["plano"]
    assert kind.base_url is not None
    return Provider(
        name="plano-orchestrator",
        model=f"plano/{model}",
        prefix="plano",
        model_id=model,
        apis=frozenset({Api.CHAT}),
        base_url=kind.base_url,
        path_prefix=kind.path_prefix,
        key_status="none",
        internal=True,
    )


def resolve_target(settings: RoutingSettings, config: Config) -> tuple[Provider | None, str, str | None]:
    """(provider, body model, error). An error means every routed request fails open with it."""
    configured = settings.router_model
    if settings.router_provider:
        p = config.provider_named(settings.router_provider) or find_provider(settings.router_provider, config.providers)
        if p is None:
            return None, "", f"routing.llm_provider '{settings.router_provider}' is not a configured provider"
        model = _strip_prefix(configured) if configured else p.model_id
    elif configured:
        p = find_provider(configured, config.providers)
        model = _strip_prefix(configured)
        if p is None:
            if configured.startswith("plano/") or model.lower() == PLANO_ROUTER_MODEL.lower():
                p = hosted_provider(model)
            else:
                return (
                    None,
                    model,
                    (
                        f"router model '{configured}' is not served by any configured provider; "
                        "add it under model_providers with a base_url"
                    ),
                )
        elif p.wildcard:
            model = _strip_prefix(configured)
        else:
            model = p.model_id
    else:
        p, model = hosted_provider(PLANO_ROUTER_MODEL), PLANO_ROUTER_MODEL
    if Api.CHAT not in p.apis:
        return None, model, f"router provider '{p.name}' has no Chat Completions API"
    if p.key_status == "missing":
        return None, model, f"router provider '{p.name}' has no API key ({p.key_env or 'set its access_key'})"
    return p, model, None


class LlmBackend:
    name = "llm"

    def __init__(
        self, settings: RoutingSettings, config: Config, session_getter: Callable[[], aiohttp.ClientSession]
    ) -> None:
        self.provider, self.model, self.error = resolve_target(settings, config)
        self.context_tokens = settings.context_tokens
        self._session = session_getter

    def describe(self) -> str:
        if self.provider is None:
            return f"llm (unavailable: {self.error})"
        return f"llm {self.model} @ {upstream_url(self.provider, Api.CHAT, self.model)}"

    async def decide(self, prefs: Sequence[RoutingPreference], conversation: Conversation, request_id: str) -> Verdict:
        if self.provider is None:
            return Verdict(error=self.error)
        p = self.provider
        payload = orjson.dumps(
            request_body(self.model, build_prompt(prefs, conversation.messages, self.context_tokens))
        )
        url = upstream_url(p, Api.CHAT, self.model)
        headers = upstream_headers(p, Api.CHAT, Api.CHAT, {}, request_id)
        try:
            async with self._session().post(url, data=payload, headers=headers) as resp:
                data = await resp.read()
                status = resp.status
        except aiohttp.ClientError as exc:
            return Verdict(error=f"router unreachable at {p.display_url}: {str(exc) or type(exc).__name__}")
        text = data.decode(errors="replace")
        if status >= 400:
            return Verdict(raw=clip(text), error=f"router answered HTTP {status}: {extract_error_message(data)}")
        try:
            content = orjson.loads(data)["choices"][0]["message"]["content"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            return Verdict(raw=clip(text), error="router reply is not a Chat Completions response")
        if not isinstance(content, str):
            content = "" if content is None else str(content)
        try:
            routes = parse_answer(content)
        except ValueError as exc:
            return Verdict(raw=clip(content), error=f"unparsable router answer ({exc})")
        return Verdict(tuple(routes), clip(content))
