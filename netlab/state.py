"""Per-lab state: what was created (recorded *before* creating it), by which provider, and a lock.

The state lives in the user's state directory (platformdirs), one folder per lab name, so
`down` can find and remove everything after a crash, and two commands never work on one lab
at once.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock
import platformdirs

from netlab.errors import NetlabError
from netlab.settings import settings


def state_root() -> Path:
    override = settings().state_dir
    return override if override else Path(platformdirs.user_state_dir("netlab")) / "labs"


@dataclass
class Resource:
    kind: str  # e.g. "netns", "pid", "disk"
    name: str
    extra: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.extra:
            data["extra"] = self.extra
        return data


class LabState:
    def __init__(self, lab_name: str) -> None:
        self.lab_name = lab_name
        self.dir = state_root() / lab_name
        self._file = self.dir / "state.json"

    # -- the lock -------------------------------------------------------------------------
    @contextmanager
    def locked(self, timeout: float = 0.5) -> Iterator[LabState]:
        # The lock sits beside the state folder, not in it: `forget` removes the folder while
        # the lock is still held.
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.dir.parent / f".{self.lab_name}.lock"))
        try:
            lock.acquire(timeout=timeout)
        except filelock.Timeout:
            raise NetlabError(
                f"another netlab command is working on lab {self.lab_name}",
                hint="wait for it to finish, then try again",
            ) from None
        try:
            yield self
        finally:
            lock.release()

    # -- the record -----------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self._file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise NetlabError(
                f"the state file {self._file} is damaged ({exc})",
                hint=f"inspect it, or remove {self.dir} once the lab's resources are gone",
            ) from None

    def write(self, data: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self._file)  # a crash never leaves half a record

    @property
    def exists(self) -> bool:
        return self._file.exists()

    @property
    def provider(self) -> str | None:
        return self.read().get("provider")

    def begin(self, provider: str, source: str) -> None:
        data = self.read()
        if data.get("provider") not in (None, provider):
            raise NetlabError(
                f"lab {self.lab_name} is up with provider {data['provider']}",
                hint=f"netlab down {self.lab_name} first, or use --provider {data['provider']}",
            )
        data.update({"lab": self.lab_name, "provider": provider, "source": source})
        data.setdefault("resources", [])
        data.setdefault("phase", "creating")
        self.write(data)

    def set(self, **values: Any) -> None:
        data = self.read()
        data.update(values)
        self.write(data)

    def record(self, *resources: Resource) -> None:
        """Note resources about to be created; call *before* creating them."""
        data = self.read()
        known = {(r["kind"], r["name"]) for r in data.setdefault("resources", [])}
        for res in resources:
            if (res.kind, res.name) not in known:
                data["resources"].append(res.as_json())
        self.write(data)

    def resources(self, kind: str | None = None) -> list[Resource]:
        return [
            Resource(r["kind"], r["name"], r.get("extra"))
            for r in self.read().get("resources", [])
            if kind is None or r["kind"] == kind
        ]

    def forget(self) -> None:
        """Remove the whole state directory (after everything recorded is gone)."""
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def workdir(self) -> Path:
        return self.dir / "work"


def active_labs() -> list[str]:
    root = state_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "state.json").exists())
