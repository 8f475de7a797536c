"""Hot reload of `config.yaml` (and the `.env` and `config.tui.yaml` sidecar beside it) without a restart.

The new file is parsed and validated first; on error the old config keeps serving and the error (file,
line, key) is published as `ConfigReloaded(ok=False)` for the dashboard and the log. Requests already
running finish on the config they started with (they hold the old resolver). Aliases retargeted at
runtime keep their runtime target unless the file changed that alias.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from .config import Config, ConfigError, load_config
from .config_ext import sidecar_path
from .events import ConfigReloaded
from .state import ProxyState


def describe_changes(old: Config, new: Config) -> list[str]:
    changes: list[str] = []
    old_p = {p.name: p for p in old.providers}
    new_p = {p.name: p for p in new.providers}
    changes += [f"+provider {n}" for n in new_p if n not in old_p]
    changes += [f"-provider {n}" for n in old_p if n not in new_p]
    changes += [f"~provider {n}" for n in new_p if n in old_p and new_p[n] != old_p[n]]
    old_a = {a.name: a.target for a in old.aliases}
    new_a = {a.name: a.target for a in new.aliases}
    changes += [f"alias {n} -> {t}" for n, t in new_a.items() if old_a.get(n) != t]
    changes += [f"-alias {n}" for n in old_a if n not in new_a]
    if old.routing_preferences != new.routing_preferences:
        changes.append("routing preferences")
    return changes


class ConfigReloader:
    def __init__(self, state: ProxyState, path: Path, watch: bool = True, debounce_s: float = 0.2) -> None:
        self.state = state
        self.path = Path(path).resolve()
        self.watch = watch
        self.debounce_s = debounce_s
        self._file_aliases = {a.name: a.target for a in state.config.aliases}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.watch:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="config-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        from watchfiles import awatch  # lazy: only when watching

        targets = {self.path.name, ".env", sidecar_path(self.path).name}
        async for changes in awatch(self.path.parent, debounce=int(self.debounce_s * 1000), recursive=False):
            if any(os.path.basename(p) in targets for _, p in changes):
                self.reload_now()

    def reload_now(self) -> tuple[bool, str]:
        """Re-read the config; returns (ok, message). Never raises."""
        st = self.state
        try:
            new = load_config(self.path)
        except ConfigError as exc:
            st.reload_error = str(exc)
            st.bus.publish(ConfigReloaded(str(self.path), False, str(exc)))
            return False, str(exc)
        except Exception as exc:  # an unreadable file must not take the proxy down
            st.reload_error = f"{self.path}: {exc}"
            st.bus.publish(ConfigReloaded(str(self.path), False, st.reload_error))
            return False, st.reload_error
        changes = describe_changes(st.config, new)
        new_file_aliases = {a.name: a.target for a in new.aliases}
        keep: dict[str, str] = {}
        for alias in st.aliases.items():
            unchanged_in_file = self._file_aliases.get(alias.name) == new_file_aliases.get(alias.name)
            if alias.name in new_file_aliases and unchanged_in_file and alias.target != new_file_aliases[alias.name]:
                keep[alias.name] = alias.target  # runtime retarget survives a reload that didn't touch it
        self._file_aliases = new_file_aliases
        st.apply_config(new, keep)
        st.reload_error = None
        st.bus.publish(ConfigReloaded(str(self.path), True, None, tuple(changes)))
        return True, "reloaded: " + (", ".join(changes) if changes else "no changes")
