"""The tunnel types netlab knows: one module each, registered here by name.

Adding a type is one module beside these (a `TunnelType` subclass and `TYPE = ...`), its entry
below, and one template `roles/overlay/templates/tunnels/<type>.j2`; docs/architecture.md walks
through it.
"""

from __future__ import annotations

from netlab.tunnels import geneve, gre, gretap, ipip, sit, vlan, vxlan
from netlab.tunnels.base import TunnelType

# In the order lab files, the schema and the docs list them.
TUNNEL_TYPES: dict[str, TunnelType] = {
    m.TYPE.name: m.TYPE for m in (vxlan, geneve, gre, gretap, vlan, ipip, sit)
}
TYPE_NAMES: tuple[str, ...] = tuple(TUNNEL_TYPES)
# The kernel's own fallback devices of every type (see TunnelType.kernel_devices).
KERNEL_DEVICES: frozenset[str] = frozenset(d for t in TUNNEL_TYPES.values() for d in t.kernel_devices)


def types_with(attribute: str, joiner: str = " and ") -> str:
    """"vxlan and geneve": the types that have a fact, for messages ("vni is for ...")."""
    names = [t.name for t in TUNNEL_TYPES.values() if getattr(t, attribute)]
    return joiner.join(names)


__all__ = ["KERNEL_DEVICES", "TUNNEL_TYPES", "TYPE_NAMES", "TunnelType", "types_with"]
