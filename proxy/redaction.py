"""What a message shown to people may say of a URL: no user, password or secret-looking query value.
Used by every warning that names a URL (proxy.notices, proxy.cost, proxy.shared_state, proxy.tracing);
it imports nothing of ours, so any module can."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_SECRET_PARAMS = ("key", "token", "secret", "password", "passwd", "auth", "sig", "credential")


def without_credentials(url: str) -> str:
    """`url` as a warning may show it: a password or user in it (`redis://:pw@host`) and the values of
    query parameters named like secrets (`?api_key=…`) replaced by `***`."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = "***@" + netloc.rsplit("@", 1)[1]
        query = "&".join(
            f"{k}=***" if any(s in k.lower() for s in _SECRET_PARAMS) else (f"{k}={v}" if v or "=" in pair else k)
            for pair in parts.query.split("&") if pair
            for k, _, v in (pair.partition("="),)
        )  # fmt: skip
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:  # not a URL we can read: show none of it
        return "(a URL that could not be parsed)"


_USERINFO = re.compile(r"(?<=://)[^/@\s'\"]+@")


def scrub_credentials(text: str) -> str:
    """`text` with the user and password of every URL in it (`scheme://user:pw@`) replaced by `***`:
    an exception's message may quote the URL it failed on."""
    return _USERINFO.sub("***@", text)
