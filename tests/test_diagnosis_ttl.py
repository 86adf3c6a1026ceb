"""The TTL diagnosis over any number of router hops, on constructed check outcomes (no machines:
this machine's kernel cannot forward multicast, so routed multicast labs run only on QEMU)
(issue 25 item 7). A lab whose own `ttl` is lower than the routers in a row fails verify; its
first cause is the TTL dying at the router where it reaches 0, not "ping fails"."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from netlab.model import Lab, validate_lab
from netlab.verify.checks.base import Case
from netlab.verify.checks.params import Problem
from netlab.verify.context import Outcome
from netlab.verify.diagnosis import Cause, Diagnosis


def chain(routers: int, ttl: int) -> Lab:
    """Segments s0 .. sN joined by r1 .. rN in a row; `left` on s0 and `far` on sN, `near` on s0
    too; one multicast VXLAN with `ttl`."""
    segments = {f"s{i}": {"subnet": f"10.{i}.0.0/24"} for i in range(routers + 1)}
    data: dict[str, Any] = {
        "name": "held-out",
        "underlay": {"interface": "enp0s8", "segments": segments},
        "routers": {f"r{i}": {"interfaces": {f"s{i - 1}": f"10.{i - 1}.0.1", f"s{i}": f"10.{i}.0.2"},
                              "multicast": "static"} for i in range(1, routers + 1)},
        "hosts": {"left": {"ip": "10.0.0.4"}, "near": {"ip": "10.0.0.5"}, "far": {"ip": f"10.{routers}.0.6"}},
        "tunnels": [{"name": "vxlan0", "type": "vxlan", "vni": 100, "mode": "multicast", "group": "239.1.1.1",
                     "ttl": ttl, "endpoints": {"left": "192.168.60.4/24", "near": "192.168.60.5/24",
                                               "far": "192.168.60.6/24"}}],
    }
    return validate_lab(data, "held-out.yml")


def diagnose(lab: Lab, outcomes: dict[Case, Outcome]) -> list[Cause]:
    # What the diagnosis reads of a verify: the lab, its tunnels, and (none here) the hosts' devices.
    ctx = SimpleNamespace(lab=lab, tunnels={t.name: t for t in lab.tunnels},
                          recall=lambda key: (False, None), remember=lambda key, value: None)
    return Diagnosis(ctx, list(outcomes), outcomes, {}).run()  # type: ignore[arg-type]


def across(lab: Lab, extra: dict[Case, Outcome] | None = None) -> dict[Case, Outcome]:
    """What verify reports when nothing crosses the routers: every result between far and the
    others fails (as a real run's), everything on one segment passes."""
    outcomes: dict[Case, Outcome] = {}
    for a in lab.hosts:
        for b in lab.hosts:
            if a == b:
                continue
            crosses = "far" in (a, b)
            for check in ("ping", "mtu", "wire"):
                case = Case(check, a, f"{a}->{b} vxlan0", tunnel="vxlan0", peer=b)
                outcomes[case] = Outcome(not crosses, "ok" if not crosses else f"{b} does not reply")
    for h in lab.hosts:
        outcomes[Case("params", h, f"{h} vxlan0", tunnel="vxlan0")] = Outcome(True, "ok")
        missing = [p for p in lab.hosts if p != h and "far" in (h, p)]
        outcomes[Case("fdb", h, f"{h} vxlan0", tunnel="vxlan0")] = Outcome(
            False, "missing: " + ", ".join(f"{p} (52:54:00:00:00:01 -> 10.0.0.9)" for p in missing))
    outcomes.update(extra or {})
    return outcomes


# From far, the routers in a row come in reverse: r2, r1 (or r3, r2, r1). A packet that leaves with
# TTL n crosses n - 1 of them and dies at the n-th.
@pytest.mark.parametrize(("routers", "ttl", "dies_at", "nth"), [(2, 2, "r1", "second"), (3, 3, "r1", "third"),
                                                                (3, 2, "r2", "second")])
def test_the_labs_own_ttl_dies_at_the_router_where_it_reaches_zero(routers: int, ttl: int, dies_at: str,
                                                                    nth: str) -> None:
    lab = chain(routers, ttl)
    outcomes = across(lab)
    causes = diagnose(lab, outcomes)
    first = causes[0]
    assert (first.host, first.device, first.param) == ("far", "vxlan0", "ttl"), [c.summary for c in causes]
    assert f"ttl {ttl} (as the lab says) is too low" in first.summary
    assert f"dies at router {dies_at}, the {nth} router on its way to left, near" in first.summary
    assert f"the lab's ttl must be {routers + 1} or more" in first.summary
    assert first.student == f"vxlan0 on far: ttl is too low: multicast from far dies at router {dies_at}"
    failed = {c.id for c, o in outcomes.items() if not o.passed}
    assert set(first.explains) == failed, "the TTL explains every failure across the routers"
    assert len(causes) == 1, [c.summary for c in causes]


def test_a_ttl_that_crosses_every_router_is_not_a_cause() -> None:
    lab = chain(3, 4)
    causes = diagnose(lab, across(lab))
    assert causes and all(c.param != "ttl" for c in causes)  # something else is wrong: not the TTL


@pytest.mark.parametrize(("routers", "dies_at"), [(2, "r1"), (3, "r2")])
def test_a_devices_own_low_ttl_names_the_router_over_several_hops(routers: int, dies_at: str) -> None:
    # The lab says 5 (enough); far's device has 2: its multicast dies at the second router.
    lab = chain(routers, 5)
    params = Case("params", "far", "far vxlan0", tunnel="vxlan0")
    wrong = Outcome(False, "ttl is 2, lab says 5",
                    findings=[Problem("ttl", "2", "5", "ttl is 2, lab says 5", "ttl is wrong")])
    causes = diagnose(lab, across(lab, {params: wrong}))
    first = causes[0]
    assert (first.host, first.param) == ("far", "ttl")
    assert f"leaves with TTL 2 and dies at router {dies_at}" in first.summary and "lab says 5" in first.summary
    assert not any("as the lab says" in c.summary for c in causes)
