"""Provider registry and the choice of provider for a lab."""

from __future__ import annotations

import importlib

from netlab.errors import NetlabError
from netlab.model import Lab
from netlab.providers.base import Availability, Provider
from netlab.settings import settings

PROVIDER_NAMES = ("virtualbox", "libvirt", "qemu", "netns", "ssh")


# Provider classes by name, imported only when used (each pulls in its own tools).
_CLASSES = {
    "netns": ("netlab.providers.netns", "NetnsProvider"),
    "qemu": ("netlab.providers.qemu", "QemuProvider"),
    "virtualbox": ("netlab.providers.vagrant", "VirtualboxProvider"),
    "libvirt": ("netlab.providers.vagrant", "LibvirtProvider"),
    "ssh": ("netlab.providers.ssh", "SshProvider"),
}
# The order in which a provider is picked when none is asked for (libvirt and ssh only on request).
DEFAULT_ORDER = ("virtualbox", "netns", "qemu")


def provider_class(name: str) -> type[Provider]:
    if name not in _CLASSES:
        raise NetlabError(f"unknown provider {name!r}", hint=f"use one of: {', '.join(PROVIDER_NAMES)}")
    module_name, class_name = _CLASSES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise NetlabError(
            f"provider {name} cannot bring labs up in this version of netlab",
            hint=f"use --provider netns, or `netlab render LAB --provider {name}` for its files",
        ) from None
    return getattr(module, class_name)


def choose(lab: Lab, requested: str | None, remembered: str | None) -> tuple[str, str]:
    """(provider, why): --provider, else the lab's running provider, else NETLAB_PROVIDER, else
    the first provider that can run this lab here."""
    if requested:
        if remembered and remembered != requested:
            raise NetlabError(
                f"lab {lab.name} is up with provider {remembered}, not {requested}",
                hint=f"netlab down {lab.name} first, or drop --provider",
            )
        return requested, "asked for with --provider"
    if remembered:
        return remembered, f"lab {lab.name} is up with it"
    env = settings().provider
    if env:
        if env not in PROVIDER_NAMES:
            raise NetlabError(f"NETLAB_PROVIDER={env} is not a provider",
                              hint=f"use one of: {', '.join(PROVIDER_NAMES)}")
        return env, "from NETLAB_PROVIDER"
    reasons = []
    for name in DEFAULT_ORDER:
        try:
            avail: Availability = provider_class(name).availability(lab)
        except NetlabError as exc:
            avail = Availability(False, exc.message)
        if avail.ok:
            # Say why the ones before were passed over: "netns: this kernel has no gre".
            # (VirtualBox missing is the normal case on Linux: not worth a mention.)
            passed_over = [r for r in reasons if not r.startswith("virtualbox:")]
            return name, "; ".join([*passed_over, avail.reason])
        reasons.append(f"{name}: {avail.reason}")
    raise NetlabError(
        f"no provider can run lab {lab.name} on this machine ({'; '.join(reasons)})",
        hint="run `netlab doctor` to see what each provider needs",
    )
