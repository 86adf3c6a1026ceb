"""Load a lab: read its YAML, check its structure with pydantic, then the rules between fields.

The result is a `Lab` or a `LabError` that lists every problem with file, line and field path.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from netlab.errors import LabError, LabIssue, excerpt
from netlab.model.lab import Host, Lab, Router, Segment, Tenant, Tunnel, Underlay
from netlab.model.rules import check_lab
from netlab.model.underlay_rules import lab_warnings
from netlab.model.yaml_reader import format_path, line_of, parse_path, plain, read_yaml
from netlab.tunnels import TYPE_NAMES


def load_lab(path: Path) -> Lab:
    data, issues = read_yaml(path)
    return validate_lab(data, path, issues)


def load_lab_with_warnings(path: Path) -> tuple[Lab, list[LabIssue]]:
    """The lab, and what in it is allowed but will not work (each with its line)."""
    data, issues = read_yaml(path)
    lab = validate_lab(data, path, issues)
    return lab, _sorted([_with_line(w, data) for w in lab_warnings(lab)])


def validate_lab(data: Any, source: Path | str, issues: list[LabIssue] | None = None) -> Lab:
    """The lab in `data` (a parsed YAML document), or a LabError with every problem found.

    `issues` are problems already found while reading (duplicate keys); they are reported
    together with the ones found here."""
    found = list(issues or [])
    if not isinstance(data, dict):
        # Text is the file itself (a password file is one string to YAML): its size, not its words.
        got = f"text ({len(data)} characters)" if isinstance(data, str) else _kind(data)
        shape = f"a lab file is a mapping with name, underlay, hosts, tunnels; got {got}"
        raise LabError(source, [*found, LabIssue("", shape)])
    if data and not any(key in data for key in _LAB_KEYS):
        # Nothing of a lab at the top (a password file, a config): one error, none of its lines.
        raise LabError(source, [*found, LabIssue("", f"not a lab file: none of {', '.join(_LAB_KEYS)} at the top "
                                                     f"(it has {len(data)} other key{'s' if len(data) != 1 else ''})")])
    fields = plain(data)
    try:
        lab = Lab.model_validate(fields)
    except ValidationError as exc:
        errors = exc.errors()
        found += [_issue_from_pydantic(err, data) for err in errors]
        found += _rules_on_what_is_valid(fields, errors, data)
        raise LabError(source, _sorted(found)) from None
    found += [_with_line(issue, data) for issue in check_lab(lab)]
    if found:
        raise LabError(source, _sorted(found))
    return lab


_LAB_KEYS = ("name", "underlay", "hosts", "tunnels")


def _sorted(issues: list[LabIssue]) -> list[LabIssue]:
    """File order (issues without a line last), each issue once."""
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda i: (i.line is None, i.line or 0))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {_short(value)!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"a {type(value).__name__}"


def _short(text: str) -> str:
    return excerpt(text)


def _with_line(issue: LabIssue, data: Any) -> LabIssue:
    return LabIssue(issue.path, issue.message, line_of(data, parse_path(issue.path)))


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose fields are allowed at `loc` (for unknown-key messages)."""
    if loc == ():
        return Lab
    if loc == ("underlay",):
        return Underlay
    if len(loc) == 2 and loc[0] == "hosts" and isinstance(loc[1], str):
        return Host
    if len(loc) == 2 and loc[0] == "tunnels" and isinstance(loc[1], int):
        return Tunnel
    if len(loc) == 2 and loc[0] == "routers" and isinstance(loc[1], str):
        return Router
    if len(loc) == 2 and loc[0] == "tenants" and isinstance(loc[1], str):
        return Tenant
    if len(loc) == 3 and loc[:2] == ("underlay", "segments"):
        return Segment
    return None


_FIRST = TYPE_NAMES[0]  # the example names the first type netlab lists
_SHAPE = {
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "list_type": "a list ('- item' lines or [a, b])",
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
}
_EXAMPLES = {
    "hosts": "e.g. hosts: {boxA: {ip: 192.168.50.4}}",
    "underlay": "e.g. underlay: {name: myNetwork, subnet: 192.168.50.0/24}",
    "tunnels": f"e.g. tunnels: [{{name: {_FIRST}0, type: {_FIRST}, vni: 100, endpoints: {{...}}}}]",
    "endpoints": "e.g. endpoints: {boxA: 192.168.60.4/24, boxB: 192.168.60.5/24}",
    "host": "e.g. boxA: {ip: 192.168.50.4}",
}


def _example(loc: tuple[Any, ...]) -> str:
    if len(loc) == 2 and loc[0] == "hosts":
        return _EXAMPLES["host"]
    last = loc[-1] if loc else ""
    return _EXAMPLES.get(str(last), "")


