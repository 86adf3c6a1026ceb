"""The checks of `netlab verify`: one module each, and the registry in report order.

`base` has what they share (Case, Check, the LINKS probe); each check's module keeps its
parsing of command output as pure functions.
"""

from __future__ import annotations

from netlab.model import ALL_CHECKS, Lab
from netlab.verify.checks.base import LINKS, Case, Check, Seen
from netlab.verify.checks.bridge import BridgeCheck
from netlab.verify.checks.fdb import FdbCheck
from netlab.verify.checks.isolation import IsolationCheck
from netlab.verify.checks.maddr import MaddrCheck
from netlab.verify.checks.mtu import MtuCheck
from netlab.verify.checks.params import ParamsCheck
from netlab.verify.checks.ping import PingCheck
from netlab.verify.checks.route import RouteCheck
from netlab.verify.checks.socket import SocketCheck
from netlab.verify.checks.tenant import TenantCheck
from netlab.verify.checks.wire import WireCheck
from netlab.verify.context import Evidence

__all__ = ["CHECKS", "LINKS", "Case", "Check", "Seen", "plan", "render_evidence"]

# In the order the report lists them (they run side by side; each makes the traffic it needs).
# `route` applies only to labs with routers (a routed underlay); `tenant` and `bridge` only to
# labs with bridged tunnels (and tenants).
CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        RouteCheck(), PingCheck(), TenantCheck(), ParamsCheck(), BridgeCheck(), MaddrCheck(), FdbCheck(),
        SocketCheck(), MtuCheck(), WireCheck(), IsolationCheck(),
    )
}
assert set(ALL_CHECKS) <= set(CHECKS)


def plan(lab: Lab, only: list[str] | None = None) -> list[Case]:
    wanted = only or lab.checks or list(CHECKS)
    return [case for name in CHECKS if name in wanted for case in CHECKS[name].cases(lab)]


def render_evidence(evidence: list[Evidence], verbose: bool = True) -> str:
    return "\n".join(e.render(verbose) for e in evidence)
