"""How a lab is rendered for one provider: connection variables, box, wire, memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RenderOptions:
    provider: str
    # Per-host connection variables for inventory.yml (how Ansible reaches each host).
    connection: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Variables for every host (e.g. netlab_dir, netlab_boot_unit for netns).
    group_vars: dict[str, Any] = field(default_factory=dict)
    box: str | None = None
    memory: int = 512
    libvirt_driver: str = "kvm"
    mcast: tuple[str, int] = ("239.255.77.1", 47001)
    connection_plugins: bool = False
