"""Built-in provider table: default hosts, path prefixes and the wire APIs each provider speaks.

Mirrors Plano's table (docs/plano-compat.md §2.4) so an unchanged Plano `config.yaml` reaches the
same upstream URLs. `config.py` consults it when it builds a `Provider`; `upstream.py` uses the result
to build URLs. Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Api(StrEnum):
    """A wire API, used both for what a client speaks and for what an upstream speaks."""

    RESPONSES = "responses"
    CHAT = "chat"
    MESSAGES = "messages"

    @property
    def path_suffix(self) -> str:
        return _SUFFIX[self]


_SUFFIX = {Api.RESPONSES: "/responses", Api.CHAT: "/chat/completions", Api.MESSAGES: "/messages"}


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """What a `provider/` prefix means: where it lives and which APIs it serves natively."""

    base_url: str | None  # scheme://host[:port]; None = base_url required in the config
    path_prefix: str  # replaced by the path of a configured base_url
    apis: frozenset[Api]
    key_env: str | None  # the conventional variable, for "export X=..." hints
    needs_key: bool = True
    # Serves every model on Responses (OpenAI's codex family on nothing else): Chat and Messages
    # clients are sent there too.
    responses_first: bool = False


_OPENAI_LIKE = frozenset({Api.CHAT})
_RESPONSES_AND_CHAT = frozenset({Api.RESPONSES, Api.CHAT})


def _k(base: str | None, prefix: str, apis: frozenset[Api], key: str | None, needs_key: bool = True) -> ProviderKind:
    return ProviderKind(base, prefix, apis, key, needs_key)


BUILTIN: dict[str, ProviderKind] = {
    "openai": ProviderKind(
        "https://api.openai.com", "/v1", _RESPONSES_AND_CHAT, "OPENAI_API_KEY", responses_first=True
    ),
    "anthropic": _k("https://api.anthropic.com", "/v1", frozenset({Api.MESSAGES}), "ANTHROPIC_API_KEY"),
    "xai": ProviderKind("https://api.x.ai", "/v1", _RESPONSES_AND_CHAT, "XAI_API_KEY", responses_first=True),
    "chatgpt": _k("https://chatgpt.com", "/backend-api/codex", frozenset({Api.RESPONSES}), None, False),
    "vercel": _k(
        "https://ai-gateway.vercel.sh",
        "/v1",
        frozenset({Api.RESPONSES, Api.CHAT, Api.MESSAGES}),
        "AI_GATEWAY_API_KEY",
    ),
    "gemini": _k("https://generativelanguage.googleapis.com", "/v1beta/openai", _OPENAI_LIKE, "GEMINI_API_KEY"),
    "groq": _k("https://api.groq.com", "/openai/v1", _OPENAI_LIKE, "GROQ_API_KEY"),
    "mistral": _k("https://api.mistral.ai", "/v1", _OPENAI_LIKE, "MISTRAL_API_KEY"),
    "deepseek": _k("https://api.deepseek.com", "/v1", _OPENAI_LIKE, "DEEPSEEK_API_KEY"),
    "together_ai": _k("https://api.together.xyz", "/v1", _OPENAI_LIKE, "TOGETHER_API_KEY"),
    "moonshotai": _k("https://api.moonshot.ai", "/v1", _OPENAI_LIKE, "MOONSHOT_API_KEY"),
    "zhipu": _k("https://open.bigmodel.cn", "/api/paas/v4", _OPENAI_LIKE, "ZHIPU_API_KEY"),
    "xiaomi": _k("https://api.xiaomimimo.com", "/v1", _OPENAI_LIKE, "XIAOMI_API_KEY"),
    "digitalocean": _k("https://inference.do-ai.run", "/v1", _OPENAI_LIKE, "DO_API_KEY"),
    "openrouter": _k("https://openrouter.ai", "/api/v1", _OPENAI_LIKE, "OPENROUTER_API_KEY"),
    "edenai": _k("https://api.edenai.run", "/v3", _OPENAI_LIKE, "EDENAI_API_KEY"),
    "perplexity": _k("https://api.perplexity.ai", "", _OPENAI_LIKE, "PERPLEXITY_API_KEY"),
    "azure_openai": _k(None, "/openai", _OPENAI_LIKE, "AZURE_OPENAI_API_KEY"),
    "ollama": _k(None, "/v1", _OPENAI_LIKE, None, False),
    "qwen": _k(None, "/compatible-mode/v1", _OPENAI_LIKE, "DASHSCOPE_API_KEY"),
    "amazon_bedrock": _k(None, "", frozenset(), "AWS_BEARER_TOKEN_BEDROCK"),
    "plano": _k("https://archfc.katanemo.dev", "/v1", _OPENAI_LIKE, None, False),
}

# Spellings Plano accepts for the same provider.
PREFIX_ALIASES = {"google": "gemini", "do": "digitalocean", "do_ai": "digitalocean", "x-ai": "xai"}

# `provider_interface` values allowed on a custom prefix, and what each one speaks.
INTERFACES: dict[str, frozenset[Api]] = {
    "openai": _OPENAI_LIKE,
    "plano": _OPENAI_LIKE,
    "deepseek": _OPENAI_LIKE,
    "groq": _OPENAI_LIKE,
    "mistral": _OPENAI_LIKE,
    "xiaomi": _OPENAI_LIKE,
    "gemini": _OPENAI_LIKE,
    "chatgpt": frozenset({Api.RESPONSES}),
    "digitalocean": _OPENAI_LIKE,
    "vercel": frozenset({Api.RESPONSES, Api.CHAT, Api.MESSAGES}),
    "openrouter": _OPENAI_LIKE,
    "edenai": _OPENAI_LIKE,
    "moonshotai": _OPENAI_LIKE,
    # Ours: a local server speaking the Anthropic Messages API.
    "anthropic": frozenset({Api.MESSAGES}),
}

AZURE_API_VERSION = "2025-01-01-preview"


def kind_for(prefix: str) -> ProviderKind | None:
    return BUILTIN.get(PREFIX_ALIASES.get(prefix, prefix))


def canonical_prefix(prefix: str) -> str:
    return PREFIX_ALIASES.get(prefix, prefix)


def upstream_api_for(client_api: Api, apis: frozenset[Api], preferred: Api | None = None) -> Api | None:
    """Which upstream API serves a client API on a provider that speaks `apis`.

    `preferred` first when the provider speaks it (a provider's `upstream_api`, or Responses on OpenAI
    and xAI: see `Provider.preferred_api`); then the client's own API (raw passthrough); then Chat,
    Messages, Responses. The caller leaves Chat out of `apis` for a model that said it is not a chat
    model. None = nothing fits.
    """
    if preferred is not None and preferred in apis:
        return preferred
    if client_api in apis:
        return client_api
    for candidate in (Api.CHAT, Api.MESSAGES, Api.RESPONSES):
        if candidate in apis:
            return candidate
    return None
