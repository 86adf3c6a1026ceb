"""The lab file: its format (pydantic models), the rules between its fields, and loading it.

`lab` holds the public contract teachers write against, `rules` the checks that relate fields
to each other, `yaml_reader` the bounded YAML reading and `load` what puts them together.
"""

from __future__ import annotations

from netlab.model.lab import ALL_CHECKS, Host, Lab, Router, Segment, Tenant, Tunnel, Underlay
from netlab.model.load import load_lab, validate_lab

__all__ = ["ALL_CHECKS", "Host", "Lab", "Router", "Segment", "Tenant", "Tunnel", "Underlay", "load_lab", "validate_lab"]
