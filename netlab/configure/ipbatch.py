"""The fast path: each host's rendered `ip` commands piped into `ip -batch` / `bridge -batch`.

The commands come from the same templates the Ansible role applies (netlab.render.scripts), so
both ways build identical devices; this way costs one process per host and tool instead of an
Ansible run.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

from netlab.errors import NetlabError
from netlab.providers.base import Progress, Provider
from netlab.render.scripts import batches, host_script

BATCH_TIMEOUT = 60.0


def apply_ip_batch(provider: Provider, progress: Progress) -> None:
    progress("configuring hosts with ip -batch")
    hosts = list(provider.lab.hosts)
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(hosts)))) as pool:
        list(pool.map(lambda h: configure_host(provider, h), hosts))


def configure_host(provider: Provider, host: str) -> None:
    lab = provider.lab
    script = host_script(lab, host)
    # Re-running converges: tunnel devices that exist are removed and made again.
    current = _batch(provider, host, "ip", ["link show"], "-j", check=False)
    try:
        names = {link["ifname"] for link in json.loads(current.stdout or "[]")}
    except ValueError:
        names = set()
    stale = [t.name for t in lab.tunnels_of(host) if t.name in names]
    groups = batches(script.commands)
    if stale:
        groups.insert(0, ("ip", [f"link del {name}" for name in stale]))
    groups.insert(0, ("ip", ["link set lo up"]))
    for tool, lines in groups:
        _batch(provider, host, tool, lines)


def _batch(provider: Provider, host: str, tool: str, lines: list[str], *options: str,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = provider.batch_argv(host, tool, *options)
    try:
        proc = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True,
                              timeout=BATCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise NetlabError(f"configuring {host} failed: {' '.join(argv)} gave no answer within "
                          f"{BATCH_TIMEOUT:g} s") from None
    if check and proc.returncode != 0:
        raise NetlabError(
            f"configuring {host} failed: {proc.stderr.strip()}",
            hint=f"netlab explain {provider.lab.name} shows the commands; netlab down then up starts clean",
        )
    return proc
