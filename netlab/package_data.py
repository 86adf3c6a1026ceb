"""Where netlab's shipped data lives: in a wheel under netlab/_data, in a checkout at its root."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_root() -> Path:
    installed = _PACKAGE / "_data"
    if (installed / "labs").is_dir():
        return installed
    return _PACKAGE.parent  # a source checkout: labs/, roles/ ... beside the package


def labs_dir() -> Path:
    return data_root() / "labs"


def roles_dir() -> Path:
    return data_root() / "roles"


def playbooks_dir() -> Path:
    return data_root() / "playbooks"


def vagrantfile_template() -> Path:
    return data_root() / "Vagrantfile.j2"


def overlay_templates_dir() -> Path:
    return roles_dir() / "overlay" / "templates"


def underlay_templates_dir() -> Path:
    return roles_dir() / "underlay" / "templates"


def router_templates_dir() -> Path:
    return roles_dir() / "router" / "templates"


def connection_plugins_dir() -> Path:
    return _PACKAGE / "ansible_plugins" / "connection"
