"""The diagnosis names the fault first: each test breaks a running lab by hand (real `ip`
commands on one host, through provider.run) and checks the first cause. Needs root (netns)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netlab import catalog
from netlab.lifecycle import Session
from netlab.verify.runner import VerifyResult, run_verify

from .conftest import needs_root, netns_cannot_run, netns_lab

pytestmark = [needs_root, pytest.mark.root]

# (catalog lab, the name it runs under here: no other test uses these)
LABS = {"lab10": "dg-lab10", "vxlan-flood": "dg-flood", "lab9": "dg-lab9", "lab10-routed": "dg-routed"}


@pytest.fixture
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    why = netns_cannot_run(request.param)
    if why:
        pytest.skip(why)
    data = yaml.safe_load(catalog.resolve(request.param).read_text())
    data["name"] = LABS[request.param]
    path = tmp_path / f"{data['name']}.yml"
    path.write_text(yaml.safe_dump(data))
    with netns_lab(str(path)) as session:
        yield session


def sh(session: Session, host: str, *commands: str) -> None:
    for command in commands:
        result = session.provider.run(host, command.split())
        assert result.ok, f"{command}: {result.stderr}"


def first_cause(session: Session, only: list[str] | None = None) -> tuple[VerifyResult, object]:
    result = run_verify(session.lab, session.provider, only=only)
    assert not result.passed
    assert result.causes, "failures without a cause"
    explained = {i for c in result.causes for i in c.explains}
    assert explained == {c.id for c in result.failed}, "every failure is explained"
    return result, result.causes[0]


def rebuild(session: Session, host: str, options: str, address: str) -> None:
    """Replace host's vxlan0 with one made with `options`."""
    sh(session, host, "ip link del vxlan0", f"ip link add vxlan0 type vxlan {options}",
       f"ip addr add {address} dev vxlan0", "ip link set vxlan0 up")


MULTICAST = "group 239.255.0.1 ttl 5 dstport 4789 dev enp0s8"


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_wrong_vni(running: Session) -> None:
    rebuild(running, "boxB", f"id 101 {MULTICAST}", "192.168.60.5/24")
    result, cause = first_cause(running)
    assert (cause.host, cause.device, cause.param) == ("boxB", "vxlan0", "id")
    assert "id is 101, lab says 100" in cause.summary
    assert "ping[boxA->boxB vxlan0]" in cause.explains and "params[boxB vxlan0]" in cause.explains
    assert cause.student == "vxlan0 on boxB: id is wrong"
    assert len(result.causes) == 1


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_wrong_port(running: Session) -> None:
    rebuild(running, "boxB", "id 100 group 239.255.0.1 ttl 5 dstport 4790 dev enp0s8", "192.168.60.5/24")
    _, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxB", "port")
    assert "port is 4790, lab says 4789" in cause.summary
    assert "socket[boxB udp/4789]" in cause.explains


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_missing_ttl_says_what_0_means(running: Session) -> None:
    rebuild(running, "boxB", "id 100 group 239.255.0.1 dstport 4789 dev enp0s8", "192.168.60.5/24")
    _, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxB", "ttl")
    assert "ttl is 0 (= inherit, so multicast leaves with TTL 1), lab says 5" in cause.summary
    assert "ttl is 0," not in cause.summary


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_wrong_group(running: Session) -> None:
    rebuild(running, "boxB", "id 100 group 239.255.0.2 ttl 5 dstport 4789 dev enp0s8", "192.168.60.5/24")
    _, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxB", "group")
    assert "group is 239.255.0.2, lab says 239.255.0.1" in cause.summary
    assert "maddr[boxB vxlan0 239.255.0.1]" in cause.explains


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_device_down(running: Session) -> None:
    sh(running, "boxB", "ip link set vxlan0 down")
    _, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxB", "state")
    assert "the device is down" in cause.summary


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_device_missing(running: Session) -> None:
    sh(running, "boxB", "ip link del vxlan0")
    result, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxB", "missing")
    assert "no device vxlan0 on boxB" in cause.summary
    assert len(result.causes) == 1


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_underlay_nic_down(running: Session) -> None:
    sh(running, "boxC", "ip link set enp0s8 down")
    _, cause = first_cause(running)
    assert (cause.host, cause.check, cause.device) == ("boxC", "underlay", "enp0s8")
    assert "enp0s8 on boxC is down" in cause.summary
    assert "ping[boxA->boxC vxlan0]" in cause.explains


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_wrong_overlay_address(running: Session) -> None:
    sh(running, "boxB", "ip addr del 192.168.60.5/24 dev vxlan0", "ip addr add 192.168.60.50/24 dev vxlan0")
    _, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxB", "address")
    assert "address is 192.168.60.50/24, lab says 192.168.60.5/24" in cause.summary


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_another_hosts_address_instead_of_its_own(running: Session) -> None:
    sh(running, "boxB", "ip addr del 192.168.60.5/24 dev vxlan0", "ip addr add 192.168.60.4/24 dev vxlan0")
    _, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxB", "duplicate")
    assert "192.168.60.4 is also on boxA" in cause.summary


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_a_duplicated_address_beside_its_own(running: Session) -> None:
    # boxB keeps its address and takes boxA's too: today's params no longer pass it, and the
    # failures it causes (mtu, ping towards boxA) are put down to it, not to the MTU.
    sh(running, "boxB", "ip addr add 192.168.60.4/24 dev vxlan0")
    result, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxB", "duplicate")
    assert "192.168.60.4 is also on boxA" in cause.summary
    assert "params[boxB vxlan0]" in cause.explains
    assert all(c.param == "duplicate" for c in result.causes)


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_wrong_mask(running: Session) -> None:
    sh(running, "boxB", "ip addr del 192.168.60.5/24 dev vxlan0", "ip addr add 192.168.60.5/16 dev vxlan0")
    _, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxB", "mask")
    assert "mask is /16" in cause.summary and "lab says /24" in cause.summary


