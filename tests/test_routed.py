"""Routed underlays: segments and routers in the model, routes, lint warnings, and the seed's TTL
lesson for real (netns: a router namespace running smcrouted between two segments)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from netlab import catalog
from netlab.errors import LabError
from netlab.lifecycle import down, open_lab, up
from netlab.model import validate_lab
from netlab.model.routing import routers_between, routes
from netlab.model.underlay_rules import lab_warnings
from netlab.providers.netns import NetnsProvider
from netlab.render.hostvars import router_vars
from netlab.tools.processes import pid_alive
from netlab.verify.runner import run_verify

from .conftest import needs_root, netlab_namespaces, netns_cannot_run, quiet

NETLAB = [sys.executable, "-m", "netlab"]
ROUTED = yaml.safe_load(catalog.resolve("lab10-routed").read_text())


def lab(change: object = None) -> dict:
    data = copy.deepcopy(ROUTED)
    if change:
        change(data)
    return data


def issues(data: dict) -> dict[str, str]:
    try:
        validate_lab(data, "x.yml")
    except LabError as exc:
        return {i.path: i.message for i in exc.issues}
    return {}


# -- the model ------------------------------------------------------------------------------------
def test_routes_take_the_shortest_path_through_the_first_router() -> None:
    fabric = catalog.load("leaf-spine")
    h1 = {str(r.to): r.via for r in routes(fabric, "h1")}
    assert h1["192.168.3.0/24"] == "192.168.1.1"  # through its leaf
    l1 = {str(r.to): r.via for r in routes(fabric, "l1")}
    assert l1["192.168.3.0/24"] == "10.0.11.2"  # then the first spine
    assert routers_between(fabric, "h1", "h3") == ["l1", "s1", "l3"]
    assert routers_between(fabric, "h1", "h1") == []


def test_a_router_routes_every_group_between_all_its_segments() -> None:
    gw = router_vars(catalog.load("lab10-routed"), "gw")["netlab_router"]
    assert [i["name"] for i in gw["interfaces"]] == ["enp0s8", "enp0s9"]
    assert gw["mroutes"] == [
        {"from": "enp0s8", "group": "239.255.0.1", "to": ["enp0s9"]},
        {"from": "enp0s9", "group": "239.255.0.1", "to": ["enp0s8"]},
    ]


def test_one_segment_form_is_the_same_as_one_named_segment() -> None:
    lab10 = catalog.load("lab10")
    assert lab10.underlay.networks == {"myNetwork": lab10.underlay.network}
    assert not lab10.routers and routes(lab10, "boxA") == []


@pytest.mark.parametrize(("change", "path", "words"), [
    (lambda d: d["hosts"]["boxC"].update(ip="10.9.9.9"), "hosts.boxC.ip", "is in no underlay segment"),
    (lambda d: d["routers"]["gw"]["interfaces"].update(nowhere="10.1.1.1"), "routers.gw.interfaces.nowhere",
     "no underlay segment 'nowhere'"),
    (lambda d: d["routers"]["gw"]["interfaces"].update(left="192.168.51.9"), "routers.gw.interfaces.left",
     "is outside segment left"),
    (lambda d: d["routers"]["gw"]["interfaces"].update(left="192.168.50.4"), "routers.gw.interfaces.left",
     "already used by host boxA"),
    (lambda d: d["routers"].clear(), "hosts.boxC.ip", "no router joins segment right"),
    (lambda d: d["underlay"]["segments"]["right"].update(subnet="192.168.50.0/25"),
     "underlay.segments.right.subnet", "overlaps segment left"),
    (lambda d: d["underlay"].update(name="x", subnet="10.0.0.0/24"), "underlay", "not both"),
    (lambda d: d["routers"].update(boxA={"interfaces": {"left": "192.168.50.9"}}), "routers.boxA",
     "is also a host"),
])
def test_routed_underlay_rules(change: object, path: str, words: str) -> None:
    found = issues(lab(change))
    assert path in found and words in found[path], found


def test_a_ttl_too_low_for_the_routers_is_a_warning_naming_the_router(tmp_path: Path) -> None:
    low = lab(lambda d: d["tunnels"][0].update(ttl=1))
    assert issues(low) == {}  # allowed: breaking it is the lesson
    [warning] = lab_warnings(validate_lab(low, "x.yml"))
    assert warning.path == "tunnels[0].ttl" and "dies at router gw" in warning.message
    unset = lab(lambda d: d["tunnels"][0].pop("ttl"))
    assert "multicast leaves with TTL 1" in lab_warnings(validate_lab(unset, "x.yml"))[0].message
    assert lab_warnings(catalog.load("lab10-routed")) == []
    path = tmp_path / "low.yml"
    path.write_text(yaml.safe_dump(low))
    proc = subprocess.run([*NETLAB, "lint", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "tunnels[0].ttl" in proc.stdout and "dies at router gw (warning)" in proc.stdout


def test_explain_shows_the_routers_commands() -> None:
    proc = subprocess.run([*NETLAB, "explain", "lab10-routed"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "gw (router: left 192.168.50.1, right 192.168.51.1)" in proc.stdout
    assert "ip route replace 192.168.50.0/24 via 192.168.51.1 dev enp0s8" in proc.stdout
    assert "mroute from enp0s8 group 239.255.0.1 to enp0s9" in proc.stdout


# -- the TTL lesson, for real ---------------------------------------------------------------------
def set_ttl(path: Path, ttl: int) -> None:
    path.write_text(yaml.safe_dump(lab(lambda d: d["tunnels"][0].update(ttl=ttl)), sort_keys=False))


@needs_root
@pytest.mark.root
def test_the_ttl_lesson_ttl_1_dies_at_the_router_ttl_5_crosses_it(tmp_path: Path) -> None:
    why = netns_cannot_run("lab10-routed")
    if why:
        pytest.skip(f"{why} (test_qemu_catalog's TTL lesson covers it)")
    path = tmp_path / "lab10-routed.yml"
    set_ttl(path, 1)
    session = open_lab(str(path), "netns")
    provider = session.provider
    assert isinstance(provider, NetnsProvider)
    try:
        up(session, quiet)
        daemons = provider.daemons()
        assert len(daemons) == 1, "smcrouted runs in the router gw"
        # With TTL 1 multicast never crosses gw: boxC (right) is cut off from boxA and boxB (left),
        # while boxA and boxB, on one segment, still reach each other.
        result = run_verify(session.lab, provider, only=["ping"])
        failed = {(c.host, c.peer) for c in result.cases if not result.outcome(c).passed}
        assert ("boxA", "boxC") in failed and ("boxC", "boxA") in failed
        assert ("boxA", "boxB") not in failed
        # The fix: TTL 5. `up` converges to it (the tunnels are rebuilt) and every check passes.
        set_ttl(path, 5)
        session = open_lab(str(path), "netns")
        changes = up(session, quiet)
        assert changes and any("ttl is 1, lab says 5" in c for c in changes), changes
        result = run_verify(session.lab, session.provider)
        assert result.passed, {c.id: result.outcome(c).summary for c in result.cases if not result.outcome(c).passed}
    finally:
        down(session, quiet)
    assert netlab_namespaces("lab10-routed") == []
    assert not any(pid_alive(pid, marker) for pid, marker in daemons.items()), "down stops smcrouted"
