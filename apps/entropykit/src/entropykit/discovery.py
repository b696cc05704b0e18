"""Find installed domain apps through the ``entropykit.apps`` entry-point group.

Listing reads package metadata only; an app's code is imported only when it is run.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any

GROUP = "entropykit.apps"


@dataclass(frozen=True)
class AppInfo:
    """One installed domain app, as its distribution's metadata describes it."""

    name: str
    target: str
    distribution: str
    version: str
    summary: str
    script: str | None

    def load(self) -> Any:
        """Import the app and return its Typer object."""
        for ep in metadata.entry_points(group=GROUP, name=self.name):
            if ep.value == self.target:
                try:
                    return ep.load()
                except Exception as exc:
                    raise RuntimeError(
                        f"the '{self.name}' app ({self.distribution} {self.version}) failed to "
                        f"load: {type(exc).__name__}: {exc}. Reinstall it with "
                        f"`uv sync --package {self.distribution}`"
                    ) from exc
        raise RuntimeError(f"the '{self.name}' app is no longer installed")


def installed_apps() -> list[AppInfo]:
    """Installed domain apps, sorted by name (the first distribution wins on a name clash)."""
    found: dict[str, AppInfo] = {}
    for ep in metadata.entry_points(group=GROUP):
        if ep.name in found:
            continue
        dist = ep.dist
        dist_name = dist.metadata["Name"] if dist is not None else "?"
        script = None
        if dist is not None:
            wanted = f"entropykit-{ep.name.replace('_', '-')}"
            script = next(
                (
                    e.name
                    for e in dist.entry_points
                    if e.group == "console_scripts" and e.name == wanted
                ),
                None,
            )
        found[ep.name] = AppInfo(
            name=ep.name,
            target=ep.value,
            distribution=dist_name,
            version=dist.version if dist is not None else "?",
            summary=(dist.metadata["Summary"] or "") if dist is not None else "",
            script=script,
        )
    return [found[name] for name in sorted(found)]
