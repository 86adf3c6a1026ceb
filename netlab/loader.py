"""Read a lab file: YAML with line numbers, pydantic structure, then the cross-field rules.

Whatever the file holds (nothing, binary, a list, broken YAML, duplicate keys, an alias bomb)
the result is either a `Lab` or a `LabError` that lists every problem with file, line and
field path.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceStartEvent,
)

from netlab.errors import LabError, LabIssue
from netlab.model import Lab
from netlab.rules import check_lab

MAX_LAB_FILE_BYTES = 1_000_000
# A lab is a few levels deep and a few hundred values big; anything far beyond is an accident
# or an attack (deep nesting exhausts the parser's recursion, aliases expand exponentially).
MAX_DEPTH = 32
MAX_NODES = 50_000
STANDARD_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
)


def load_lab(path: Path) -> Lab:
    data, issues = _read_yaml(path)
    return validate_lab(data, path, issues)


def validate_lab(data: Any, source: Path | str, issues: list[LabIssue] | None = None) -> Lab:
    """The lab in `data` (a parsed YAML document), or a LabError with every problem found.

    `issues` are problems already found while reading (duplicate keys); they are reported
    together with the ones found here."""
    found = list(issues or [])
    if not isinstance(data, dict):
        shape = f"a lab file is a mapping with name, underlay, hosts, tunnels; got {_kind(data)}"
        raise LabError(source, [*found, LabIssue("", shape)])
    plain = _plain(data)
    try:
        lab = Lab.model_validate(plain)
    except ValidationError as exc:
        errors = exc.errors()
        found += [_issue_from_pydantic(err, data) for err in errors]
        found += _rules_on_what_is_valid(plain, errors, data)
        raise LabError(source, _sorted(found)) from None
    found += [_with_line(issue, data) for issue in check_lab(lab)]
    if found:
        raise LabError(source, _sorted(found))
    return lab


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


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_yaml(path: Path) -> tuple[Any, list[LabIssue]]:
    """The document (round-trip types with line numbers) and the duplicate-key issues."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LabError(path, [LabIssue("", "no such file")]) from None
    except IsADirectoryError:
        raise LabError(path, [LabIssue("", "is a directory, not a lab file")]) from None
    except OSError as exc:
        raise LabError(path, [LabIssue("", f"cannot be read: {exc.strerror}")]) from None
    if len(raw) > MAX_LAB_FILE_BYTES:
        raise LabError(path, [LabIssue("", f"is {len(raw)} bytes; a lab file is at most 1 MB")])
    if b"\x00" in raw:
        raise LabError(path, [LabIssue("", "is a binary file, not a YAML lab file")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LabError(
            path, [LabIssue("", f"is not UTF-8 text (byte {exc.start}): save it as UTF-8", line)]
        ) from None
    text = text.removeprefix("\ufeff")
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise LabError(
            path, [LabIssue("", "is empty; a lab needs name, underlay, hosts and tunnels")]
        )
    try:
        duplicates = _scan(text)
        yaml = YAML(typ="rt")
        # Duplicates are found (all of them, with paths) by _scan; the first value is kept
        # so the rest of the file can still be checked.
        yaml.allow_duplicate_keys = True
        return yaml.load(text), duplicates
    except LabError as exc:
        raise LabError(path, exc.issues) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = exc.problem or exc.context or "invalid YAML"
        raise LabError(path, [LabIssue("", f"invalid YAML: {what}", line)]) from None
    except (YAMLError, RecursionError, ValueError, TypeError) as exc:
        raise LabError(path, [LabIssue("", f"invalid YAML: {exc}")]) from None


@dataclass
class _Frame:
    path: list[str | int]
    is_map: bool
    start_count: int
    anchor: str | None
    keys: dict[str, int] = field(default_factory=dict)
    expect_key: bool = True
    key: str = ""
    index: int = 0


def _scan(text: str) -> list[LabIssue]:
    """Walk the YAML events once, before anything is built: bound nesting depth and the size
    the document expands to through aliases, refuse non-standard tags, find duplicate keys."""
    yaml = YAML(typ="rt")
    stack: list[_Frame] = []
    sizes: dict[str, int] = {}
    count = 0
    duplicates: list[LabIssue] = []
    documents = 0

    def fail(message: str, line: int | None, path: list[str | int] | None = None) -> LabError:
        return LabError("", [LabIssue(format_path(tuple(path or [])), message, line)])

    def finished(node: str | None, line: int) -> None:
        """A node (a key's text, or None for a collection) is complete in the top frame."""
        if not stack:
            return
        top = stack[-1]
        if not top.is_map:
            top.index += 1
        elif top.expect_key:
            if node is not None and node in top.keys:
                duplicates.append(LabIssue(
                    format_path((*top.path, node)),
                    f"duplicate key {node!r} (first on line {top.keys[node]}): each key may appear once",
                    line,
                ))
            elif node is not None:
                top.keys[node] = line
            top.key = node if node is not None else "(key)"
            top.expect_key = False
        else:
            top.expect_key = True

    def child_path() -> list[str | int]:
        if not stack:
            return []
        top = stack[-1]
        if not top.is_map:
            return [*top.path, top.index]
        return [*top.path, top.key] if not top.expect_key else [*top.path, "(key)"]

    for event in yaml.parse(text):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, NodeEvent) and not isinstance(event, AliasEvent):
            tag = getattr(event, "tag", None)
            if tag is not None and str(tag) not in STANDARD_TAGS:
                raise fail(
                    f"the YAML tag {str(tag)!r} is not allowed: a lab holds plain text, "
                    "numbers, lists and mappings", line, child_path(),
                )
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            if not stack:
                documents += 1
                if documents > 1:
                    raise fail("a lab file holds one YAML document; remove the second '---'", line)
            count += 1
            stack.append(_Frame(child_path(), isinstance(event, MappingStartEvent), count, event.anchor))
            if len(stack) > MAX_DEPTH:
                raise fail(f"nested more than {MAX_DEPTH} levels deep; a lab is a few levels", line,
                           stack[-1].path)
        elif isinstance(event, CollectionEndEvent):
            frame = stack.pop()
            if frame.anchor:
                sizes[frame.anchor] = count - frame.start_count + 1
            finished(None, line)
        elif isinstance(event, ScalarEvent):
            count += 1
            if event.anchor:
                sizes[event.anchor] = 1
            finished(str(event.value), line)
        elif isinstance(event, AliasEvent):
            count += sizes.get(str(event.anchor), 1)
            finished(f"*{event.anchor}", line)
        if count > MAX_NODES:
            raise fail(
                f"expands to more than {MAX_NODES} values (through YAML aliases?); "
                "a lab is far smaller", line,
            )
    return duplicates


def _plain(node: Any) -> Any:
    """ruamel's round-trip types -> plain dict/list/str so pydantic sees ordinary values."""
    if isinstance(node, dict):
        return {(_key(k)): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    # Timestamps (2024-01-01) and the like: hand pydantic the text the teacher wrote.
    return str(node)


def _key(key: Any) -> str:
    # YAML allows keys like `100:`, `true:` or `~:`; lab keys are always names, so keep them
    # as text and let validation name the bad key.
    if isinstance(key, str):
        return str(key)
    if key is None:
        return "null"
    if isinstance(key, bool):
        return str(key).lower()
    if isinstance(key, int | float):
        return str(key)
    return str(key)


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _parse_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for chunk in path.replace("[", ".[").split("."):
        if not chunk:
            continue
        if chunk.startswith("[") and chunk.endswith("]") and chunk[1:-1].isdigit():
            parts.append(int(chunk[1:-1]))
        else:
            parts.append(chunk)
    return parts


def _find_key(node: CommentedMap, part: Any) -> Any:
    """The key of `node` that `part` names: the key itself, or a non-text key spelled as text."""
    if part in node and (isinstance(part, str) or not isinstance(part, bool)):
        return part
    for key in node:
        if not isinstance(key, str) and _key(key) == part:
            return key
    raise KeyError(part)


def line_of(data: Any, loc: list[str | int] | tuple[Any, ...]) -> int | None:
    """1-based line of the deepest part of `loc` that exists in the round-trip YAML tree."""
    node, line = data, None
    for part in loc:
        if isinstance(node, CommentedMap):
            try:
                key = _find_key(node, part)
            except KeyError:
                break
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _with_line(issue: LabIssue, data: Any) -> LabIssue:
    return LabIssue(issue.path, issue.message, line_of(data, _parse_path(issue.path)))


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose fields are allowed at `loc` (for unknown-key messages)."""
    from netlab.model import Host, Tunnel, Underlay

    if loc == ():
        return Lab
    if loc == ("underlay",):
        return Underlay
    if len(loc) == 2 and loc[0] == "hosts" and isinstance(loc[1], str):
        return Host
    if len(loc) == 2 and loc[0] == "tunnels" and isinstance(loc[1], int):
        return Tunnel
    return None


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
    "tunnels": "e.g. tunnels: [{name: vxlan0, type: vxlan, vni: 100, endpoints: {...}}]",
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
            reason = f"{str(loc[-1])!r} must be {_SHAPE[kind]}"
        else:
            reason = str(err.get("ctx", {}).get("error", err["msg"]))
        return LabIssue(path, f"the key {reason}", line_of(data, loc))
    path = format_path(loc)
    line = line_of(data, loc)
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = list(model.model_fields) if model else []
        message = f"unknown key {str(loc[-1])!r}"
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
        elif head in ("name", "title", "description", "box", "checks"):
            fixed.pop(head, None)  # not used by any rule
        else:
            return []
    hosts = fixed.get("hosts")
    tunnels = fixed.get("tunnels")
    if not isinstance(hosts, dict) or not isinstance(tunnels, list):
        return []
    from netlab.model import Host, Tunnel, Underlay

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
