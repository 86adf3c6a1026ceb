"""End to end on the netns provider: real namespaces, real ip, real testinfra. Needs root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from netlab import catalog
from netlab.configure import configure
from netlab.errors import NetlabError
from netlab.lifecycle import Session, down, open_lab, up
from netlab.model import load_lab
from netlab.providers.netns import NetnsProvider, kernel_tunnel_types
from netlab.state import LabState
from netlab.verify.runner import run_verify

from .conftest import needs_root, netlab_namespaces, netns_cannot_run, netns_lab, quiet, vxlan_lab, write_lab

pytestmark = [needs_root, pytest.mark.root]

NETLAB = [sys.executable, "-m", "netlab"]


def runnable(lab: str) -> bool:
    return {t.type for t in catalog.load(lab).tunnels} <= kernel_tunnel_types()


def catalog_params() -> list[object]:
    out: list[object] = []
    for entry in catalog.catalog():
        why = netns_cannot_run(entry.name)
        marks = [pytest.mark.skip(reason=why)] if why else []
        out.append(pytest.param(entry.name, marks=marks, id=entry.name))
    return out


@pytest.fixture
def lab_up(request: pytest.FixtureRequest) -> Iterator[Session]:
    with netns_lab(request.param) as session:
        yield session


def failing(result) -> dict[str, set[str]]:  # check name -> hosts that failed it
    out: dict[str, set[str]] = {}
    for case in result.cases:
        if not result.outcome(case).passed:
            out.setdefault(case.check, set()).add(case.host)
    return out


@pytest.mark.parametrize("lab_up", catalog_params(), indirect=True)
def test_catalog_lab_verifies_then_fails_when_broken(lab_up: Session, tmp_path: Path) -> None:
    lab, provider = lab_up.lab, lab_up.provider
    report = tmp_path / "r.xml"
    result = run_verify(lab, provider, junit_xml=report)
    assert result.passed, {c.id: result.outcome(c).summary for c in result.cases if not result.outcome(c).passed}
    checks = {c.check for c in result.cases}
    # A bridged lab's endpoints may have no address: its tenants ping instead of its hosts.
    assert {"params", "fdb", "socket", "mtu", "wire"} <= checks
    assert "ping" in checks if not lab.tenants else {"tenant", "bridge"} <= checks
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    names = {case.get("name") for case in suite.iter("testcase")}
    assert names == {c.id for c in result.cases}

    victim = list(lab.hosts)[-1]
    tunnel = lab.tunnels_of(victim)[0].name
    assert provider.run(victim, ["ip", "link", "del", tunnel]).ok
    broken = run_verify(lab, provider)
    assert not broken.passed
    fails = failing(broken)
    assert victim in fails["params"]
    assert victim in fails.get("socket", set()) or len(lab.tunnels) > 1


@pytest.mark.parametrize("lab_up", ["lab10"], indirect=True)
def test_wrong_vni_and_link_down_are_caught_per_host(lab_up: Session) -> None:
    lab, provider = lab_up.lab, lab_up.provider
    # boxB's VNI changed by hand: boxB fails params, and nobody reaches boxB any more.
    assert provider.run("boxB", ["ip", "link", "del", "vxlan0"]).ok
    for cmd in (
        "ip link add vxlan0 type vxlan id 101 group 239.255.0.1 ttl 5 dstport 4789 dev enp0s8",
        "ip addr add 192.168.60.5/24 dev vxlan0",
        "ip link set vxlan0 up",
    ):
        assert provider.run("boxB", cmd.split()).ok
    result = run_verify(lab, provider, only=["params", "ping"])
    fails = failing(result)
    assert fails["params"] == {"boxB"}
    params = next(c for c in result.cases if c.check == "params" and c.host == "boxB")
    assert "id is 101, lab says 100" in result.outcome(params).summary
    assert fails["ping"] == {"boxA", "boxB", "boxC"}

    # boxC's underlay cable unplugged: its pings fail, the others still reach each other.
    provider.run("boxB", ["ip", "link", "del", "vxlan0"])
    configure(provider, quiet)
    assert run_verify(lab, provider, only=["ping"]).passed
    assert provider.run("boxC", ["ip", "link", "set", "enp0s8", "down"]).ok
    result = run_verify(lab, provider, only=["ping"])
    down_fails = {(c.host, c.peer) for c in result.cases if not result.outcome(c).passed}
    assert ("boxA", "boxB") not in down_fails and ("boxA", "boxC") in down_fails


@pytest.mark.parametrize("lab_up", ["vxlan-isolation"], indirect=True)
def test_isolation_fails_when_two_vnis_are_bridged(lab_up: Session) -> None:
    lab, provider = lab_up.lab, lab_up.provider
    assert run_verify(lab, provider, only=["isolation"]).passed
    # The addresses that never answered are forgotten: no host goes on asking for them (ARP).
    for host in lab.hosts:
        neighbours = provider.run(host, ["ip", "neigh", "show", "nud", "incomplete"]).stdout
        assert "192.168.70." not in neighbours, (host, neighbours)
    # Put boxC on VNI 100 instead of 200: now boxA reaches boxC's address, isolation breaks.
    provider.run("boxC", ["ip", "link", "del", "vxlan200"])
    for cmd in ("ip link add vxlan200 type vxlan id 100 group 239.255.0.1 ttl 5 dstport 4789 dev enp0s8",
                "ip addr add 192.168.70.3/24 dev vxlan200", "ip link set vxlan200 up"):
        assert provider.run("boxC", cmd.split()).ok
    result = run_verify(lab, provider, only=["isolation"])
    assert "boxA" in failing(result)["isolation"]


def test_up_twice_converges_and_down_removes_everything() -> None:
    session = open_lab("lab10", "netns")
    try:
        up(session, quiet)
        up(session, quiet)  # second up: no "File exists", same result
        assert run_verify(session.lab, session.provider).passed
        assert len(netlab_namespaces("lab10")) == 4
    finally:
        down(session, quiet)
    assert netlab_namespaces("lab10") == []
    assert not LabState("lab10").exists


def test_down_after_an_interrupted_up(tmp_path: Path) -> None:
    """A `netlab up` killed before it finishes leaves recorded namespaces; `down` removes them all."""
    # Many hosts: `up` takes long enough to be cut short.
    path = write_lab(tmp_path, vxlan_lab("cut", 48))
    env = {**os.environ}
    proc = subprocess.Popen([*NETLAB, "up", str(path), "--provider", "netns"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not netlab_namespaces("cut") and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The kill came before `up` finished: otherwise this test would prove nothing.
    assert proc.returncode == -signal.SIGKILL, f"up ended by itself (exit {proc.returncode}) before the kill"
    state = LabState("cut")
    assert state.exists, "up records its state before creating anything"
    assert state.read().phase != "up", "up was killed before it finished"
    assert netlab_namespaces("cut"), "the kill came after up had created namespaces"
    result = subprocess.run([*NETLAB, "down", str(path)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert netlab_namespaces("cut") == []
    assert not state.exists


def test_down_after_a_crash_between_create_and_configure() -> None:
    session = open_lab("lab9", "netns")
    state = session.provider.state
    with state.locked():
        state.begin("netns", session.source)
        session.provider.create(quiet)
    assert len(netlab_namespaces("lab9")) == 3
    down(open_lab("lab9"), quiet)  # the state remembers the provider: no flag needed
    assert netlab_namespaces("lab9") == []


def test_two_labs_with_the_same_addresses_run_side_by_side() -> None:
    a, b = open_lab("lab9", "netns"), open_lab("lab10", "netns")
    try:
        up(a, quiet)
        up(b, quiet)
        assert run_verify(a.lab, a.provider).passed
        assert run_verify(b.lab, b.provider).passed
        down(a, quiet)
        assert netlab_namespaces("lab9") == []
        assert len(netlab_namespaces("lab10")) == 4
        assert run_verify(b.lab, b.provider, only=["ping"]).passed
    finally:
        down(a, quiet)
        down(b, quiet)
    assert netlab_namespaces() == []


def link_facts(provider: NetnsProvider, host: str, device: str) -> dict[str, object]:
    raw = provider.run(host, ["ip", "-d", "-j", "addr", "show", "dev", device]).stdout
    link = json.loads(raw)[0]
    return {
        "kind": link["linkinfo"]["info_kind"],
        "data": link["linkinfo"].get("info_data"),
        "mtu": link["mtu"],
        "flags": sorted(link["flags"]),
        "addresses": sorted(f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"] if a["scope"] != "link"),
    }


@pytest.mark.parametrize("lab", ["lab9", "lab10"])
def test_ansible_and_fast_path_build_the_same_links(lab: str) -> None:
    model = catalog.load(lab)
    devices = [(h, t.name) for h in model.hosts for t in model.tunnels_of(h)] + [
        (h, model.underlay.interface) for h in model.hosts
    ]
    snapshots = []
    for via in ("default", "ansible"):
        session = open_lab(lab, "netns")
        try:
            up(session, quiet, via=via)
            provider = session.provider
            assert isinstance(provider, NetnsProvider)
            snapshots.append({f"{h}/{d}": link_facts(provider, h, d) for h, d in devices})
            assert run_verify(session.lab, provider, only=["ping", "params"]).passed
        finally:
            down(session, quiet)
    assert snapshots[0] == snapshots[1]


def test_second_command_on_a_busy_lab_is_refused() -> None:
    state = LabState("lab9")
    with state.locked(), pytest.raises(NetlabError, match="another netlab command"), state.locked(timeout=0.1):
        pass


@pytest.mark.skipif("gre" in kernel_tunnel_types(), reason="this kernel has GRE")
def test_missing_kernel_type_names_it_and_suggests_qemu() -> None:
    proc = subprocess.run([*NETLAB, "up", "gre", "--provider", "netns"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "this kernel has no gre" in proc.stderr
    assert "--provider qemu" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert netlab_namespaces("gre") == []


def test_cli_up_verify_down_lab10(tmp_path: Path) -> None:
    """The README's main job, through the real command line."""
    report = tmp_path / "r.xml"
    try:
        run = subprocess.run([*NETLAB, "up", "lab10"], capture_output=True, text=True, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        assert "using netns" in run.stdout
        run = subprocess.run([*NETLAB, "verify", "lab10", "--junit-xml", str(report)], capture_output=True,
                             text=True, cwd=tmp_path)
        assert run.returncode == 0, run.stdout
        assert "all checks pass" in run.stdout
        status = subprocess.run([*NETLAB, "status", "lab10"], capture_output=True, text=True)
        assert status.returncode == 0 and "192.168.60.4/24" in status.stdout
        run = subprocess.run([*NETLAB, "exec", "lab10", "boxA", "--", "ip", "-br", "link", "show", "vxlan0"],
                             capture_output=True, text=True)
        assert run.returncode == 0 and run.stdout.startswith("vxlan0")
        # capture shows outer and inner headers while boxA pings boxC.
        # (Only packets to boxC: the VTEPs also send IPv6 router solicitations to the group.)
        cap = subprocess.Popen([*NETLAB, "capture", "lab10", "-c", "1", "udp", "port", "4789", "and", "dst", "host",
                                "192.168.50.6"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        subprocess.run([*NETLAB, "exec", "lab10", "boxA", "--", "ping", "-c", "3", "-i", "0.2", "192.168.60.6"],
                       capture_output=True, check=True)
        captured, _ = cap.communicate(timeout=30)
        assert cap.returncode == 0
        assert "VXLAN" in captured and "vni 100" in captured and "192.168.60.6" in captured
        # Break boxB: verify fails and names it.
        subprocess.run([*NETLAB, "exec", "lab10", "boxB", "--", "ip", "link", "del", "vxlan0"], check=True)
        run = subprocess.run([*NETLAB, "verify", "lab10"], capture_output=True, text=True)
        assert run.returncode == 1
        assert "FAIL params[boxB vxlan0] on boxB" in run.stdout
        assert "Traceback" not in run.stdout + run.stderr
    finally:
        subprocess.run([*NETLAB, "down", "lab10"], capture_output=True)
    assert netlab_namespaces("lab10") == []


def unseen_params() -> list[object]:
    out: list[object] = []
    for path in sorted((Path(__file__).parent / "data" / "good").glob("*.yml")):
        missing = sorted({t.type for t in load_lab(path).tunnels} - kernel_tunnel_types())
        marks = [pytest.mark.skip(reason=f"this kernel has no {', '.join(missing)}")] if missing else []
        out.append(pytest.param(path, marks=marks, id=path.stem))
    return out


@pytest.mark.parametrize("path", unseen_params())
def test_lab_files_never_seen_before_come_up_and_verify(path: Path) -> None:
    """Several VNIs in one subnet, other ports and MTUs, flood mode with more hosts."""
    session = open_lab(str(path), "netns")
    try:
        up(session, quiet)
        result = run_verify(session.lab, session.provider)
        assert result.passed, {c.id: result.outcome(c).summary for c in result.cases if not result.outcome(c).passed}
    finally:
        down(session, quiet)
    assert netlab_namespaces(session.lab.name) == []