def _issue_from_pydantic(err: Any, data: Any) -> LabIssue:
    loc = tuple(err["loc"])
    kind = err["type"]
    if loc and loc[-1] == "[key]":
        # A bad key of a mapping (a host or endpoint name): the key is the problem, not a value.
        loc = loc[:-1]
        path = format_path(loc)
        if kind in _SHAPE:
            reason = f"'{_short(str(loc[-1]))}' must be {_SHAPE[kind]}"
        else:
            reason = str(err.get("ctx", {}).get("error", err["msg"]))
        return LabIssue(path, f"the key {reason}", line_of(data, loc))
    if kind == "missing_field":
        loc = (*loc, err["ctx"]["field"])
        return LabIssue(format_path(loc), "is required", line_of(data, loc[:-1]))
    path = format_path(loc)
    line = line_of(data, loc)
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = list(model.model_fields) if model else []
        message = f"unknown key '{_short(str(loc[-1]))}'"
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        if not close:
            close = [a for a in allowed if a.lower() == str(loc[-1]).lower()][:1]
        if close:
            message += f"; did you mean {close[0]!r}?"
        if allowed:
            message += f" (allowed: {', '.join(allowed)})"
        return LabIssue(path, message, line)
    if kind == "missing":
        return LabIssue(path, "is required", line_of(data, loc[:-1]))
    if kind == "value_error":
        message = str(err.get("ctx", {}).get("error", err["msg"]))
    elif kind == "literal_error":
        message = f"{_show(err['input'])} is not allowed; use one of {err['ctx']['expected']}"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        message = f"{_show(err['input'])}: {err['msg'].lower()}"
    elif kind in ("too_short", "too_long"):
        message = err["msg"]
    elif kind in _SHAPE:
        message = f"must be {_SHAPE[kind]}, got {_kind(err.get('input'))}"
        example = _example(loc)
        if example and kind in ("dict_type", "model_type", "model_attributes_type", "list_type"):
            message += f"; {example}"
    else:
        message = err["msg"]
        if "input" in err and not isinstance(err["input"], dict | list):
            message = f"{_show(err['input'])}: {message}"
    return LabIssue(path, message, line)


def _show(value: Any) -> str:
    return repr(_short(value)) if isinstance(value, str) else repr(value)


def _rules_on_what_is_valid(plain: dict[str, Any], errors: list[Any], data: Any) -> list[LabIssue]:
    """Semantic rules on the parts of a lab that passed structural validation.

    A lab with a bad VNI may also have a host outside the subnet: both are reported at once.
    Invalid hosts and tunnels are left out (and not reported again); if the underlay, or the
    shape of hosts or tunnels, is wrong, the rules cannot run and only structure is reported.
    """
    fixed = copy.deepcopy(plain)
    bad_hosts: set[str] = set()
    bad_tunnels: set[int] = set()
    for err in errors:
        loc = tuple(err["loc"])
        if not loc:
            return []
        if err["type"] == "extra_forbidden":
            # An unknown key is reported; the part around it is checked without it.
            _drop(fixed, loc)
            continue
        head = loc[0]
        if head == "hosts" and len(loc) >= 2 and isinstance(plain.get("hosts"), dict):
            bad_hosts.add(str(loc[1]))
        elif head == "tunnels" and len(loc) >= 2 and isinstance(loc[1], int):
            bad_tunnels.add(loc[1])
        elif head in ("name", "title", "description", "box", "checks", "tenants", "points"):
            fixed.pop(head, None)  # not used by any rule
        else:
            return []
    hosts = fixed.get("hosts")
    tunnels = fixed.get("tunnels")
    if not isinstance(hosts, dict) or not isinstance(tunnels, list):
        return []
    positions = [i for i in range(len(tunnels)) if i not in bad_tunnels]
    try:
        # Each part was valid on its own (errors elsewhere are already reported); the lab
        # around them is built without its own checks, which may be what failed.
        lab = Lab.model_construct(
            name="lab",
            underlay=Underlay.model_validate(fixed.get("underlay")),
            hosts={k: Host.model_validate(v) for k, v in hosts.items() if k not in bad_hosts},
            tunnels=[Tunnel.model_validate(tunnels[i]) for i in positions],
            checks=None,
        )
    except ValidationError:
        return []
    issues = check_lab(lab, positions=positions, unchecked_hosts=bad_hosts)
    return [_with_line(issue, data) for issue in issues]


def _drop(data: Any, loc: tuple[Any, ...]) -> None:
    """Remove the key at `loc` from nested dicts/lists, if it is there."""
    node = data
    for part in loc[:-1]:
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not found:
            return
        node = node[part]
    if isinstance(node, dict):
        node.pop(loc[-1], None)
