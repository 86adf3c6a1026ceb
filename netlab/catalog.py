"""The lab catalog: shipped labs by name, or any lab file by path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from netlab.errors import LabError, NetlabError
from netlab.model import Lab, load_lab
from netlab.model.yaml_reader import not_a_file
from netlab.package_data import labs_dir


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    path: Path


def catalog() -> list[CatalogEntry]:
    return [
        CatalogEntry(p.stem, p)
        for p in sorted(labs_dir().glob("*.yml"), key=lambda p: _natural(p.stem))
    ]


def _natural(name: str) -> tuple[str, int]:
    stem = name.rstrip("0123456789")
    digits = name[len(stem):]
    return (stem, int(digits) if digits else -1)


def resolve(ref: str) -> Path:
    """A catalog name (`lab10`) or a path to a lab file."""
    candidate = Path(ref)
    if candidate.suffix in (".yml", ".yaml") or "/" in ref or candidate.exists():
        why = not_a_file(candidate)
        if why:
            raise NetlabError(
                f"{ref}: {'no such lab file' if why == 'no such file' else why}",
                hint="give a catalog name (netlab list) or the path to a .yml lab file",
            )
        return candidate
    for entry in catalog():
        if entry.name == ref:
            return entry.path
    names = ", ".join(e.name for e in catalog())
    raise NetlabError(f"{ref!r} is neither a catalog lab nor a file", hint=f"catalog labs: {names}")


def load(ref: str) -> Lab:
    return load_lab(resolve(ref))


def load_all() -> list[tuple[CatalogEntry, Lab | LabError]]:
    out: list[tuple[CatalogEntry, Lab | LabError]] = []
    for entry in catalog():
        try:
            out.append((entry, load_lab(entry.path)))
        except LabError as exc:
            out.append((entry, exc))
    return out
