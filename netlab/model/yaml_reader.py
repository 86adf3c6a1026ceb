"""Read a lab file's YAML: bounded in size, depth and alias expansion, with line numbers.

Whatever the file holds (nothing, binary, a list, broken YAML, duplicate keys, an alias bomb)
the result is either the document, as ruamel's round-trip types that remember lines, or a
`LabError` naming the problem.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from ruamel.yaml.scalarint import BinaryInt, HexInt, OctalInt

from netlab.errors import LabError, LabIssue, excerpt

MAX_LAB_FILE_BYTES = 1_000_000
# A lab is a few levels deep and a few hundred values big; anything far beyond is an accident
# or an attack (deep nesting exhausts the parser's recursion, aliases expand exponentially).
MAX_DEPTH = 32
MAX_NODES = 50_000
STANDARD_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
)


def not_a_file(path: Path) -> str | None:
    """Why `path` is not a lab file to read (a directory, a FIFO, a device), or None."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if stat.S_ISREG(mode):
        return None
    what = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket",
            stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}.get(stat.S_IFMT(mode), "not a regular file")
    return f"is {what}, not a lab file"


def read_bounded(path: Path) -> bytes:
    """At most MAX_LAB_FILE_BYTES of a regular file: a huge file is refused without reading it
    whole, and a FIFO is never opened (that would wait for a writer)."""
    why = not_a_file(path)
    if why:
        raise LabError(path, [LabIssue("", why)])
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_LAB_FILE_BYTES + 1)
    except OSError as exc:
        raise LabError(path, [LabIssue("", f"cannot be read: {exc.strerror}")]) from None
    if len(raw) > MAX_LAB_FILE_BYTES:
        size = path.stat().st_size
        raise LabError(path, [LabIssue("", f"is {size} bytes; a lab file is at most 1 MB")])
    return raw


def read_yaml(path: Path) -> tuple[Any, list[LabIssue]]:
    """The document (round-trip types with line numbers) and the duplicate-key issues."""
    raw = read_bounded(path)
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
                    f"duplicate key '{excerpt(str(node))}' (first on line {top.keys[node]}): each key may appear once",
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
                    f"the YAML tag '{excerpt(str(tag))}' is not allowed: a lab holds plain text, "
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


def plain(node: Any) -> Any:
    """ruamel's round-trip types -> plain dict/list/str so pydantic sees ordinary values."""
    if isinstance(node, dict):
        return {key_text(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, HexInt | OctalInt | BinaryInt):
        # 0x64 is a whole number to YAML, but no way to write a VNI or MTU: keep it as text.
        base = {HexInt: "0x{:x}", OctalInt: "0o{:o}", BinaryInt: "0b{:b}"}
        return next(form.format(int(node)) for kind, form in base.items() if isinstance(node, kind))
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    # Timestamps (2024-01-01) and the like: hand pydantic the text the teacher wrote.
    return str(node)


def key_text(key: Any) -> str:
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


def parse_path(path: str) -> list[str | int]:
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
        if not isinstance(key, str) and key_text(key) == part:
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
