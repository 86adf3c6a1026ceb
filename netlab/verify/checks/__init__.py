"""The checks of `netlab verify`: one module each, and the registry in report order.

`base` has what they share (Case, Check, PerCaseCheck); each check's module keeps its parsing
of command output as pure functions.
"""

from __future__ import annotations

from netlab.model import ALL_CHECKS, Lab
from netlab.verify.checks.base import Case, Check, PerCaseCheck
from netlab.verify.checks.fdb import FdbCheck
from netlab.verify.checks.isolation import IsolationCheck
from netlab.verify.checks.maddr import MaddrCheck
from netlab.verify.checks.mtu import MtuCheck
from netlab.verify.checks.params import ParamsCheck
from netlab.verify.checks.ping import PingCheck
from netlab.verify.checks.socket import SocketCheck
from netlab.verify.checks.wire import WireCheck
from netlab.verify.context import Evidence

__all__ = ["CHECKS", "Case", "Check", "PerCaseCheck", "plan", "render_evidence"]

# In the order the report lists them (they run side by side; each makes the traffic it needs).
CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        PingCheck(), ParamsCheck(), MaddrCheck(), FdbCheck(), SocketCheck(), MtuCheck(), WireCheck(),
        IsolationCheck(),
    )
}
assert set(CHECKS) == set(ALL_CHECKS)


def plan(lab: Lab, only: list[str] | None = None) -> list[Case]:
    wanted = only or lab.checks or list(CHECKS)
    return [case for name in CHECKS if name in wanted for case in CHECKS[name].cases(lab)]


def render_evidence(evidence: list[Evidence]) -> str:
    return "\n".join(e.render() for e in evidence)
