"""Bring a lab up, take it down, and find the provider a running lab uses."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from netlab import catalog
from netlab.errors import NetlabError
from netlab.model import Lab, load_lab
from netlab.model.lab import LAB_NAME_RE
from netlab.providers import choose, provider_class
from netlab.providers.base import Progress, Provider
from netlab.state import LabState, StateRecord


@dataclass
class Session:
    lab: Lab
    source: str  # the lab file's absolute path
    provider: Provider
    why: str  # why this provider was chosen


def _load(ref: str) -> tuple[Lab, str]:
    """The lab named by `ref`: a lab file, or a catalog name, or the name of a lab that is up (also
    when its file has gone since, and an instance started with --name from another file)."""
    stored = _stored(ref)
    try:
        path = catalog.resolve(ref)
    except NetlabError:
        if stored is None:
            raise
        return Lab.model_validate(stored.model), stored.source
    source = str(path.resolve())
    if stored is not None and "/" not in ref and stored.source != source:
        # `ref` is the name of a running instance of another lab file (up --name): that one.
        return Lab.model_validate(stored.model), stored.source
    return load_lab(path), source


def _stored(name: str) -> StateRecord | None:
    if not LAB_NAME_RE.fullmatch(name):
        return None
    state = LabState(name)
    if not state.exists:
        return None
    try:
        record = state.read()
    except NetlabError:
        return None  # damaged: reported by the command that reads it (down salvages it)
    return record if record.model is not None else None


def renamed(lab: Lab, name: str) -> Lab:
    """The same lab under another name (one instance per student): everything netlab creates
    carries the name."""
    if not LAB_NAME_RE.fullmatch(name):
        raise NetlabError(f"--name {name!r} is not a lab name",
                          hint="a lowercase letter, then up to 15 of a-z, 0-9 and '-', e.g. alice or lab10-bob")
    return Lab.model_validate({**lab.model_dump(mode="json"), "name": name})


def open_lab(ref: str, requested: str | None = None, *, must_be_up: bool = False,
             salvage: bool = False, name: str | None = None) -> Session:
    """The lab `ref` and the provider it runs on. `name`: the lab under another name (up --name).
    `salvage` (for down): a damaged state record is set aside and rebuilt from what can be read,
    so the lab's leftovers can still be removed."""
    lab, source = _load(ref)
    if name is not None and name != lab.name:
        lab = renamed(lab, name)
    state = LabState(lab.name)
    if salvage:
        state.salvage()
    if must_be_up and not state.exists:
        raise NetlabError(f"lab {lab.name} is not up", hint=shlex.join(["netlab", "up", ref]))
    _refuse_other_source(lab.name, state, source)
    name, why = choose(lab, requested, state.provider)
    return Session(lab, source, provider_class(name)(lab, state), why)


def _refuse_other_source(name: str, state: LabState, source: str) -> None:
    running = state.read().source if state.exists else ""
    if running not in ("", source):
        raise NetlabError(
            f"a lab named {name} is already up from {running}",
            hint=f"netlab down {name} first, or give this lab another name (--name)",
        )


def up(session: Session, progress: Progress, via: str = "default", box: str | None = None,
       overlay: bool = True, inventory: str | None = None) -> list[str] | None:
    """Make the running lab equal to the lab file; returns what changed (None: not known).
    `overlay=False` (exercise mode): machines, underlay and routers only; the tunnels are for the
    students to build, and a later `up` leaves what they built alone."""
    provider, lab = session.provider, session.lab
    if inventory is not None:
        path = Path(inventory).resolve()
        if not path.is_file():
            raise NetlabError(f"--inventory {inventory}: no such file", hint="an Ansible inventory (YAML or INI) "
                              "naming the lab's hosts")
        inventory = str(path)
    # Refuse before the state records anything: a lab that cannot run leaves nothing behind.
    available = provider.availability(lab)
    if not available.ok:
        raise NetlabError(f"{provider.name} cannot run lab {lab.name}: {available.reason}", available.fix)
    with provider.state.locked():
        # Checked again under the lock: two `up`s of different files under one name at once
        # both passed the check in open_lab before either had written its state.
        _refuse_other_source(lab.name, provider.state, session.source)
        provider.prepare(progress)
        provider.state.begin(provider.name, session.source)
        provider.state.set(model=lab.model_dump(mode="json"), phase="creating")
        if box:
            provider.state.set(box=box)
        if inventory:
            provider.state.set(inventory=inventory)
        provider.create(progress)
        provider.state.set(phase="configuring")
        from netlab.configure import configure  # here: rendering costs every other command ~40 ms to import

        changes = configure(provider, progress, via=via, overlay=overlay)
        provider.state.set(phase="up", via=via, overlay=overlay)
    return changes


def down(session: Session, progress: Progress) -> None:
    provider = session.provider
    with provider.state.locked():
        if provider.state.exists:
            provider.state.set(phase="destroying")
        provider.destroy(progress)
        provider.state.forget()
