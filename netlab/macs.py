"""Stable MAC addresses: the same lab, host and device always get the same one."""

from __future__ import annotations

import hashlib


def stable_mac(*parts: str, prefix: str = "52:54") -> str:
    """A locally administered unicast MAC starting with `prefix`, the rest derived from `parts`."""
    free = 6 - len(prefix.split(":"))
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return prefix + ":" + ":".join(f"{b:02x}" for b in digest[:free])


def tunnel_mac(host: str, tunnel: str) -> str:
    """The MAC of `host`'s Ethernet tunnel device. Not derived from the lab's name: an instance
    (`up lab10 --name s1`) is the same lab, so `explain lab10` (the commands a student types)
    and `explain s1` give the same MACs, and a device a student built from them is not rebuilt
    by the next `up s1`. Host and tunnel names are unique in a lab, and no two labs share an
    overlay, so that is unique where it matters."""
    return stable_mac(host, tunnel)


def tenant_mac(tenant: str) -> str:
    """The MAC of a tenant's eth0 (tenant names are unique in a lab, and differ from hosts')."""
    return stable_mac(tenant, "eth0")
