"""Bring a lab up, take it down, and find the provider a running lab uses."""

from __future__ import annotations

from dataclasses import dataclass

from netlab import catalog
from netlab.configure import configure
from netlab.errors import NetlabError
from netlab.model import Lab, load_lab
from netlab.providers import choose, provider_class
from netlab.providers.base import Progress, Provider
from netlab.state import LabState


@dataclass
class Session:
    lab: Lab
    source: str  # the lab file's absolute path
    provider: Provider
    why: str  # why this provider was chosen


def _load(ref: str) -> tuple[Lab, str]:
    """The lab named by `ref`; for a lab that is up, also when its file has gone since."""
    try:
        path = catalog.resolve(ref)
    except NetlabError:
        state = LabState(ref)
        stored = state.read() if state.exists else None
        if stored is None or stored.model is None:
            raise
        return Lab.model_validate(stored.model), stored.source
    return load_lab(path), str(path.resolve())


def open_lab(ref: str, requested: str | None = None, *, must_be_up: bool = False,
             salvage: bool = False) -> Session:
    """The lab `ref` and the provider it runs on. `salvage` (for down): a damaged state record is
    set aside and rebuilt from what can be read, so the lab's leftovers can still be removed."""
    lab, source = _load(ref)
    state = LabState(lab.name)
    if salvage:
        state.salvage()
    if must_be_up and not state.exists:
        raise NetlabError(f"lab {lab.name} is not up", hint=f"netlab up {ref}")
    running = state.read().source if state.exists else ""
    if running not in ("", source):
        raise NetlabError(
            f"a lab named {lab.name} is already up from {running}",
            hint=f"netlab down {lab.name} first, or give this lab another name",
        )
    name, why = choose(lab, requested, state.provider)
    return Session(lab, source, provider_class(name)(lab, state), why)


def up(session: Session, progress: Progress, via: str = "default", box: str | None = None) -> list[str] | None:
    """Make the running lab equal to the lab file; returns what changed (None: not known)."""
    provider, lab = session.provider, session.lab
    # Refuse before the state records anything: a lab that cannot run leaves nothing behind.
    available = provider.availability(lab)
    if not available.ok:
        raise NetlabError(f"{provider.name} cannot run lab {lab.name}: {available.reason}", available.fix)
    with provider.state.locked():
        provider.state.begin(provider.name, session.source)
        provider.state.set(model=lab.model_dump(mode="json"), phase="creating")
        if box:
            provider.state.set(box=box)
        provider.create(progress)
        provider.state.set(phase="configuring")
        changes = configure(provider, progress, via=via)
        provider.state.set(phase="up", via=via)
    return changes


def down(session: Session, progress: Progress) -> None:
    provider = session.provider
    with provider.state.locked():
        if provider.state.exists:
            provider.state.set(phase="destroying")
        provider.destroy(progress)
        provider.state.forget()
