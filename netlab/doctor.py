"""`netlab doctor`: which providers work here, and what each one lacks."""

from __future__ import annotations

from netlab.errors import NetlabError
from netlab.providers import PROVIDER_NAMES, provider_class
from netlab.providers.base import Availability


def diagnose() -> list[tuple[str, Availability]]:
    out = []
    for name in PROVIDER_NAMES:
        try:
            avail = provider_class(name).availability(None)
        except NetlabError as exc:
            avail = Availability(False, exc.message, exc.hint or "")
        out.append((name, avail))
    return out
