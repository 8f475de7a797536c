"""The front-end boundary's values as JSON and back, for a dashboard in another process
(proxy.admin_stream serves them, plano_tui.remote_link reads them): the events a front end shows,
request records (bodies only when asked for: they are most of a record's size), statistics
snapshots and the config view, as values `orjson.dumps` writes. Each `*_to_json` has an exact
inverse after a trip through JSON; tests check the round trips.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, fields
from typing import Any

from .cost import Cost
from .events import (
    AliasChanged,
    Attempt,
    ConfigReloaded,
    Event,
    ProviderCooling,
    RequestFailed,
    RequestFinished,
    RequestRecord,
    RouteInfo,
    ServiceNotice,
    Timing,
)
from .frontend import AliasView, ConfigView, GroupSnapshot, ProviderView, SessionRow, StatsSnapshot, StepView, TurnView
from .wire.usage import Usage

_BODIES = ("request_body", "upstream_body", "response_body")
_GROUP_FIELDS = tuple(f.name for f in fields(GroupSnapshot))


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def record_to_json(r: RequestRecord, bodies: bool = False) -> dict[str, Any]:
    """A dict orjson serialises as it is: it writes the nested frozen dataclasses (route, usage,
    attempts) natively, ten times faster than `dataclasses.asdict` (this runs once per request per
    attached viewer)."""
    if not bodies:  # headers go with bodies: both only for the detail view
        return {**r.__dict__, "request_headers": (), "detailed": False,
                "request_body": None, "upstream_body": None, "response_body": None}
    d = dict(r.__dict__)
    for name in _BODIES:
        d[name] = _b64(d[name])
    return d


def record_from_json(d: dict[str, Any]) -> RequestRecord:
    values = dict(d)
    route = d.get("route")
    values["route"] = RouteInfo(**{**route, "span_attrs": tuple((str(k), v) for k, v in route.get("span_attrs") or ())}
                                ) if route else None
    values["usage"] = Usage(**d["usage"]) if d.get("usage") else Usage()
    values["cost"] = Cost(**d["cost"]) if d.get("cost") else None
    values["attempts"] = tuple(Attempt(**a) for a in d.get("attempts") or ())
    values["notes"] = tuple(d.get("notes") or ())
    values["tool_calls"] = tuple(d.get("tool_calls") or ())
    values["timing"] = Timing(**d["timing"]) if d.get("timing") else None
    values["request_headers"] = tuple((str(k), str(v)) for k, v in d.get("request_headers") or ())
    for name in _BODIES:
        raw = d.get(name)
        values[name] = None if raw is None else base64.b64decode(raw)
    return RequestRecord(**values)


def event_to_json(ev: Event) -> dict[str, Any] | None:
    """The events a front end shows (bus.TERMINAL and NOTICES); None for the others."""
    if isinstance(ev, RequestFinished | RequestFailed):
        kind = "finished" if isinstance(ev, RequestFinished) else "failed"
        r = ev.record
        # A record without details already has no headers or bodies: orjson writes the dataclass itself,
        # exactly what record_to_json would give, without copying its 36 fields into a dict first.
        return {"t": kind, "record": record_to_json(r) if r.detailed else r}
    if isinstance(ev, AliasChanged):
        return {"t": "alias", "alias": ev.alias, "old": ev.old_target, "new": ev.new_target, "source": ev.source}
    if isinstance(ev, ConfigReloaded):
        return {"t": "reload", "path": ev.path, "ok": ev.ok, "error": ev.error, "changes": list(ev.changes)}
    if isinstance(ev, ProviderCooling):
        return {"t": "cooling", "provider": ev.provider, "until": ev.until, "reason": ev.reason}
    if isinstance(ev, ServiceNotice):
        return {"t": "notice", "at": ev.at, "level": ev.level, "source": ev.source, "message": ev.message,
                "subject": ev.subject}
    return None


def event_from_json(d: dict[str, Any]) -> Event | None:
    kind = d.get("t")
    if kind == "finished":
        return RequestFinished(record_from_json(d["record"]))
    if kind == "failed":
        return RequestFailed(record_from_json(d["record"]))
    if kind == "alias":
        return AliasChanged(d["alias"], d.get("old"), d["new"], d.get("source", "admin"))
    if kind == "reload":
        return ConfigReloaded(d["path"], bool(d["ok"]), d.get("error"), tuple(d.get("changes") or ()))
    if kind == "cooling":
        return ProviderCooling(d["provider"], float(d["until"]), d["reason"])
    if kind == "notice":
        subject = d.get("subject")
        return ServiceNotice(float(d["at"]), str(d["level"]), str(d["source"]), str(d["message"]),
                             str(subject) if subject is not None else None)
    return None


def _group_from_json(d: dict[str, Any]) -> GroupSnapshot:
    values = {k: d[k] for k in _GROUP_FIELDS}
    values["recent_latency"] = tuple(d["recent_latency"])
    return GroupSnapshot(**values)


def stats_to_json(s: StatsSnapshot) -> StatsSnapshot:
    """The snapshot as it is: orjson writes a dataclass as the object of its fields, nested ones too.
    (`dataclasses.asdict` copied each latency sample one by one: 6 ms a frame, 4 frames a second.)"""
    return s


def stats_from_json(d: dict[str, Any]) -> StatsSnapshot:
    return StatsSnapshot(
        d["taken_at"], d["requests"], d["errors"], d["input_tokens"], d["output_tokens"],
        {k: _group_from_json(g) for k, g in d["providers"].items()},
        {k: _group_from_json(g) for k, g in d["routes"].items()},
        _group_from_json(d["total"]) if d.get("total") else None,
        {k: _group_from_json(g) for k, g in (d.get("aliases") or {}).items()},
        {k: _group_from_json(g) for k, g in (d.get("sessions") or {}).items()},
    )


def config_to_json(c: ConfigView) -> dict[str, Any]:
    return {"path": c.path, "port": c.port, "providers": [asdict(p) for p in c.providers],
            "aliases": [asdict(a) for a in c.aliases], "default_model": c.default_model}


def config_from_json(d: dict[str, Any]) -> ConfigView:
    return ConfigView(d.get("path"), int(d["port"]), tuple(ProviderView(**p) for p in d["providers"]),
                      tuple(AliasView(**a) for a in d["aliases"]), d.get("default_model"))


def provider_from_json(d: dict[str, Any] | None) -> ProviderView | None:
    return ProviderView(**d) if d else None


def session_row_from_json(d: dict[str, Any]) -> SessionRow:
    """`GET /admin/sessions` rows (orjson wrote the dataclass's fields) back into `SessionRow`s."""
    return SessionRow(**{**d, "models": tuple(d.get("models") or ())})


def turn_from_json(d: dict[str, Any]) -> TurnView:
    steps = tuple(StepView(**{**s, "tools": tuple(s.get("tools") or ())}) for s in d["steps"])
    return TurnView(d["index"], d.get("turn_id"), d["started_at"], steps, tuple(d.get("models") or ()), d.get("switch"))
