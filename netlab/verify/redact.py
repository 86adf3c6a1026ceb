"""`--no-hints`: hide every value a student should find out for themselves.

The checks, their ids, their commands and the diagnosis are written with the lab's values in
them (`socket[boxA udp/4789]`, `ss -Hlun sport = :4789`, an fdb entry's MAC and underlay IP).
Rather than teach every check two ways of speaking, every text that leaves verify or grade
without hints goes through one `Redactor`, which replaces each of the lab's expected values
(ports, groups, VNIs and keys, tunnel and underlay addresses) and every MAC address with `?`.
One place to get right, and nothing a check adds later slips through.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from netlab.model import Lab

HIDDEN = "?"
_MAC = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:])")


def expected_values(lab: Lab) -> set[str]:
    """The lab's values a student must find: per tunnel its identifier (VNI or key), port, group,
    MTU and endpoint addresses; the tenants' addresses; the hosts' underlay addresses (an fdb entry maps a MAC to one).
    Not the TTL: a one-digit number is in every line of text; the check ids never carry it."""
    values: set[str] = set()
    for t in lab.tunnels:
        for number in (t.vni, t.key, t.effective_dstport):
            if number is not None:
                values.add(str(number))
        if t.group is not None:
            values.add(str(t.group))
        # The tunnel's MTU, and the ping sizes the mtu check derives from it (IPv4/IPv6 + ICMP).
        mtu = t.effective_mtu(lab.underlay.mtu)
        values.update(str(mtu - headers) for headers in (0, 28, 27, 48, 47))
        for address in t.addresses.values():
            values.add(str(ipaddress.ip_interface(address).ip))
    for tenant in lab.tenants.values():
        values.add(str(tenant.interface.ip))
    for host in lab.hosts.values():
        values.add(str(host.ip))
    return values


class Redactor:
    """Replaces a lab's expected values in text. `Redactor(None)` leaves text as it is (hints on)."""

    def __init__(self, lab: Lab | None) -> None:
        self.active = lab is not None
        values = sorted(expected_values(lab), key=len, reverse=True) if lab is not None else []
        # A value counts only as a whole token: 192.168.60.4 is not hidden inside 192.168.60.45,
        # nor 100 inside 1000 (but in "100%", ":4789" or "id 100" it is). MACs go first.
        alternatives = "|".join(re.escape(v) for v in values)
        self._values = (re.compile(rf"(?<![\w.])(?:{alternatives})(?!\w|\.\d)") if values else None)

    def __call__(self, text: str) -> str:
        if not self.active or not text:
            return text
        text = _MAC.sub(HIDDEN, text)
        return self._values.sub(HIDDEN, text) if self._values is not None else text

    def data(self, value: Any) -> Any:
        """Every string inside JSON-shaped data, redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        return value


SHOW_ALL = Redactor(None)
