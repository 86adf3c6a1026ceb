"""Before anything changes on an existing machine: one SSH round trip per host that reads what
netlab needs to know, and the checks on it, each failure one line naming the host.

The script reads (as the login user) the user id, passwordless sudo, python3 and systemd; then,
as root, the underlay interface, the device names, the tools the checks use, and which of the
lab's tunnel types the kernel has: each probed with `ip link add` in a throw-away `unshare -n`
namespace (or, without unshare, a test device deleted at once), as the netns provider probes its
own kernel. It changes nothing.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from netlab.model import Lab
from netlab.providers.ssh.targets import Target

CHECK_TOOLS = ("ping", "fping", "tcpdump", "timeout")


@dataclass
class Facts:
    """What the script found on one host."""

    reached: bool = False
    error: str = ""  # why SSH failed
    uid: str = ""
    sudo: str = ""  # root | yes | no
    python: bool = False
    systemd: bool = False
    link: dict[str, Any] | None = None  # `ip -j addr show dev UNDERLAY`, or None if missing
    devices: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)  # tunnel types the kernel has
    missing_tools: list[str] = field(default_factory=list)


def probe_script(lab: Lab, host: str) -> str:
    """The script sent on stdin to `sh -s` on the host."""
    iface = lab.underlay.interface
    kinds = {t.kind.name: t.kind for t in lab.tunnels_of(host)}
    in_netns = "; ".join(f"{{ {' && '.join(kind.probe_commands(f'p{i}'))}; }} >/dev/null 2>&1 && echo kind={name}"
                         for i, (name, kind) in enumerate(sorted(kinds.items())))
    # In place, every device a probe made goes again (a VLAN's veth pair: netlabprobe0a/b).
    in_place = "; ".join(f"if {{ {' && '.join(kind.probe_commands('netlabprobe0'))}; }} >/dev/null 2>&1; "
                         f"then echo kind={name}; fi; ip link del netlabprobe0 2>/dev/null; "
                         "ip link del netlabprobe0a 2>/dev/null" for name, kind in sorted(kinds.items()))
    tools = " ".join(CHECK_TOOLS)
    root_part = f"""
echo @link; ip -j addr show dev {iface} 2>/dev/null || echo null
echo @devices; ip -j link show 2>/dev/null || echo '[]'
echo @tools
for t in {tools}; do command -v "$t" >/dev/null 2>&1 || echo "missing=$t"; done
echo @kinds
if command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
  unshare -n sh -c '{in_netns or 'true'}'
else
  {in_place or 'true'}
fi
"""
    return f"""export PATH="$PATH:/usr/sbin:/sbin"
echo "uid=$(id -u)"
if [ "$(id -u)" = 0 ]; then echo sudo=root; sudo=""
elif sudo -n true </dev/null 2>/dev/null; then echo sudo=yes; sudo="sudo -n"
else echo sudo=no; exit 0; fi
command -v python3 >/dev/null 2>&1 && echo python=yes || echo python=no
[ -d /run/systemd/system ] && echo systemd=yes || echo systemd=no
$sudo sh -s <<'NETLAB_ROOT'
export PATH="$PATH:/usr/sbin:/sbin"
{root_part}
NETLAB_ROOT
"""


def parse_facts(returncode: int, stdout: str, stderr: str) -> Facts:
    facts = Facts()
    if returncode == 255 or "uid=" not in stdout:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        facts.error = lines[-1] if lines else f"ssh exited with {returncode} and said nothing"
        return facts
    facts.reached = True
    section = ""
    for line in stdout.splitlines():
        if line.startswith("@"):
            section = line[1:]
            continue
        key, _, value = line.partition("=")
        if section == "":
            if key == "uid":
                facts.uid = value
            elif key == "sudo":
                facts.sudo = value
            elif key == "python":
                facts.python = value == "yes"
            elif key == "systemd":
                facts.systemd = value == "yes"
        elif section == "link":
            facts.link = _json_first(line)
        elif section == "devices":
            facts.devices = {d.get("ifname", "") for d in _json_list(line)}
        elif section == "tools" and key == "missing":
            facts.missing_tools.append(value)
        elif section == "kinds" and key == "kind":
            facts.kinds.add(value)
    return facts


def _json_list(line: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(line)
    except ValueError:
        return []
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _json_first(line: str) -> dict[str, Any] | None:
    found = _json_list(line)
    return found[0] if found else None


def problems(lab: Lab, target: Target, facts: Facts, first_time: bool, ssh_config: str) -> list[str]:
    """What stops netlab from configuring this host, one line each (empty: go ahead)."""
    host = target.host
    if not facts.reached:
        return [f"host {host} ({target.describe()}): cannot log in over SSH: {facts.error} "
                f"(try: ssh -F {ssh_config} {host})"]
    if facts.sudo == "no":
        return [f"host {host}: user {target.user or '(default)'} is not root and has no passwordless sudo "
                "(`sudo -n true` failed); netlab needs root there"]
    out = []
    if not facts.python:
        out.append(f"host {host}: python3 is not installed (Ansible needs it to configure the host)")
    iface = lab.underlay.interface
    want = ipaddress.ip_interface(f"{lab.hosts[host].ip}/{_prefix(lab, host)}")
    link = facts.link
    if link is None:
        out.append(f"host {host}: has no interface {iface} (the lab's underlay interface; the host has: "
                   f"{', '.join(sorted(facts.devices - {'lo'})) or 'none'})")
    elif not target.configure_underlay:
        have = {ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}") for a in link.get("addr_info", [])
                if "local" in a}
        if want not in have:
            out.append(f"host {host}: {iface} does not have the lab's underlay address {want} (it has: "
                       f"{', '.join(sorted(map(str, have))) or 'none'}); set it up, or set "
                       "netlab_configure_underlay: true for this host in the inventory and netlab adds it")
        if link.get("mtu") != lab.underlay.mtu:
            out.append(f"host {host}: {iface} has MTU {link.get('mtu')}, the lab's underlay says {lab.underlay.mtu}")
        if "UP" not in link.get("flags", []):
            out.append(f"host {host}: {iface} is down")
    for t in lab.tunnels_of(host):
        if t.kind.name not in facts.kinds:
            out.append(f"host {host}: its kernel has no {t.kind.name} (tunnel {t.name} needs it)")
        if first_time and t.name in facts.devices:
            out.append(f"host {host}: a device {t.name} exists already and netlab did not make it; "
                       "remove it, or rename the lab's tunnel")
    return out


def _prefix(lab: Lab, host: str) -> int:
    ip = lab.hosts[host].ip
    segment = lab.underlay.segment_of(str(ip)) or next(iter(lab.underlay.networks))
    return lab.underlay.networks[segment].prefixlen
