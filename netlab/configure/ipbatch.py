"""The fast path: each host's rendered `ip` commands piped into `ip -batch` / `bridge -batch`.

The commands come from the same templates the Ansible role applies (netlab.render.scripts), so
both ways build identical devices; this way costs one process per host and tool instead of an
Ansible run. It converges: a device that already is what the lab says is left alone (same
ifindex, no lost packet); one that differs is rebuilt, one the lab does not have is removed.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from netlab.configure.bridged import (
    bridge_differences,
    global_addresses,
    of_bridge,
    parse_links,
    port_differences,
    static_changes,
    static_differences,
    static_fix,
    tenant_differences,
    tenant_query,
    unit_devices,
)
from netlab.errors import NetlabError
from netlab.model import Lab, Tunnel
from netlab.providers.base import Progress, Provider
from netlab.render.hostvars import host_vars
from netlab.render.scripts import batches, command_lines, host_script, router_installer
from netlab.render.tenants import TENANT_IFNAME, macs_behind, veth_name
from netlab.tunnels import KERNEL_DEVICES

BATCH_TIMEOUT = 60.0
# A batch's bound grows with its work: removing a device can take the kernel ~40 ms.
SECONDS_PER_COMMAND = 0.1
# The device group devices are moved to just before netlab removes them (any other is 0 unless
# someone set it: 0x6e6c, "nl").
REMOVAL_GROUP = 28268


def apply_ip_batch(provider: Provider, progress: Progress, prune: bool = True) -> list[str]:
    """Make every host equal to the lab; returns what changed, one line each. `prune`: also
    remove devices the lab does not have."""
    progress("configuring hosts with ip -batch")
    lab = provider.lab

    def one(machine: str) -> list[str]:
        if machine in lab.routers:
            return configure_router(provider, machine)
        return configure_host(provider, machine, prune)

    workers = max(1, min(16, len(lab.machines)))
    changes: list[str] = []
    if lab.tenants and prune:
        # A tenant moved to another host keeps its namespace: its old cable goes everywhere first,
        # or the new host would find the namespace's eth0 still taken.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            changes += [c for found in pool.map(lambda h: prune_host(provider, h), lab.hosts) for c in found]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        changes += [c for machine_changes in pool.map(one, lab.machines) for c in machine_changes]
    for change in changes:
        progress(change)
    return changes


def prune_host(provider: Provider, host: str) -> list[str]:
    links, _ = current_links(provider, host)
    commands, changes = removal_commands(provider, host, links)
    if commands:
        run_commands(provider, host, commands)
    return changes


def removal_commands(provider: Provider, host: str, links: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Commands that remove the host's virtual devices the lab does not have, and what they say."""
    lab = provider.lab
    wanted = {"lo", lab.underlay.interface, *KERNEL_DEVICES,
              *(d for t in lab.tunnels_of(host) for d in unit_devices(lab, host, t))}
    # Only virtual devices go (they have a kind): a VM's own NICs are never touched.
    extra = [name for name in sorted(set(links) - wanted) if (links[name].get("linkinfo") or {}).get("info_kind")]
    removed = extra if provider.owns_machines else []
    commands: list[str] = []
    changes: list[str] = []
    if len(removed) > 1:
        # Marked with a group of netlab's and removed in one call: the kernel unregisters them as
        # one batch (3000 bridges: ~50 s instead of ~110 s one `ip link del` at a time).
        commands += [f"ip link set {name} group {REMOVAL_GROUP}" for name in removed]
        commands.append(f"ip link del group {REMOVAL_GROUP}")
    else:
        commands += [f"ip link del {name}" for name in removed]
    if len(removed) > 5:
        changes.append(f"{host}: removed {len(removed)} devices not in the lab ({', '.join(removed[:3])}, ...)")
    else:
        changes += [f"{host}: removed {name} (not in the lab)" for name in removed]
    return commands, changes


