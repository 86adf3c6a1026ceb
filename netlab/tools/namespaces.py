"""Network namespaces netlab made: who claims each, and the processes running inside them.

Namespace names are the machine's, shared by every state directory (another NETLAB_STATE_DIR,
`sudo -E` and `sudo -i` giving another $HOME): `netlab.trb.boxA` of one state is the same
namespace as another state's. So each namespace is claimed, before it is made, by the lab
folder whose token the claim carries (a file under /run/netlab/claims, a tmpfs like /run/netns:
both vanish at reboot, together). A state may change or remove only the namespaces it claims,
and orphans (their claim's folder is gone, or nothing claims them) are for `down` to clear.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from netlab import labfolder
from netlab.errors import NetlabError

CLAIMS = Path("/run/netlab/claims")
NETNS_DIR = Path("/run/netns")
PREFIX = "netlab."


@dataclass(frozen=True)
class Claim:
    token: str
    folder: Path  # the lab folder of the state that made the namespace

    @property
    def live(self) -> bool:
        """Whether that lab folder is still there with the same token (its state still owns it)."""
        return labfolder.token(self.folder) == self.token


def existing() -> set[str]:
    proc = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0 or not proc.stdout.strip():
        return set()
    return {entry["name"] for entry in json.loads(proc.stdout)}


def of_lab(lab: str, present: set[str] | None = None) -> list[str]:
    prefix = f"{PREFIX}{lab}."
    return sorted(n for n in (existing() if present is None else present) if n.startswith(prefix))


@dataclass(frozen=True)
class Ownership:
    """A lab's existing namespaces, by who may change or remove them."""

    ours: list[str]  # claimed with our token, or recorded by our state (made before claims existed)
    elsewhere: dict[str, Path]  # claimed by another state's live lab folder: {namespace: that folder}
    orphans: list[str]  # nothing claims them, or their claim's folder is gone

    @property
    def unclaimed(self) -> list[str]:
        return [ns for ns in self.orphans if claim_of(ns) is None]


def ownership(lab: str, token: str | None, recorded: set[str], present: set[str] | None = None) -> Ownership:
    ours: list[str] = []
    elsewhere: dict[str, Path] = {}
    orphans: list[str] = []
    for ns in of_lab(lab, present):
        found = claim_of(ns)
        if found is not None and token is not None and found.token == token:
            ours.append(ns)
        elif found is not None and found.live:
            elsewhere[ns] = found.folder
        elif found is None and ns in recorded:
            ours.append(ns)
        else:
            orphans.append(ns)
    return Ownership(ours, elsewhere, orphans)


def claim_of(ns: str) -> Claim | None:
    try:
        data = json.loads((CLAIMS / ns).read_text())
        return Claim(str(data["token"]), Path(data["folder"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def claim(names: list[str], token: str, folder: Path) -> None:
    """Claim `names` for the lab folder `folder` (written before the namespaces are made)."""
    CLAIMS.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps({"token": token, "folder": str(folder)})
    for ns in names:
        tmp = CLAIMS / f".{ns}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, CLAIMS / ns)


def release(names: list[str]) -> None:
    for ns in names:
        (CLAIMS / ns).unlink(missing_ok=True)


def _inode(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def processes_in(names: list[str]) -> list[int]:
    """PIDs of the processes whose network namespace is one of `names` (not this process)."""
    wanted = {i for i in (_inode(str(NETNS_DIR / ns)) for ns in names) if i is not None}
    if not wanted:
        return []
    found = []
    for pid in psutil.pids():
        if pid == os.getpid():
            continue
        if _inode(f"/proc/{pid}/ns/net") in wanted:
            found.append(pid)
    return found


def stop_processes_in(names: list[str], grace: float = 3.0) -> list[int]:
    """End every process inside `names`, by PID: SIGTERM, then SIGKILL after `grace`.
    Returns those still running. (Deleting a namespace does not end what runs in it.)"""
    procs = []
    for pid in processes_in(names):
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _, alive = psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in alive]


def delete(names: list[str]) -> None:
    """End the processes inside, delete the namespaces, release their claims."""
    if not names:
        return
    stop_processes_in(names)
    subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in names),
                   capture_output=True, text=True, timeout=120)
    left = existing() & set(names)
    release([n for n in names if n not in left])
    if left:
        raise NetlabError(f"could not delete namespaces: {', '.join(sorted(left))}")


def orphans() -> dict[str, list[str]]:
    """{lab name: its namespaces} of netlab's namespaces that no state owns any more."""
    found: dict[str, list[str]] = {}
    for ns in sorted(existing()):
        if not ns.startswith(PREFIX) or ns.count(".") < 2:
            continue
        owner = claim_of(ns)
        if owner is None or not owner.live:
            found.setdefault(ns.split(".")[1], []).append(ns)
    return found
