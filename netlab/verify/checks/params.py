"""params: the device has the lab's type, VNI/key, port, group, TTL, local/remote, dev, MTU, address."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from netlab.model import Lab, Tunnel
from netlab.verify.checks.base import Case, PerCaseCheck, host_tunnels
from netlab.verify.context import Context, Evidence, Outcome


def parse_link(stdout: str) -> dict[str, Any] | None:
    """The device from `ip -d -j addr show dev DEV` output, or None (no device, not JSON)."""
    try:
        parsed = json.loads(stdout)
    except ValueError:
        return None
    if not isinstance(parsed, list) or not parsed or not isinstance(parsed[0], dict):
        return None
    return parsed[0]


def show_link(ctx: Context, host: str, device: str) -> tuple[dict[str, Any] | None, Evidence]:
    """`ip -d -j addr show dev DEVICE` on host: link parameters and addresses in one call."""
    ev = ctx.sh(host, f"ip -d -j addr show dev {device}")
    data = parse_link(ev.stdout) if ev.rc == 0 else None
    ctx.remember(("link", host, device), data)
    return data, ev


def cached_link(ctx: Context, host: str, device: str) -> dict[str, Any] | None:
    """The device as params saw it, or fetched now when params has not run (yet)."""
    known, data = ctx.recall(("link", host, device))
    return data if known else show_link(ctx, host, device)[0]


def compare(lab: Lab, host: str, t: Tunnel, link: dict[str, Any]) -> list[str]:
    """What differs between the device `ip -d -j addr show` reported and the lab (empty: nothing)."""
    problems = []
    info = link.get("linkinfo", {})
    if info.get("info_kind") != t.type:
        problems.append(f"type is {info.get('info_kind')}, lab says {t.type}")
    data = info.get("info_data", {}) or {}
    want = t.kind.expected_params(lab, host, t)
    if "link" in want and "link" not in data and "link" in link:
        # Some iproute2 versions print the lower device beside info_data, not in it.
        data = {**data, "link": link["link"]}
    for key, allowed in want.items():
        actual = data.get(key)
        if actual is None or str(actual) not in allowed:
            problems.append(f"{key} is {actual}, lab says {sorted(allowed)[0]}")
    if "UP" not in link.get("flags", []):
        problems.append("the device is down")
    mtu = t.effective_mtu(lab.underlay.mtu)
    if link.get("mtu") != mtu:
        problems.append(f"mtu is {link.get('mtu')}, expected {mtu}")
    address = ipaddress.ip_interface(t.endpoints[host])
    have = {
        ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
        for a in link.get("addr_info", [])
        if "local" in a
    }
    if address not in have:
        has = ", ".join(sorted(map(str, have))) or "none"
        problems.append(f"address {address} missing (has {has})")
    return problems


class ParamsCheck(PerCaseCheck):
    name = "params"
    proves = "the device has the lab's type, VNI/key, port, group, TTL, local/remote, dev, MTU, address"

    def cases(self, lab: Lab) -> list[Case]:
        return [Case(self.name, h, f"{h} {t.name}", t.name) for h, t in host_tunnels(lab)]

    def judge(self, ctx: Context, case: Case, t: Tunnel) -> Outcome:
        link, ev = show_link(ctx, case.host, t.name)
        if link is None:
            return Outcome(False, f"no device {t.name} on {case.host}", [ev])
        problems = compare(ctx.lab, case.host, t, link)
        summary = "; ".join(problems) if problems else f"{t.type} as the lab says"
        return Outcome(not problems, summary, [ev])