def configure_host(provider: Provider, host: str, prune: bool = True) -> list[str]:
    lab = provider.lab
    links, host_routes = current_links(provider, host)
    fdb = current_flood_lists(provider, host, [t for t in lab.tunnels_of(host) if t.name in links])
    changes: list[str] = []
    commands: list[str] = ["ip link set lo up"]
    if prune:
        removals, changes = removal_commands(provider, host, links)
        commands += removals
    variables = provider.ansible_group_vars()
    script = host_script(lab, host, variables)
    tenant_links = current_tenant_links(provider, host, links)
    underlay = links.get(lab.underlay.interface)
    why = underlay_differences(lab, host, underlay)
    fresh = underlay is None or not global_addresses(underlay)  # a host netlab has not configured yet
    if why:
        if not fresh:
            if provider.owns_machines:  # an existing machine's (ssh) other addresses stay
                commands.append(f"ip addr flush dev {lab.underlay.interface} scope global")
            changes.append(f"{host}: underlay {lab.underlay.interface} set ({'; '.join(why)})")
        commands += command_lines(script.underlay)
    else:
        missing = [r for r in host_vars(lab, host)["netlab_underlay"]["routes"]
                   if (r["to"], r["via"]) not in host_routes]
        if missing:
            # `ip route replace` converges: the underlay's commands put back what is missing.
            commands += [line for line in command_lines(script.underlay) if line.startswith("ip route ")]
            changes.append(f"{host}: route{'s' if len(missing) > 1 else ''} to "
                           f"{', '.join(r['to'] for r in missing)} put back")
    for t in lab.tunnels_of(host):
        link = links.get(t.name)
        if link is None:
            changes.append(f"{host}: {t.name} created")
            stale = [d for d in unit_devices(lab, host, t) if d in links]
        else:
            own = bridge_differences(lab, host, t, links, tenant_links)
            why = [*device_differences(lab, host, t, link, fdb.get(t.name)), *port_differences(t, links)]
            if why and not own and t.bridge:
                # The bridge is right: the tunnel device alone is remade and joins it again; the
                # tenants stay plugged in (a `reset` after a fault on the device costs them nothing).
                commands += [f"ip link del {t.name}", *port_commands(lab, host, t, variables)]
                changes.append(f"{host}: {t.name} rebuilt ({'; '.join(why)})")
                part_commands, part_changes = part_fixes(provider, host, t, links, tenant_links, None, variables)
                commands += part_commands
                changes += part_changes
                continue
            why += own
            if not why:
                # The tunnel and its bridge are right: only the tenants' cables and the static
                # entries that differ are remade (a tenant added, moved or changed costs the
                # others nothing: their cables keep their ifindex, no packet is lost).
                part_commands, part_changes = part_fixes(provider, host, t, links, tenant_links,
                                                         fdb.get(t.name), variables)
                commands += part_commands
                changes += part_changes
                continue
            stale = [d for d in unit_devices(lab, host, t) if d in links]
            changes.append(f"{host}: {t.name} rebuilt ({'; '.join(why)})")
        # A tunnel and what it carries here are one unit: its bridge and tenants' cables go with it.
        commands += [f"ip link del {d}" for d in stale]
        commands += tunnel_commands(lab, host, t, variables=variables)
    if fresh:
        parts = [lab.underlay.interface, *(t.name for t in lab.tunnels_of(host))]  # nothing was there
        changes = [f"{host}: configured ({', '.join(parts)})"]
    if changes:
        run_commands(provider, host, commands)
    return changes


