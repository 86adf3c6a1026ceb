"""Stable MAC addresses: the same lab, host and device always get the same one."""

from __future__ import annotations

import hashlib


def stable_mac(*parts: str) -> str:
    """A locally administered unicast MAC (52:54:xx:xx:xx:xx) derived from `parts`."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "52:54:" + ":".join(f"{b:02x}" for b in digest[:4])