@pytest.mark.parametrize("running", ["lab10"], indirect=True)
def test_mtu_not_lowered(running: Session) -> None:
    # The kernel caps a VXLAN device's MTU by its lower device's: raise that for a moment.
    sh(running, "boxB", "ip link set enp0s8 mtu 1550", "ip link set vxlan0 mtu 1500", "ip link set enp0s8 mtu 1500")
    _, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxB", "mtu")
    assert "mtu is 1500, expected 1450" in cause.summary
    assert "mtu[boxB->boxA vxlan0]" in cause.explains


@pytest.mark.parametrize("running", ["lab9"], indirect=True)
def test_wrong_remote(running: Session) -> None:
    rebuild(running, "boxA", "id 100 remote 192.168.50.9 dstport 4789 dev enp0s8", "192.168.60.4/24")
    _, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxA", "remote")
    assert "remote is 192.168.50.9, lab says 192.168.50.5" in cause.summary


@pytest.mark.parametrize("running", ["vxlan-flood"], indirect=True)
def test_wrong_local(running: Session) -> None:
    sh(running, "h2", "ip link del vxlan0", "ip link add vxlan0 type vxlan id 200 local 10.10.0.99 dstport 4789 "
       "dev enp0s8", "ip addr add 172.16.20.2/24 dev vxlan0", "ip link set vxlan0 up",
       *(f"bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 10.10.0.{n}" for n in (11, 13, 14)))
    _, cause = first_cause(running)
    assert (cause.host, cause.param) == ("h2", "local")
    assert "local is 10.10.0.99, lab says 10.10.0.12" in cause.summary


@pytest.mark.parametrize("running", ["vxlan-flood"], indirect=True)
def test_missing_flood_entry(running: Session) -> None:
    sh(running, "h2", "bridge fdb del 00:00:00:00:00:00 dev vxlan0 dst 10.10.0.13")
    _, cause = first_cause(running, only=["fdb", "ping", "params"])
    assert (cause.host, cause.check, cause.param) == ("h2", "fdb", "flood")
    assert "no flood entry for h3" in cause.summary and "10.10.0.13" in cause.summary
    assert "fdb[h2 vxlan0]" in cause.explains


@pytest.mark.parametrize("running", ["lab10-routed"], indirect=True)
def test_low_ttl_on_a_routed_underlay_dies_at_the_router(running: Session) -> None:
    assert run_verify(running.lab, running.provider).passed
    sh(running, "boxC", "ip link set vxlan0 type vxlan ttl 1")
    result, cause = first_cause(running)
    assert (cause.host, cause.param) == ("boxC", "ttl")
    assert "multicast from boxC leaves with TTL 1 and dies at router gw" in cause.summary
    assert "ping[boxA->boxC vxlan0]" in cause.explains
    assert "ping[boxA->boxB vxlan0]" not in cause.explains
    assert all(c.passed for c in (result.outcome(x) for x in result.cases if x.check == "route"))
