"""Reaching the VMs over SSH: the lab's ssh_config, the first login, closing shared connections."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from netlab.errors import NetlabError
from netlab.providers.base import CommandResult

SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for ssh's temporary suffix


def ssh_config_text(hosts: dict[str, int], key: Path, control_dir: Path) -> str:
    """One Host block per VM (its forwarded port) and shared options for all, Ansible included."""
    blocks = [f"Host {h}\n  HostName 127.0.0.1\n  Port {port}\n" for h, port in hosts.items()]
    blocks.append(
        "Host *\n"
        "  User root\n"
        f"  IdentityFile {key}\n"
        "  IdentitiesOnly yes\n"
        # Every lab's VMs share the image's host keys and ports get reused: never pin them.
        "  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n"
        "  LogLevel ERROR\n"
        "  BatchMode yes\n"
        "  ConnectTimeout 20\n"
        "  ServerAliveInterval 10\n"
        # One TCP connection per VM for all commands: a new SSH handshake under emulation is slow.
        "  ControlMaster auto\n"
        f"  ControlPath {control_dir}/%C\n"
        "  ControlPersist 120s\n"
    )
    return "# netlab: SSH to this lab's VMs (ssh -F this-file HOST)\n" + "\n".join(blocks)


def check_ssh(run: Callable[..., CommandResult], hosts: list[str], ssh_config: Path,
              attempts: int = 10) -> None:
    """One SSH login per VM (it also opens the shared connection every later command reuses).

    `run(host, argv, timeout=...)` runs a command on a host (the provider's `run`).
    """
    def attempt(host: str) -> str | None:
        result = None
        for _ in range(attempts):
            result = run(host, ["true"], timeout=30)
            if result.ok:
                return None
            time.sleep(2)
        return f"{host}: {(result.stderr if result else '').strip()}"

    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        failures = [f for f in pool.map(attempt, hosts) if f]
    if failures:
        raise NetlabError("SSH to the VMs failed: " + "; ".join(failures),
                          hint=f"try: ssh -F {ssh_config} {hosts[0] if hosts else ''}")


def close_masters(ssh_config: Path, hosts: list[str]) -> None:
    """End the shared SSH connections (ControlMaster) to `hosts`, if any are open."""
    if not ssh_config.exists():
        return
    for host in hosts:
        try:
            subprocess.run(["ssh", "-F", str(ssh_config), "-O", "exit", host],
                           capture_output=True, timeout=10, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            continue
