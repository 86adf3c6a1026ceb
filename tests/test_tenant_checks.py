"""Checks and diagnosis of tenants (issue 19): the catalog's bridged labs verify, and each fault
broken by hand on a running lab is named with its tenant, bridge and host. Needs root (netns).

One `up` per catalog lab for the whole module (under a name no other test uses); each fault is
undone by hand after its test, and the tenants forget their neighbours (a tenant on the wrong
bridge answers ARP for its twin's address there: the others would keep its MAC)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console

from netlab import catalog, graph
from netlab.capture import ping_target
from netlab.lifecycle import Session, down, open_lab, up
from netlab.macs import tenant_mac
from netlab.providers.qemu.vm import mgmt_network
from netlab.verify.cause import Cause
from netlab.verify.report import as_json, print_report
from netlab.verify.runner import VerifyResult, run_verify

from .conftest import needs_root, netlab_namespaces, netns_cannot_run, quiet

pytestmark = [needs_root, pytest.mark.root]

INSTANCES = {"tenants": "tc-tenants", "vxlan-static": "tc-static", "lab11-bridge": "tc-l11"}
_running: dict[str, tuple[Session, Path]] = {}


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Session, Path]]]:
    """Every lab up once (lazily, by `lab`), all taken down at the end of the module."""
    yield _running
    for session, state in _running.values():
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("NETLAB_STATE_DIR", str(state))
            down(session, quiet)
        assert netlab_namespaces(session.lab.name) == []
    _running.clear()


def lab(labs: dict[str, tuple[Session, Path]], name: str, tmp_path_factory: pytest.TempPathFactory) -> Session:
    if name not in labs:
        why = netns_cannot_run(name)
        if why:
            pytest.skip(why)
        state = tmp_path_factory.mktemp(f"state-{name}")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("NETLAB_STATE_DIR", str(state))
            session = open_lab(name, "netns", name=INSTANCES[name])
            up(session, quiet)
        labs[name] = (session, state)
    return labs[name][0]


@pytest.fixture
def tenants(labs: dict[str, tuple[Session, Path]], tmp_path_factory: pytest.TempPathFactory) -> Session:
    return lab(labs, "tenants", tmp_path_factory)


@pytest.fixture
def static(labs: dict[str, tuple[Session, Path]], tmp_path_factory: pytest.TempPathFactory) -> Session:
    return lab(labs, "vxlan-static", tmp_path_factory)


def sh(session: Session, machine: str, command: str) -> None:
    """`ip ...` or `bridge ...` in the machine's namespace, as a student types it (`ip -n NS ...`)."""
    tool, *rest = command.split()
    ns = session.provider.ns(machine)  # type: ignore[attr-defined]
    result = subprocess.run([tool, "-n", ns, *rest], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{machine}: {command}: {result.stderr}"


@contextmanager
def broken(session: Session, machine: str, breaks: str, repairs: str) -> Iterator[None]:
    sh(session, machine, breaks)
    try:
        yield
    finally:
        sh(session, machine, repairs)
        flush = "".join(f"netns exec {session.provider.ns(t)} ip neigh flush all\n"  # type: ignore[attr-defined]
                        for t in session.lab.tenants)
        subprocess.run(["ip", "-batch", "-"], input=flush, text=True, check=True)


def first_cause(session: Session, only: list[str] | None = None) -> tuple[VerifyResult, Cause]:
    result = run_verify(session.lab, session.provider, only=only)
    assert not result.passed
    assert result.causes, "failures without a cause"
    explained = {i for c in result.causes for i in c.explains}
    assert explained == {c.id for c in result.failed}, "every failure is explained"
    return result, result.causes[0]


def report_text(session: Session, result: VerifyResult) -> str:
    console = Console(record=True, width=1000)
    print_report(console, session.lab, result)
    return console.export_text()


# -- healthy labs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(INSTANCES))
def test_bridged_catalog_lab_verifies_with_the_tenant_checks(
        name: str, labs: dict[str, tuple[Session, Path]], tmp_path_factory: pytest.TempPathFactory) -> None:
    session = lab(labs, name, tmp_path_factory)
    result = run_verify(session.lab, session.provider)
    assert result.passed, {c.id: result.outcome(c).summary for c in result.failed}
    checks = {c.check for c in result.cases}
    assert {"tenant", "bridge", "params", "fdb", "mtu", "wire"} <= checks
    # Endpoints without an address ping nothing (vxlan-static: only boxA has one).
    assert "ping" not in checks
    pairs = sum(len(session.lab.tenants_of(t.tunnel)) - 1 for t in session.lab.tenants.values())
    assert len([c for c in result.cases if c.check == "tenant"]) == pairs
    assert len([c for c in result.cases if c.check == "bridge"]) == sum(len(t.endpoints) for t in session.lab.tunnels)
    data = as_json(session.lab, "netns", result)
    tenant_ids = {r["id"]: r["target"] for r in data["results"] if r["check"] == "tenant"}
    first = next(iter(session.lab.tenants))
    other = next(n for n in session.lab.tenants_of(session.lab.tenants[first].tunnel) if n != first)
    assert tenant_ids[f"tenant[{first}->{other}]"] == other


def outcome(result: VerifyResult, case_id: str) -> str:
    case = next(c for c in result.cases if c.id == case_id)
    assert result.outcome(case).passed, result.outcome(case).summary
    return result.outcome(case).summary


def test_tenants_of_another_vni_at_the_same_address_stay_apart(tenants: Session) -> None:
    result = run_verify(tenants.lab, tenants.provider, only=["isolation", "wire", "fdb", "mtu"])
    assert result.passed, {c.id: result.outcome(c).summary for c in result.failed}
    # db1 (VNI 200) asks for 10.100.0.2: db2 answers, not web2; web3's address is not there at all.
    db1 = outcome(result, "isolation[db1 vxlan200-/->vxlan100]")
    assert "10.100.0.2 answers from db2 (vxlan200)" in db1 and "10.100.0.3 (vxlan100's only) does not reply" in db1
    assert "10.100.0.1 answers from web1 (vxlan100)" in outcome(result, "isolation[web2 vxlan100-/->vxlan200]")
    # On the wire each tenant's frames carry its own VNI, though web1 and db1 share an address.
    assert "vni 100" in outcome(result, "wire[web1->web2 vxlan100]")
    assert "vni 200" in outcome(result, "wire[db1->db2 vxlan200]")
    # boxA learned the remote tenants' MACs behind their VTEPs.
    fdb = next(c for c in result.cases if c.id == "fdb[boxA vxlan100]")
    table = result.outcome(fdb).evidence[-1].stdout
    assert f"{tenant_mac('web2')} dst 192.168.50.5 self" in table
    assert f"{tenant_mac('web3')} dst 192.168.50.6 self" in table
    assert "eth0 MTU 1450" in outcome(result, "mtu[web1->web2]")


def test_static_vteps_hold_a_permanent_entry_for_every_remote_mac(static: Session) -> None:
    result = run_verify(static.lab, static.provider, only=["fdb", "bridge"])
    assert result.passed, {c.id: result.outcome(c).summary for c in result.failed}
    # boxA: web2, web3, web4 behind other VTEPs, and boxB's and boxC's bridges.
    assert outcome(result, "fdb[boxA vxlan100]").startswith("5 permanent entries")
    fdb = next(c for c in result.cases if c.id == "fdb[boxA vxlan100]")
    table = result.outcome(fdb).evidence[-1].stdout
    for tenant, vtep in (("web2", "192.168.50.5"), ("web3", "192.168.50.6"), ("web4", "192.168.50.6")):
        assert f"{tenant_mac(tenant)} dst {vtep} self permanent" in table


def test_addresses_optional_on_bridged_tunnels_elsewhere() -> None:
    lab11 = catalog.load("lab11-bridge")
    assert "boxA" in graph.mermaid(lab11)
    assert ping_target(lab11, "boxA", "boxB") == "192.168.50.5"  # no tunnel address: the underlay's
    assert mgmt_network(catalog.load("vxlan-static"))


# -- faults, diagnosed ----------------------------------------------------------------------------

def test_bridge_down_names_the_bridge_host_and_tenants(tenants: Session) -> None:
    with broken(tenants, "boxA", "ip link set br100 down", "ip link set br100 up"):
        result, cause = first_cause(tenants, only=["tenant", "bridge"])
        assert (cause.host, cause.bridge, cause.param) == ("boxA", "br100", "bridge-down")
        assert "bridge br100 on boxA is down" in cause.summary and "web1" in cause.summary
        assert {"tenant[web1->web2]", "tenant[web3->web1]", "bridge[boxA br100]"} <= set(cause.explains)
        assert len(result.causes) == 1
        assert "1. boxA: bridge br100 on boxA is down" in report_text(tenants, result)


def test_tenant_mtu_larger_than_the_tunnel_is_the_classic(tenants: Session) -> None:
    with broken(tenants, "web1", "ip link set eth0 mtu 1500", "ip link set eth0 mtu 1450"):
        result, cause = first_cause(tenants, only=["mtu", "tenant"])
        assert (cause.host, cause.tenant, cause.bridge, cause.param) == ("boxA", "web1", "br100", "mtu")
        assert "eth0 has MTU 1500, its tunnel vxlan100 carries 1450" in cause.summary
        assert cause.explains == ["mtu[web1->web2]"]
        assert "drops the larger ones" in report_text(tenants, result)


def test_tenant_unplugged_from_its_bridge(tenants: Session) -> None:
    with broken(tenants, "boxA", "ip link set tn-web1 nomaster", "ip link set tn-web1 master br100"):
        result, cause = first_cause(tenants, only=["tenant", "bridge"])
        assert (cause.host, cause.tenant, cause.bridge, cause.device) == ("boxA", "web1", "br100", "tn-web1")
        assert "a port of no bridge, not of br100" in cause.summary
        assert {"tenant[web1->web2]", "tenant[web2->web1]", "bridge[boxA br100]"} <= set(cause.explains)
        assert len(result.causes) == 1


def test_tenant_on_another_vnis_bridge_leaks_into_it(tenants: Session) -> None:
    state = dict(os.environ, NETLAB_STATE_DIR=str(_running["tenants"][1]))
    with broken(tenants, "boxA", "ip link set tn-db1 master br100", "ip link set tn-db1 master br200"):
        run = subprocess.run([sys.executable, "-m", "netlab", "verify", "tc-tenants", "--json", "--check", "tenant",
                              "--check", "bridge", "--check", "isolation"], env=state,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 1, run.stderr
        data = json.loads(run.stdout)
        cause = data["causes"][0]
        assert (cause["host"], cause["tenant"], cause["bridge"], cause["param"]) == ("boxA", "db1", "br200",
                                                                                   "tenant-master")
        assert "is a port of br100, not of br200" in cause["summary"]
        # db1, now on vxlan100's segment, reaches web3 there.
        assert "isolation[db1 vxlan200-/->vxlan100]" in cause["explains"]
        assert {i for c in data["causes"] for i in c["explains"]} == {
            r["id"] for r in data["results"] if not r["passed"]}


def test_tenant_cable_down(static: Session) -> None:
    with broken(static, "boxB", "ip link set tn-web2 down", "ip link set tn-web2 up"):
        _, cause = first_cause(static, only=["tenant", "bridge"])
        assert (cause.host, cause.tenant, cause.bridge, cause.param) == ("boxB", "web2", "br100", "tenant-down")
        assert "tn-web2 on boxB is down" in cause.summary
        assert {"tenant[web1->web2]", "tenant[web2->web4]"} <= set(cause.explains)


def test_static_entry_missing(static: Session) -> None:
    mac = tenant_mac("web3")
    with broken(static, "boxA", f"bridge fdb del {mac} dev vxlan100 dst 192.168.50.6 self",
                f"bridge fdb replace {mac} dev vxlan100 dst 192.168.50.6 self permanent"):
        result, cause = first_cause(static, only=["fdb"])
        assert (cause.host, cause.tenant, cause.bridge, cause.param) == ("boxA", "web3", "br100", "static")
        assert f"lacks the static entry for web3 ({mac} dst 192.168.50.6 self permanent)" in cause.summary
        assert cause.explains == ["fdb[boxA vxlan100]"]
        hidden = as_json(static.lab, "netns", result, hints=False)["causes"][0]["summary"]
        assert mac not in hidden and "192.168.50.6" not in hidden


def test_arp_suppression_off_on_one_vtep(static: Session) -> None:
    with broken(static, "boxB", "bridge link set dev vxlan100 neigh_suppress off",
                "bridge link set dev vxlan100 neigh_suppress on"):
        result, cause = first_cause(static, only=["bridge"])
        assert (cause.host, cause.bridge, cause.device, cause.param) == ("boxB", "br100", "vxlan100", "suppress")
        assert "neigh_suppress off, lab says arp_suppress true" in cause.summary
        assert [c.id for c in result.failed] == ["bridge[boxB br100]"]


# -- what the checks read, on recorded output -----------------------------------------------------

CAPTURE = """\
12:00:00.000001 52:54:00:00:00:04 > 52:54:00:00:00:05, ethertype IPv4 (0x0800), length 148: \
192.168.50.4.35092 > 192.168.50.5.4789: VXLAN, flags [I] (0x08), vni 200
52:54:83:a6:3b:c8 > 52:54:86:8c:4d:f8, ethertype IPv4 (0x0800), length 98: 10.100.0.1 > 10.100.0.2: ICMP echo request
12:00:00.000002 52:54:00:00:00:04 > 52:54:00:00:00:05, ethertype IPv4 (0x0800), length 148: \
192.168.50.4.35093 > 192.168.50.5.4789: VXLAN, flags [I] (0x08), vni 100
52:54:86:e1:a2:db > 52:54:9f:9e:c9:76, ethertype IPv4 (0x0800), length 98: 10.100.0.1 > 10.100.0.2: ICMP echo request
"""


def test_wire_tells_two_tenants_at_one_address_apart_by_their_mac() -> None:
    from netlab.verify.checks.wire import judge_tenant_frames

    web1 = ["VXLAN", "vni 100", "52:54:86:e1:a2:db > "]
    ok, summary = judge_tenant_frames(CAPTURE, web1, "web1", "10.100.0.2")
    assert ok and summary.startswith("VXLAN, flags [I] (0x08), vni 100 52:54:86:e1:a2:db")
    # db1's frames carry VNI 200: expecting 100 of them fails and says what they carry.
    ok, summary = judge_tenant_frames(CAPTURE, ["VXLAN", "vni 100", "52:54:83:a6:3b:c8 > "], "db1", "10.100.0.2")
    assert not ok and summary == "db1's frames to 10.100.0.2 seen, but without VXLAN / vni 100 (they carry vni 200)"
    ok, summary = judge_tenant_frames(CAPTURE, web1, "web1", "10.100.0.3")
    assert not ok and summary == "no frame from web1 to 10.100.0.3 seen on the underlay"


def test_isolation_reads_who_answered_and_fdb_what_is_permanent() -> None:
    from netlab.verify.checks.fdb import permanent_entries
    from netlab.verify.checks.isolation import parse_neigh

    neigh = "10.100.0.2 lladdr 52:54:9f:9e:c9:76 REACHABLE \n10.100.0.3 INCOMPLETE \n"
    assert parse_neigh(neigh) == {"10.100.0.2": "52:54:9f:9e:c9:76"}
    fdb = ("52:54:a9:4f:69:df dst 192.168.50.6 self permanent\n"
           "52:54:9f:9e:c9:76 dst 192.168.50.5 self\n"
           "52:54:9f:9e:c9:76 master br100 static\n"
           "00:00:00:00:00:00 dst 192.168.50.5 self permanent\n")
    assert permanent_entries(fdb) == {("52:54:a9:4f:69:df", "192.168.50.6"), ("00:00:00:00:00:00", "192.168.50.5")}


def test_bridge_problems_from_a_device_list() -> None:
    from netlab.verify.checks.bridge import bridge_problems

    lab = catalog.load("vxlan-static")
    t = lab.tunnel("vxlan100")
    links = {
        "br100": {"ifname": "br100", "flags": ["BROADCAST", "MULTICAST"]},
        "vxlan100": {"ifname": "vxlan100", "master": "br100", "flags": ["UP"],
                     "linkinfo": {"info_kind": "vxlan", "info_data": {"learning": True},
                                  "info_slave_data": {"neigh_suppress": True}}},
        "tn-web3": {"ifname": "tn-web3", "master": "br200", "flags": ["UP"]},
        "tn-web4": {"ifname": "tn-web4", "master": "br100", "flags": []},
    }
    found = {p.kind: p for p in bridge_problems(lab, "boxC", t, links)}
    assert set(found) == {"bridge-down", "tenant-master", "tenant-down", "learning"}
    assert (found["tenant-master"].tenant, found["tenant-master"].actual) == ("web3", "br200")
    assert found["tenant-down"].tenant == "web4"
    assert found["learning"].text == "vxlan100 on boxC has learning on, mode static says nolearning"
    del links["br100"]
    assert [p.kind for p in bridge_problems(lab, "boxC", t, links)] == ["bridge-missing"]