def part_fixes(provider: Provider, host: str, t: Tunnel, links: dict[str, dict[str, Any]],
               tenant_links: dict[str, dict[str, Any] | None], entries: list[dict[str, Any]] | None,
               variables: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The commands (and what they change) that remake only the tenants' cables and static entries
    of `t` on `host` that differ from the lab."""
    lab = provider.lab
    commands: list[str] = []
    changes: list[str] = []
    # The entries first: a tenant moved here must find no static entry sending its MAC to its old
    # VTEP when its cable comes up (the bridge would move that entry to the cable as it learns).
    fixes = static_fix(lab, host, t, entries)
    if fixes:
        commands += fixes + stale_neighbours(provider, host, t, entries)
    for name, why in tenant_differences(lab, host, t, links, tenant_links).items():
        if veth_name(name) in links:
            commands.append(f"ip link del {veth_name(name)}")  # its eth0 goes with it
        commands += tenant_commands(lab, host, t, name, variables)
        changes.append(f"{host}: tenant {name} cabled to {t.bridge} ({why})")
    if fixes:
        why = "; ".join(static_differences(lab, host, t, entries))
        changes.append(f"{host}: {t.name} static entries updated ({why})")
    return commands, changes


def stale_neighbours(provider: Provider, host: str, t: Tunnel, entries: list[dict[str, Any]] | None) -> list[str]:
    """arp_suppress: the permanent neighbour entries of MACs the lab no longer has (a tenant removed)."""
    if not (t.arp_suppress and t.bridge):
        return []
    wanted = {mac for mac, _, _ in macs_behind(provider.lab, host, t)}
    gone = {mac for mac, _ in static_changes(provider.lab, host, t, entries)[1]} - wanted
    if not gone:
        return []
    result = provider.run(host, ["ip", "-j", "neigh", "show", "dev", t.bridge, "nud", "permanent"])
    try:
        neighbours = json.loads(result.stdout or "[]")
    except ValueError:
        return []
    return [f"ip neigh del {n['dst']} dev {t.bridge}" for n in neighbours
            if isinstance(n, dict) and n.get("lladdr") in gone and "dst" in n]


def port_commands(lab: Lab, host: str, t: Tunnel, variables: dict[str, Any]) -> list[str]:
    """The commands of a bridged tunnel's device alone, made a port of the bridge that is there."""
    lines = tunnel_commands(lab, host, t, {"tenants": []}, variables)
    return [line for line in lines if not of_bridge(line, t.bridge or "")]


def tenant_commands(lab: Lab, host: str, t: Tunnel, tenant: str, variables: dict[str, Any]) -> list[str]:
    """The commands of one tenant's cable, from the same template as the whole unit: the tunnel
    rendered with that tenant alone, less the tunnel rendered with none."""
    tenants = host_vars_tunnel(lab, host, t)["tenants"]
    alone = tunnel_commands(lab, host, t, {"tenants": [v for v in tenants if v["name"] == tenant]}, variables)
    without = set(tunnel_commands(lab, host, t, {"tenants": []}, variables))
    return [line for line in alone if line not in without]


def current_links(provider: Provider, host: str) -> tuple[dict[str, dict[str, Any]], set[tuple[str, str]]]:
    """The host's devices by name (with addresses), and its (destination, gateway) routes."""
    proc = _batch(provider, host, "ip", ["addr show", "route show"], "-d", "-j", check=False)
    lines = [*proc.stdout.splitlines(), "[]", "[]"]
    try:
        links = {link["ifname"]: link for link in json.loads(lines[0] or "[]")}
        routes = {(r.get("dst", ""), r.get("gateway", "")) for r in json.loads(lines[1] or "[]")}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}, set()
    return links, routes


def configure_router(provider: Provider, router: str) -> list[str]:
    """Routers run the router role's own installer (it converges, and starts smcrouted)."""
    connection = provider.ansible_connection(router)
    variables = {"netlab_dir": connection.get("netlab_dir", "/etc/netlab"),
                 "netlab_boot_unit": provider.ansible_group_vars().get("netlab_boot_unit", True)}
    result = provider.run(router, ["sh", "-s"], timeout=BATCH_TIMEOUT,
                          input=router_installer(provider.lab, router, variables))
    if not result.ok:
        raise NetlabError(f"configuring router {router} failed: {result.stderr.strip() or result.stdout.strip()}",
                          hint=f"netlab explain {provider.lab.name} shows the router's commands")
    return [f"{router}: router configured"] if "netlab: changed" in result.stdout else []


def current_flood_lists(provider: Provider, host: str, tunnels: list[Tunnel]) -> dict[str, list[dict[str, Any]]]:
    """For tunnels that name their peers: their own (`self`) fdb entries."""
    named = [t for t in tunnels if t.kind.lists_peers(t)]
    if not named:
        return {}
    proc = _batch(provider, host, "bridge", [f"fdb show dev {t.name}" for t in named], "-j", check=False)
    out: dict[str, list[dict[str, Any]]] = {}
    # One JSON array per command, one line each, in the order of the commands (entries shown for
    # one device do not name it).
    for t, line in zip(named, proc.stdout.splitlines(), strict=False):
        try:
            entries = json.loads(line)
        except ValueError:
            continue
        if isinstance(entries, list):
            # Head-end and static entries (dst), and the bridge's static entries (master).
            out[t.name] = [e for e in entries if isinstance(e, dict) and ("dst" in e or "master" in e)]
    return out


