"""The wire vocabulary: what the three LLM APIs say, shared by the translators and the core.

- `providers`: `Api` (a wire API: Responses, Chat Completions, Messages), the built-in provider table
  and `upstream_api_for`;
- `sse`: `SseParser` (byte-level, split-anywhere safe), `SseEvent`, `encode`, `DONE`;
- `usage`: `Usage`, token counts read from any API's bodies and events;
- `models`: `ModelCaps`, what each model accepts (reasoning, sampling, output length);
- `quirks`: what a provider's server refuses that its API allows, each quirk switchable per provider;
- `errors`: `Untranslatable`, what a translator raises for a request whose meaning it cannot keep.

Pure data and functions: the modules here import only each other, the standard library and orjson
(import-linter contracts in pyproject.toml). HTTP statuses and aiohttp belong to the core above.
"""
