"""What labs left behind when their state was lost, and `down NAME` from whatever is left.

A lab's state can go (a deleted folder, another $HOME under sudo, a truncated record) while
its namespaces or VMs run on. The namespaces carry the lab's name and their claim, a QEMU's
command line its disk's path in the lab folder: enough to find them, report them (`ls`,
`doctor`) and remove them (`down NAME`), without ever touching another state's lab.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from netlab import labfolder
from netlab.errors import NetlabError
from netlab.model.lab import LAB_NAME_RE
from netlab.providers.base import Progress
from netlab.state import LabState, active_labs
from netlab.tools import namespaces
from netlab.tools.processes import command_lines, pid_alive, stop_processes


@dataclass(frozen=True)
class Orphan:
    what: str  # e.g. "namespaces netlab.x.boxA, netlab.x.boxB"
    lab: str
    fix: str


def _recorded_namespaces() -> set[str]:
    """Namespaces the labs of this state root record (theirs even before claims existed)."""
    found: set[str] = set()
    for name in active_labs():
        try:
            found |= {r.name for r in LabState(name).resources("netns")}
        except NetlabError:
            continue
    return found


def orphans() -> list[Orphan]:
    """netlab's namespaces and QEMUs that no state owns any more, each with the command that clears it."""
    out = []
    try:
        recorded = _recorded_namespaces()
        for lab, names in namespaces.orphans().items():
            names = [n for n in names if n not in recorded]
            if names:
                out.append(Orphan(f"namespaces {', '.join(names)}", lab, f"sudo netlab down {shlex.quote(lab)}"))
    except (OSError, ValueError):
        pass
    for argv in command_lines("qemu-system"):
        disk = next((a.split("file=", 1)[1].split(",", 1)[0] for a in argv if "file=" in a and ".qcow2" in a), "")
        folder = Path(disk).parent.parent if disk else None
        if folder is not None and folder.parent.name and not labfolder.is_lab_folder(folder) \
                and not labfolder.is_legacy(folder):
            out.append(Orphan(f"a QEMU VM whose lab folder is gone ({disk})", folder.name,
                              "stop it by its PID (ps -ef | grep qemu-system): netlab no longer knows it"))
    return out


def down(name: str, progress: Progress) -> bool:
    """Remove what is left of lab `name` when no lab file nor readable record describes it:
    its namespaces (never another state's), the QEMUs and files its record still names, its
    folder. False when nothing of it is left here."""
    if not LAB_NAME_RE.fullmatch(name):
        return False
    state = LabState(name)
    present = namespaces.of_lab(name)
    if not present and not state.dir.exists():
        return False
    had_folder = state.dir.exists()
    if not had_folder:
        owners = namespaces.ownership(name, None, set(), set(present)).elsewhere
        if owners and len(owners) == len(present):
            folder = sorted(owners.values())[0]
            raise NetlabError(
                f"lab {name} is not up from this state folder ({state.dir.parent}): its namespaces belong to "
                f"{folder}",
                hint=f"NETLAB_STATE_DIR={shlex.quote(str(folder.parent))} netlab down {name}")
    with state.locked():
        if state.exists:
            state.salvage()
        recorded = {r.name for r in state.resources("netns")} if state.exists else set()
        found = namespaces.ownership(name, state.token, recorded, set(present))
        if found.elsewhere:
            progress(f"leaving {len(found.elsewhere)} namespaces alone: another netlab state folder owns them "
                     f"({next(iter(found.elsewhere.values()))})")
        doomed = found.ours + found.orphans
        if doomed:
            progress(f"deleting {len(doomed)} namespaces and the processes inside")
            namespaces.delete(doomed)
        if state.exists:
            _remove_recorded(state, progress)
        state.forget()
    return bool(doomed) or had_folder


def _remove_recorded(state: LabState, progress: Progress) -> None:
    """The QEMUs the record names (by PID, confirmed by their disk's path) and the record's own
    files, only inside the lab folder: a damaged record never steers a removal outside it."""
    pids = {int(r.name): str((r.extra or {}).get("disk", "")) for r in state.resources("pid") if r.name.isdigit()}
    pids = {pid: disk for pid, disk in pids.items()
            if disk.startswith(f"{state.dir}/") and pid_alive(pid, disk)}
    if pids:
        progress(f"stopping {len(pids)} VMs")
        stop_processes(pids)
