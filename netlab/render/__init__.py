"""The render stage: from a lab, the files other tools run.

`hostvars` describes each host once (what every template renders), `scripts` renders the roles'
templates into the `ip` commands a host runs (explain and the fast path), `vagrantfile` the
Vagrantfile, and `labdir` the standalone directory with inventory, playbook and roles.
"""

from __future__ import annotations

from netlab.render.labdir import render
from netlab.render.options import RenderOptions
from netlab.render.vagrantfile import DEFAULT_BOXES, host_box

__all__ = ["DEFAULT_BOXES", "RenderOptions", "host_box", "render"]
