"""Which lab definition a result is against: the one stored at `up`, or the lab file as it is now.

`up` stores the lab's model in its state; the file may be edited afterwards (a teacher adds
`points:`, fixes a VNI). Verify and grade say which of the two they used and whether the file has
changed since `up`, so two results that disagree are never a mystery.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netlab.errors import NetlabError
from netlab.model import Lab, load_lab
from netlab.state import StateRecord


@dataclass(frozen=True)
class Definition:
    source: str  # the lab file
    stored: bool  # True: the model stored at up; False: the file as it is now
    changed: bool | None  # the file differs from what was brought up (None: it cannot be read)

    def describe(self) -> str:
        if self.stored:
            since = {True: "the file has changed since: `netlab grade --lab FILE NAME` regrades against it",
                     False: "the file is unchanged since",
                     None: "the file cannot be read now"}[self.changed]
            return f"lab definition: as brought up from {self.source} ({since})"
        since = ("it differs from the definition the lab was brought up with" if self.changed
                 else "the lab was brought up without a stored definition")
        return f"lab definition: {self.source} as it is now ({since})"

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "stored_at_up": self.stored, "changed_since_up": self.changed}


def current_file(source: str, name: str) -> Lab | None:
    """The lab file as it is now, under the instance's name (None: gone or invalid)."""
    from netlab.lifecycle import renamed

    try:
        lab = load_lab(Path(source))
    except (NetlabError, OSError):
        return None
    return lab if lab.name == name else renamed(lab, name)


def of(used: Lab, record: StateRecord, source: str | None = None) -> Definition:
    """What `used` is: the model stored at up (`record.model`), or the file `source` (default: the
    file the lab came from) as it is now."""
    stored = record.model
    dump = used.model_dump(mode="json")
    if stored is not None and dump == stored:
        now = current_file(record.source, used.name) if record.source else None
        return Definition(record.source, True, None if now is None else now.model_dump(mode="json") != stored)
    return Definition(source or record.source, False, None if stored is None else dump != stored)
