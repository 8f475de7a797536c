"""Tool definitions and tool_choice across the three APIs, via one neutral shape (`FnTool`).

Responses tools need the most care (docs/codex-wire.md §3): a `custom` (freeform) tool such as Codex's
`apply_patch` becomes a function with one string parameter and is remembered, so the answer goes back
as a `custom_tool_call` with the raw text; `namespace` tools are flattened and remembered, so a call
goes back with its `namespace`; hosted tools the upstream cannot run are dropped with a note unless
dropping them would change what the request means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .common import loads_obj, safe_name, unsupported

CUSTOM_PARAM = "input"

# Hosted tools whose absence only narrows what the model can do: dropped with a note.
_DROPPABLE_PREFIXES = ("web_search", "image_generation", "web_fetch")
# Hosted tools the request depends on: refusing is clearer than silently answering without them.
_REFUSED_PREFIXES = ("file_search", "code_interpreter", "computer", "mcp", "local_shell", "shell",
                     "code_execution", "bash_", "text_editor_", "memory")


@dataclass(slots=True)
class FnTool:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class ToolMap:
    """Upstream function name → what the Responses client declared (kept in the request state)."""

    custom: set[str] = field(default_factory=set)
    namespaced: dict[str, tuple[str, str]] = field(default_factory=dict)  # upstream → (namespace, name)
    renamed: dict[str, str] = field(default_factory=dict)  # upstream → client name (sanitised names)
    _to_upstream: dict[tuple[str | None, str], str] = field(default_factory=dict)

    def lookup(self, upstream_name: str) -> tuple[str, str, str | None]:
        """(item type, client name, namespace) for a call the upstream made."""
        if upstream_name in self.custom:
            return "custom_tool_call", self.renamed.get(upstream_name, upstream_name), None
        ns = self.namespaced.get(upstream_name)
        if ns is not None:
            return "function_call", ns[1], ns[0]
        return "function_call", self.renamed.get(upstream_name, upstream_name), None

    def upstream_name(self, name: str, namespace: str | None = None) -> str:
        """The function name the upstream knows for a call in the client's history."""
        got = self._to_upstream.get((namespace or None, name))
        if got is not None:
            return got
        return safe_name(f"{namespace}__{name}" if namespace else name)


def norm_params(params: Any) -> dict[str, Any]:
    """A JSON schema every chat server accepts: an object with `properties`, no `$schema`."""
    if not isinstance(params, dict):
        return {"type": "object", "properties": {}}
    if params.get("type") == "object" and isinstance(params.get("properties"), dict) and "$schema" not in params:
        return params
    out = {k: v for k, v in params.items() if k != "$schema"}
    out.setdefault("type", "object")
    if not isinstance(out.get("properties"), dict):
        out["properties"] = {}
    return out


def _custom_tool(name: str, tool: dict[str, Any]) -> FnTool:
    desc = str(tool.get("description") or "")
    fmt = fmt_ if isinstance(fmt_ := tool.get("format"), dict) else {}
    # The freeform text has to travel inside a JSON argument here; say so, and pass the grammar on
    # (weaker models otherwise guess the patch format).
    desc += (f"\n\nPut the complete raw text in the `{CUSTOM_PARAM}` string parameter (this API needs one "
             "JSON argument; the text itself is not JSON).")
    if fmt.get("type") == "grammar" and fmt.get("definition"):
        desc += f"\nThe text must match this {fmt.get('syntax') or ''} grammar:\n{fmt['definition']}"
    params = {"type": "object", "properties": {CUSTOM_PARAM: {"type": "string", "description": "The raw text."}},
              "required": [CUSTOM_PARAM], "additionalProperties": False}
    return FnTool(name, desc, params)


def responses_tools(tools: Any, notes: list[str]) -> tuple[list[FnTool], ToolMap]:
    tmap = ToolMap()
    out: list[FnTool] = []
    if not isinstance(tools, list):
        return out, tmap
    top = {str(t.get("name")) for t in tools if isinstance(t, dict) and t.get("type") in ("function", "custom")}
    taken: set[str] = set()

    def claim(client_name: str, namespace: str | None) -> str:
        name = safe_name(client_name)
        if name in taken or (namespace and name in top):
            name = safe_name(f"{namespace}__{client_name}" if namespace else f"{client_name}_2")
        taken.add(name)
        tmap._to_upstream[(namespace, client_name)] = name
        if namespace:
            tmap.namespaced[name] = (namespace, client_name)
        elif name != client_name:
            tmap.renamed[name] = client_name
        return name

    for t in tools:
        if not isinstance(t, dict):
            continue
        kind = str(t.get("type") or "")
        if kind == "function":
            name = claim(str(t.get("name") or ""), None)
            out.append(FnTool(name, str(t.get("description") or ""), norm_params(t.get("parameters"))))
        elif kind == "custom":
            name = claim(str(t.get("name") or ""), None)
            tmap.custom.add(name)
            out.append(_custom_tool(name, t))
        elif kind == "namespace":
            ns = str(t.get("name") or "")
            for sub in t.get("tools") or []:
                if not isinstance(sub, dict):
                    continue
                name = claim(str(sub.get("name") or ""), ns)
                if sub.get("type") == "custom":
                    tmap.custom.add(name)
                    tmap.namespaced.pop(name, None)
                    out.append(_custom_tool(name, sub))
                else:
                    out.append(FnTool(name, str(sub.get("description") or ""), norm_params(sub.get("parameters"))))
        else:
            _hosted(kind, notes)
    return out, tmap


