"""Read a lab file: YAML with line numbers, pydantic structure, then the cross-field rules.

Whatever the file holds (nothing, binary, a list, broken YAML, duplicate keys) the result is
either a `Lab` or a `LabError` that lists every problem with file, line and field path.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from netlab.errors import LabError, LabIssue
from netlab.model import Lab
from netlab.rules import check_lab

MAX_LAB_FILE_BYTES = 1_000_000


def load_lab(path: Path) -> Lab:
    data = _read_yaml(path)
    return validate_lab(data, path)


def validate_lab(data: Any, source: Path | str) -> Lab:
    if not isinstance(data, dict):
        got = "nothing" if data is None else f"a {type(data).__name__}"
        raise LabError(
            source,
            [LabIssue("", f"a lab file is a mapping with name, underlay, hosts, tunnels; got {got}")],
        )
    try:
        lab = Lab.model_validate(_plain(data))
    except ValidationError as exc:
        raise LabError(source, [_issue_from_pydantic(err, data) for err in exc.errors()]) from None
    issues = check_lab(lab)
    if issues:
        raise LabError(source, [_with_line(issue, data) for issue in issues])
    return lab


def _read_yaml(path: Path) -> Any:
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
        raise LabError(path, [LabIssue("", f"is not UTF-8 text (byte {exc.start})")]) from None
    if not text.strip():
        raise LabError(
            path, [LabIssue("", "is empty; a lab needs name, underlay, hosts and tunnels")]
        )
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        key = (exc.problem or "").split('"')[1] if '"' in (exc.problem or "") else ""
        raise LabError(
            path, [LabIssue(key, "duplicate key: each key may appear once", line)]
        ) from None
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        what = exc.problem or exc.context or "invalid YAML"
        raise LabError(path, [LabIssue("", f"invalid YAML: {what}", line)]) from None
    except (YAMLError, RecursionError, ValueError) as exc:
        raise LabError(path, [LabIssue("", f"invalid YAML: {exc}")]) from None


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
    return node


def _key(key: Any) -> Any:
    # YAML allows keys like `100:` or `yes:`; lab keys are always names, so keep them as text
    # and let validation name the bad key.
    return key if isinstance(key, str) else str(key)


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


def line_of(data: Any, loc: list[str | int] | tuple[Any, ...]) -> int | None:
    """1-based line of the deepest part of `loc` that exists in the round-trip YAML tree."""
    node, line = data, None
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
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

    parents = [p for p in loc if not isinstance(p, int)]
    if not parents:
        return Lab
    head = parents[0]
    if head == "underlay" and len(parents) == 1:
        return Underlay
    if head == "hosts" and len(parents) == 2:
        return Host
    if head == "tunnels" and len(parents) == 1:
        return Tunnel
    return None


def _issue_from_pydantic(err: Any, data: Any) -> LabIssue:
    loc = tuple(err["loc"])
    path = format_path(loc)
    kind = err["type"]
    line = line_of(data, loc)
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = list(model.model_fields) if model else []
        message = "unknown key"
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
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
        message = f"{err['input']!r} is not allowed; use one of {err['ctx']['expected']}"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        message = f"{err['input']!r}: {err['msg'].lower()}"
    else:
        message = err["msg"]
        if "input" in err and not isinstance(err["input"], dict | list):
            message = f"{err['input']!r}: {message}"
    return LabIssue(path, message, line)
