"""Per-lab state: what was created (recorded *before* creating it), by which provider, and a lock.

The state lives in the user's state directory (platformdirs), one folder per lab name, so
`down` can find and remove everything after a crash, and two commands never work on one lab
at once. The record is typed (`StateRecord`); a file that is not one is reported as damaged.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock
import platformdirs
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from netlab.errors import NetlabError
from netlab.settings import settings

PHASES = ("creating", "configuring", "up", "destroying")


def state_root() -> Path:
    override = settings().state_dir
    return override if override else Path(platformdirs.user_state_dir("netlab")) / "labs"


@dataclass(frozen=True)
class Resource:
    """One thing a lab made: a namespace, a VM's PID, a disk, a directory, a key."""

    kind: str  # e.g. "netns", "pid", "disk"
    name: str
    extra: dict[str, Any] | None = None


class StateRecord(BaseModel):
    """What state.json holds about one lab."""

    model_config = ConfigDict(extra="forbid")

    lab: str = ""
    provider: str | None = None
    source: str = ""  # the lab file's absolute path
    phase: str = "creating"  # one of PHASES
    via: str | None = None  # how the lab was configured (default | ansible)
    overlay: bool = True  # False: up --no-overlay (the students build the tunnels)
    faults: list[dict[str, str]] = Field(default_factory=list)  # netlab break: fault, host, tunnel
    since: str = ""  # when the lab was first brought up (ISO 8601, UTC)
    box: str | None = None  # --box given to up (Vagrant providers)
    inventory: str | None = None  # --inventory given to up (provider ssh: the machines to use)
    model: dict[str, Any] | None = None  # the lab as it was brought up (down works without the file)
    resources: list[Resource] = Field(default_factory=list)
    # What the provider keeps about its machines (qemu: image, wire, SSH ports).
    provider_data: dict[str, Any] = Field(default_factory=dict)


class LabState:
    def __init__(self, lab_name: str) -> None:
        self.lab_name = lab_name
        self.dir = state_root() / lab_name
        self._file = self.dir / "state.json"

    # -- the lock -------------------------------------------------------------------------
    @contextmanager
    def locked(self, timeout: float = 0.5) -> Iterator[LabState]:
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self._lock_file), mode=0o600)
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
    def read(self) -> StateRecord:
        try:
            return StateRecord.model_validate_json(self._file.read_bytes())
        except FileNotFoundError:
            return StateRecord()
        except (OSError, ValueError, ValidationError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise NetlabError(
                f"the state file {self._file} is damaged ({reason})",
                hint=f"inspect it, or remove {self.dir} once the lab's resources are gone",
            ) from None

    def write(self, record: StateRecord) -> None:
        # Modes set here, not by the umask: the state names what root runs and removes.
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        tmp = self._file.with_suffix(".tmp")
        text = json.dumps(record.model_dump(mode="json", exclude_defaults=True), indent=2)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self._file)  # a crash never leaves half a record

    def salvage(self) -> bool:
        """A damaged record is kept beside as state.json.damaged and replaced by what of it still
        reads: the provider's name and the resources that are well-formed. True if it was damaged."""
        try:
            self.read()
            return False
        except NetlabError:
            pass
        try:
            raw = json.loads(self._file.read_text(errors="replace"))
        except (OSError, ValueError):
            raw = None
        fields = raw if isinstance(raw, dict) else {}
        salvaged = StateRecord(
            lab=self.lab_name,
            provider=fields.get("provider") if isinstance(fields.get("provider"), str) else None,
            resources=[r for r in (_resource(x) for x in _as_list(fields.get("resources"))) if r],
        )
        shutil.copyfile(self._file, self._file.with_name("state.json.damaged"))
        self.write(salvaged)
        return True

    @property
    def exists(self) -> bool:
        return self._file.exists()

    @property
    def provider(self) -> str | None:
        return self.read().provider

    def begin(self, provider: str, source: str) -> None:
        record = self.read()
        if record.provider not in (None, provider):
            raise NetlabError(
                f"lab {self.lab_name} is up with provider {record.provider}",
                hint=f"netlab down {self.lab_name} first, or use --provider {record.provider}",
            )
        since = record.since or datetime.now(UTC).isoformat(timespec="seconds")
        self.write(record.model_copy(update={"lab": self.lab_name, "provider": provider, "source": source,
                                             "since": since}))

    def set(self, **values: Any) -> None:
        """Change fields of the record (validated: a misspelt field is an error, not a new key)."""
        record = self.read()
        self.write(StateRecord.model_validate({**record.model_dump(), **values}))

    def record(self, *resources: Resource) -> None:
        """Note resources about to be created; call *before* creating them."""
        record = self.read()
        known = {(r.kind, r.name) for r in record.resources}
        new = [r for r in resources if (r.kind, r.name) not in known]
        if new:
            self.write(record.model_copy(update={"resources": [*record.resources, *new]}))

    def resources(self, kind: str | None = None) -> list[Resource]:
        return [r for r in self.read().resources if kind is None or r.kind == kind]

    @property
    def _lock_file(self) -> Path:
        return lock_file(self.dir)

    def forget(self) -> None:
        """Remove the whole state directory and the lock file (after everything recorded is gone).

        Called with the lock held; a command waiting for it then finds no lab, as it would have."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self._lock_file.unlink(missing_ok=True)

    @property
    def workdir(self) -> Path:
        return self.dir / "work"


def lock_file(state_dir: Path) -> Path:
    """The lock of the lab kept in `state_dir`: beside the folder, not in it (`forget` removes
    the folder while the lock is still held)."""
    return state_dir.parent / f".{state_dir.name}.lock"


def busy(state_dir: Path) -> bool:
    """Whether a netlab command holds the lock of the lab kept in `state_dir` (any state root)."""
    path = lock_file(state_dir)
    if not path.exists():
        return False
    lock = filelock.FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return True
    lock.release()
    return False


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _resource(value: Any) -> Resource | None:
    try:
        return _RESOURCE.validate_python(value)
    except ValidationError:
        return None


_RESOURCE: TypeAdapter[Resource] = TypeAdapter(Resource)


def active_labs() -> list[str]:
    root = state_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "state.json").exists())