def _hosted(kind: str, notes: list[str]) -> None:
    if kind.startswith(_REFUSED_PREFIXES):
        raise unsupported(f"the `{kind}` tool is hosted by OpenAI/Anthropic and cannot run on this provider; "
                          "remove it or route the request to a provider that supports it")
    what = "hosted tool" if kind.startswith(_DROPPABLE_PREFIXES) else "unknown tool type"
    notes.append(f"dropped {what} `{kind}` (the upstream cannot run it)")


def chat_tools(tools: Any, notes: list[str]) -> list[FnTool]:
    out: list[FnTool] = []
    for t in tools if isinstance(tools, list) else []:
        if not isinstance(t, dict):
            continue
        if t.get("type", "function") == "function" and isinstance(t.get("function"), dict):
            fn = t["function"]
            out.append(FnTool(safe_name(str(fn.get("name") or "")), str(fn.get("description") or ""),
                              norm_params(fn.get("parameters"))))
        elif t.get("type") == "custom":
            raise unsupported("chat `custom` tools cannot be translated to this provider; declare a function tool")
        else:
            _hosted(str(t.get("type")), notes)
    return out


def anthropic_tools(tools: Any, notes: list[str]) -> list[FnTool]:
    out: list[FnTool] = []
    for t in tools if isinstance(tools, list) else []:
        if not isinstance(t, dict):
            continue
        kind = t.get("type")
        if kind in (None, "custom") and "input_schema" in t:
            out.append(FnTool(safe_name(str(t.get("name") or "")), str(t.get("description") or ""),
                              norm_params(t.get("input_schema"))))
        else:
            _hosted(str(kind or t.get("name")), notes)
    return out


def to_chat_tools(fns: list[FnTool]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": f.name, "description": f.description,
                                              "parameters": f.parameters}} for f in fns]


def to_anthropic_tools(fns: list[FnTool]) -> list[dict[str, Any]]:
    return [{"name": f.name, "description": f.description, "input_schema": f.parameters} for f in fns]


# ----------------------------------------------------------------------------- tool_choice
# Neutral form: "auto" | "none" | "required" | ("tool", upstream name) | None (not given).

Choice = str | tuple[str, str] | None


def responses_choice(tc: Any, tmap: ToolMap) -> Choice:
    if tc in ("auto", "none", "required"):
        return str(tc)
    if isinstance(tc, dict):
        kind = tc.get("type")
        if kind in ("function", "custom") and tc.get("name"):
            return ("tool", tmap.upstream_name(str(tc["name"]), tc.get("namespace")))
        if kind == "allowed_tools":
            return "required" if tc.get("mode") == "required" else "auto"
    return None


def chat_choice(tc: Any) -> Choice:
    if tc in ("auto", "none", "required"):
        return str(tc)
    if isinstance(tc, dict) and isinstance(tc.get("function"), dict) and tc["function"].get("name"):
        return ("tool", safe_name(str(tc["function"]["name"])))
    return None


def anthropic_choice(tc: Any) -> tuple[Choice, bool | None]:
    """(choice, parallel_tool_calls) from an Anthropic tool_choice."""
    if not isinstance(tc, dict):
        return None, None
    parallel = False if tc.get("disable_parallel_tool_use") else None
    kind = tc.get("type")
    if kind == "tool" and tc.get("name"):
        return ("tool", safe_name(str(tc["name"]))), parallel
    return {"auto": "auto", "any": "required", "none": "none"}.get(str(kind)), parallel


def to_chat_choice(c: Choice) -> Any:
    if isinstance(c, tuple):
        return {"type": "function", "function": {"name": c[1]}}
    return c


def to_anthropic_choice(c: Choice, parallel: bool | None) -> dict[str, Any] | None:
    if isinstance(c, tuple):
        out: dict[str, Any] = {"type": "tool", "name": c[1]}
    elif c == "required":
        out = {"type": "any"}
    elif c == "none":
        return {"type": "none"}
    elif c == "auto" or parallel is False:
        out = {"type": "auto"}
    else:
        return None
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def custom_input(args: str) -> str:
    """The raw freeform text from a function-style call of a custom tool. Models sometimes skip the
    JSON wrapper or rename the parameter; the raw patch must reach Codex either way."""
    obj = loads_obj(args)
    if isinstance(obj, dict):
        v = obj.get(CUSTOM_PARAM)
        if isinstance(v, str):
            return v
        strs = [v for v in obj.values() if isinstance(v, str)]
        return strs[0] if len(strs) == 1 else args
    if isinstance(obj, str):
        return obj
    return args
