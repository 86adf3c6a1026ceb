"""A cause the diagnosis names: which fault, on which host and device, explains which failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Ties (as many failures explained) go to the more basic fault.
RANK = {"underlay": 0, "missing": 1, "type": 2, "state": 3, "id": 4, "port": 4, "group": 4, "key": 4,
        "remote": 4, "local": 4, "link": 4, "duplicate": 5, "address": 5, "mask": 6, "ttl": 6, "flood": 6,
        "mtu": 7, "other": 8, "symptom": 9}


@dataclass
class Cause:
    host: str
    check: str  # the check whose results show it ("params", "fdb", "underlay" for the NIC)
    summary: str  # with the lab's values
    student: str  # without them (--no-hints)
    explains: list[str] = field(default_factory=list)  # ids of the failed results it accounts for
    device: str | None = None
    param: str | None = None
    rank: int = 8
    tenant: str | None = None  # a tenant's fault: the tenant, and the bridge it plugs into
    bridge: str | None = None

    def as_json(self, hints: bool = True) -> dict[str, Any]:
        out = {"host": self.host, "check": self.check, "device": self.device, "param": self.param,
               "summary": self.summary if hints else self.student, "explains": self.explains}
        out.update({k: v for k, v in (("tenant", self.tenant), ("bridge", self.bridge)) if v is not None})
        return out