def current_tenant_links(provider: Provider, host: str,
                         links: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """Each tenant on `host`: its eth0 as its namespace reports it (None: missing)."""
    prefix = provider.ansible_group_vars().get("netlab_tenant_prefix", "")
    out: dict[str, dict[str, Any] | None] = {}
    for name, ns in tenant_query(provider.lab, host, prefix):
        if veth_name(name) not in links:
            # No cable on this host, so no eth0 of its (a veth's ends go together): nothing to
            # read. A fresh host of 256 tenants spent a process on each.
            out[name] = None
            continue
        proc = _batch(provider, host, "ip", ["addr show"], "-d", "-j", "-n", ns, check=False)
        out[name] = parse_links(proc.stdout.splitlines()[0] if proc.stdout else "").get(TENANT_IFNAME)
    return out


def underlay_differences(lab: Lab, host: str, link: dict[str, Any] | None) -> list[str]:
    if link is None:
        return ["missing"]
    want = ipaddress.ip_interface(host_vars(lab, host)["netlab_underlay"]["address"])
    have = global_addresses(link)
    why = []
    if have != {want}:
        why.append(f"addresses {', '.join(sorted(map(str, have))) or 'none'}, lab says {want}")
    if link.get("mtu") != lab.underlay.mtu:
        why.append(f"mtu is {link.get('mtu')}, lab says {lab.underlay.mtu}")
    if "UP" not in link.get("flags", []):
        why.append("the device is down")
    return why


def device_differences(lab: Lab, host: str, t: Tunnel, link: dict[str, Any],
                       entries: list[dict[str, Any]] | None) -> list[str]:
    """Why an existing tunnel device must be rebuilt (empty: it is what the lab says)."""
    why = t.kind.differences(lab, host, t, link)
    own = t.endpoints[host]
    extra = global_addresses(link) - ({ipaddress.ip_interface(own)} if own and not t.bridge else set())
    if extra:
        why.append(f"extra address {', '.join(sorted(map(str, extra)))}")
    mac = host_vars_tunnel(lab, host, t).get("mac")
    if mac and link.get("address") != mac:
        why.append(f"MAC is {link.get('address')}, netlab gives it {mac}")
    if entries is not None:
        flood_to = {e["dst"] for e in entries if e.get("mac") == "00:00:00:00:00:00" and "dst" in e}
        peers = {lab.hosts[h].ip for h in t.endpoints if h != host}
        if flood_to != peers:
            why.append(f"floods to {', '.join(sorted(flood_to)) or 'nobody'}, lab says {', '.join(sorted(peers))}")
    return why


def host_vars_tunnel(lab: Lab, host: str, t: Tunnel) -> dict[str, Any]:
    return next(v for v in host_vars(lab, host)["netlab_tunnels"] if v["name"] == t.name)


def tunnel_commands(lab: Lab, host: str, t: Tunnel, changed: dict[str, Any] | None = None,
                    variables: dict[str, Any] | None = None) -> list[str]:
    """The commands of one tunnel: the overlay template rendered for it alone (with some of its
    variables `changed`: how `netlab break` builds a wrong device from the same template), with
    the provider's `variables` (netns: where the tenants' namespaces are)."""
    only = host_script(lab, host, {**(variables or {}),
                                   "netlab_tunnels": [{**host_vars_tunnel(lab, host, t), **(changed or {})}]})
    return command_lines(only.overlay)


def run_commands(provider: Provider, host: str, commands: list[str]) -> None:
    """`ip` and `bridge` commands on a host, each run of one tool as one batch."""
    for tool, lines in batches(commands):
        name, *options = tool.split(" ")
        _batch(provider, host, name, lines, *options)


def _batch(provider: Provider, host: str, tool: str, lines: list[str], *options: str,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = provider.batch_argv(host, tool, *options)
    bound = BATCH_TIMEOUT + SECONDS_PER_COMMAND * len(lines)
    try:
        proc = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True,
                              timeout=bound)
    except subprocess.TimeoutExpired:
        raise NetlabError(f"configuring {host} failed: {' '.join(argv)} gave no answer within "
                          f"{bound:g} s") from None
    if check and proc.returncode != 0:
        raise NetlabError(
            f"configuring {host} failed: {proc.stderr.strip()}",
            hint=f"netlab explain {provider.lab.name} shows the commands; netlab down then up starts clean",
        )
    return proc
