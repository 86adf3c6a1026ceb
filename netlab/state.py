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

from netlab import labfolder
from netlab.errors import NetlabError
from netlab.settings import settings

PHASES = ("creating", "configuring", "up", "destroying")


def state_root() -> Path:
    override = settings().state_dir
    root = override if override else Path(platformdirs.user_state_dir("netlab")) / "labs"
    return Path(os.path.abspath(root))


@dataclass(frozen=True)
class Resource:
    """One thing a lab made: a namespace, a VM's PID, a disk, a directory, a key."""

    kind: str  # e.g. "netns", "pid", "disk"
    name: str
    extra: dict[str, Any] | None = None


class StateRecord(BaseModel):
    """What state.json holds about one lab."""

    # Fields a newer netlab wrote are ignored (an upgrade and a downgrade both keep working).
    model_config = ConfigDict(extra="ignore")

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
        labfolder.check_root(self.dir.parent)
        labfolder.sweep(self.dir.parent)
        labfolder.adopt_legacy(self.dir)
        labfolder.refuse_unmarked(self.dir)
        lock = filelock.FileLock(str(self._lock_file), mode=0o600)
        try:
            lock.acquire(timeout=timeout)
        except filelock.Timeout:
            raise NetlabError(
                f"another netlab command is working on lab {self.lab_name}",
                hint="wait for it to finish, then try again",
            ) from None
        except OSError as exc:
            raise NetlabError(f"cannot take the lab's lock {self._lock_file}: {exc.strerror}",
                              hint=f"netlab needs to write in {self.dir.parent}: fix its permissions, or set "
                                   "NETLAB_STATE_DIR to a directory you can write") from None
        try:
            yield self
        finally:
            lock.release()

    @property
    def token(self) -> str | None:
        """The lab folder's token (None before the folder is made): what the lab's claims carry."""
        return labfolder.token(self.dir)

    # -- the record -----------------------------------------------------------------------
    def read(self) -> StateRecord:
        """The record; a field that no longer validates (an older or newer netlab wrote it) is
        read as its default, the others kept. Only a file that is not a JSON object is damaged."""
        if not labfolder.is_lab_folder(self.dir):
            labfolder.adopt_legacy(self.dir)
            if not labfolder.is_lab_folder(self.dir):
                return StateRecord()
        try:
            raw = self._file.read_bytes()
        except FileNotFoundError:
            return StateRecord()
        except OSError as exc:
            raise self._damaged(exc.strerror or str(exc)) from None
        try:
            return StateRecord.model_validate_json(raw)
        except ValidationError:
            pass
        try:
            fields = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._damaged(str(exc)) from None
        if not isinstance(fields, dict):
            raise self._damaged("not a JSON object")
        return _field_by_field(fields)

    def _damaged(self, reason: str) -> NetlabError:
        return NetlabError(f"the state file {self._file} is damaged ({reason})",
                           hint=f"netlab down {self.lab_name} removes what the lab left")

    def write(self, record: StateRecord) -> None:
        # Modes set here, not by the umask: the state names what root runs and removes.
        labfolder.make(self.dir)
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
        labfolder.adopt_legacy(self.dir)
        return labfolder.is_lab_folder(self.dir) and self._file.exists()

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
        labfolder.remove(self.dir)
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


def _field_by_field(fields: dict[str, Any]) -> StateRecord:
    """A record from a JSON object whose fields do not all validate: each field on its own."""
    kept: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in StateRecord.model_fields:
            continue
        if key == "resources":
            value = [r for r in (_resource(x) for x in _as_list(value)) if r]
        try:
            StateRecord.model_validate({key: value})
        except ValidationError:
            continue
        kept[key] = value
    return StateRecord.model_validate(kept)


def active_labs() -> list[str]:
    """The labs this state root keeps (folders netlab made, with a record)."""
    root = state_root()
    if not root.is_dir() or root.is_symlink():
        return []
    names = []
    for p in root.iterdir():
        if p.name.startswith("."):
            continue
        labfolder.adopt_legacy(p)
        if labfolder.is_lab_folder(p) and (p / "state.json").exists():
            names.append(p.name)
    return sorted(names)
