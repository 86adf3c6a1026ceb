"""Render the roles' templates in Python: the commands a host runs, exactly as Ansible renders them.

Ansible's template module uses Jinja2 with trim_blocks on and lstrip_blocks off; this
environment matches, so `netlab explain`, the netns fast path and the Ansible role agree.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

from netlab.model import Lab
from netlab.package_data import overlay_templates_dir, router_templates_dir, underlay_templates_dir
from netlab.render.hostvars import host_vars, router_vars


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in (overlay_templates_dir(), underlay_templates_dir(),
                                                          router_templates_dir())]),
        trim_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # shell commands, not HTML
    )
    # Ansible's filters the roles use: quote (every value a shell reads goes through it) and bool.
    env.filters["quote"] = shlex.quote
    env.filters["bool"] = lambda value: str(value).strip().lower() in ("1", "true", "yes", "on")
    return env


def render_template(name: str, variables: dict[str, Any]) -> str:
    return _environment().get_template(name).render(**variables)


@dataclass(frozen=True)
class HostScript:
    """The commands that configure one host, split into the underlay and the overlay part."""

    host: str
    underlay: str
    overlay: str

    @property
    def commands(self) -> list[str]:
        return command_lines(self.underlay) + command_lines(self.overlay)


def command_lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip() and not line.startswith("#")]


def host_script(lab: Lab, host: str, variables: dict[str, Any] | None = None) -> HostScript:
    hv = {"inventory_hostname": host, "netlab_dir": "/etc/netlab", **host_vars(lab, host)}
    if variables:
        hv.update(variables)
    return HostScript(
        host,
        render_template("underlay.sh.j2", hv),
        render_template("overlay.sh.j2", hv),
    )


@dataclass(frozen=True)
class RouterScript:
    """What configures one router: its `ip` commands and its static multicast routes."""

    router: str
    script: str  # router.sh
    smcroute: str  # smcroute.conf

    @property
    def commands(self) -> list[str]:
        return ["sysctl -w net.ipv4.ip_forward=1", *command_lines(self.script)]

    @property
    def mroutes(self) -> list[str]:
        return command_lines(self.smcroute)


def router_script(lab: Lab, router: str, variables: dict[str, Any] | None = None) -> RouterScript:
    rv = {"inventory_hostname": router, "netlab_dir": "/etc/netlab", **router_vars(lab, router), **(variables or {})}
    return RouterScript(router, render_template("router.sh.j2", rv), render_template("smcroute.conf.j2", rv))


def router_installer(lab: Lab, router: str, variables: dict[str, Any]) -> str:
    """The router role's installer script (what Ansible sends on stdin), for the fast path."""
    rv = {"inventory_hostname": router, **router_vars(lab, router), **variables}
    return render_template("install-router.sh.j2", rv)


def batches(commands: list[str]) -> list[tuple[str, list[str]]]:
    """Group consecutive commands by tool (`ip`, `bridge`) for `ip -batch` / `bridge -batch`.
    A command for a tenant's namespace (`ip -n NS ...`) keeps its option: the tool is `ip -n NS`."""
    out: list[tuple[str, list[str]]] = []
    for cmd in commands:
        words = cmd.split(" ")
        tool, rest = words[0], words[1:]
        if tool == "ip" and rest[:1] == ["-n"] and len(rest) > 2:
            tool, rest = f"ip -n {rest[1]}", rest[2:]
        if tool.split(" ")[0] not in ("ip", "bridge"):
            raise ValueError(f"not an ip or bridge command: {cmd}")
        line = " ".join(rest)
        if out and out[-1][0] == tool:
            out[-1][1].append(line)
        else:
            out.append((tool, [line]))
    return out
