"""explain renders the seed labs' exact commands from the role templates."""

from __future__ import annotations

from typer.testing import CliRunner

from netlab import catalog
from netlab.cli import app
from netlab.explain import budgets
from netlab.render.scripts import batches, host_script

runner = CliRunner()


def commands(lab: str, host: str) -> list[str]:
    return host_script(catalog.load(lab), host).commands


def test_lab9_is_the_seed_point_to_point_vxlan() -> None:
    assert "ip link add vxlan0 type vxlan id 100 remote 192.168.50.5 dstport 4789 dev enp0s8" in commands(
        "lab9", "boxA"
    )
    assert "ip link add vxlan0 type vxlan id 100 remote 192.168.50.4 dstport 4789 dev enp0s8" in commands(
        "lab9", "boxB"
    )
    assert commands("lab9", "boxB")[-2:] == ["ip addr add 192.168.60.5/24 dev vxlan0", "ip link set vxlan0 up"]
    assert commands("lab9", "boxA")[-3] != commands("lab9", "boxB")[-3]  # a MAC of its own per host


def test_lab10_is_the_seed_multicast_vxlan_with_ttl_5() -> None:
    for host, last in (("boxA", 4), ("boxB", 5), ("boxC", 6)):
        cmds = commands("lab10", host)
        seed = [
            "ip link add vxlan0 type vxlan id 100 group 239.255.0.1 ttl 5 dstport 4789 dev enp0s8",
            f"ip addr add 192.168.60.{last}/24 dev vxlan0",
            "ip link set vxlan0 up",
        ]
        assert [c for c in cmds if c in seed] == seed  # all there, in this order
        # netlab adds one line: a fixed MAC, so the peers' caches survive a reboot.
        assert cmds[-3].startswith("ip link set vxlan0 address 52:54:")
        assert f"ip addr replace 192.168.50.{last}/24 dev enp0s8" in cmds


def test_explain_cli_prints_commands_and_mtu_budget() -> None:
    result = runner.invoke(app, ["explain", "lab10"])
    assert result.exit_code == 0, result.output
    assert "ip link add vxlan0 type vxlan id 100 group 239.255.0.1 ttl 5 dstport 4789 dev enp0s8" in result.output
    assert "50 bytes of encapsulation" in result.output
    assert "tunnel MTU 1450" in result.output
    for host in ("boxA (192.168.50.4)", "boxB (192.168.50.5)", "boxC (192.168.50.6)"):
        assert host in result.output


def test_flood_mode_lists_every_peer_in_the_fdb() -> None:
    cmds = commands("vxlan-flood", "h1")
    assert "ip link add vxlan0 type vxlan id 200 local 10.10.0.11 dstport 4789 dev enp0s8" in cmds
    floods = [c for c in cmds if c.startswith("bridge fdb append")]
    assert floods == [
        f"bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 10.10.0.{n}" for n in (12, 13, 14)
    ]


def test_every_tunnel_type_renders_its_own_template() -> None:
    expected = {
        "gre": "ip link add gre1 type gre local 192.168.50.11 remote 192.168.50.12 ttl 64",
        "gretap": "ip link add gretap1 type gretap local 192.168.50.21 remote 192.168.50.22 key 42",
        "geneve": "ip link add gnv0 type geneve id 300 remote 192.168.50.5 dstport 6081",
        "ipip": "ip link add ipip1 type ipip local 192.168.50.31 remote 192.168.50.32",
        "sit": "ip link add sit1 type sit local 192.168.50.41 remote 192.168.50.42",
    }
    for lab, line in expected.items():
        model = catalog.load(lab)
        first = next(iter(model.hosts))
        assert line in host_script(model, first).commands, lab


def test_mtu_budgets_match_the_encapsulation() -> None:
    mtus = {lab: budgets(catalog.load(lab))[0].mtu for lab in
            ("lab9", "gre", "gretap", "geneve", "ipip", "sit")}
    # VXLAN/GENEVE 50, GRE 24, gretap with key 20+4+4+14, IPIP/SIT 20.
    assert mtus == {"lab9": 1450, "gre": 1476, "gretap": 1458, "geneve": 1450, "ipip": 1480, "sit": 1480}


def test_batches_group_ip_and_bridge_commands_in_order() -> None:
    groups = batches(["ip link add a", "ip link set a up", "bridge fdb append x", "ip addr add y"])
    assert groups == [("ip", ["link add a", "link set a up"]), ("bridge", ["fdb append x"]), ("ip", ["addr add y"])]
