"""Stable MAC addresses: the same lab, host and device always get the same one."""

from __future__ import annotations

import hashlib


def stable_mac(*parts: str, prefix: str = "52:54") -> str:
    """A locally administered unicast MAC starting with `prefix`, the rest derived from `parts`."""
    free = 6 - len(prefix.split(":"))
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return prefix + ":" + ":".join(f"{b:02x}" for b in digest[:free])
