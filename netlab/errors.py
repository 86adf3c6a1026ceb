"""Errors netlab reports to a person: each says what is wrong, where, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class NetlabError(Exception):
    """An error the CLI prints as one clear message (no traceback) and exits non-zero on."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  fix: {self.hint}"


def excerpt(text: str, limit: int = 24) -> str:
    """At most `limit` characters of `text` (a key or value from a file), control characters and
    the like escaped: an error quotes enough to find the place, never a file's content."""
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)


@dataclass(frozen=True)
class LabIssue:
    """One problem in a lab file, located by field path and, where known, line."""

    path: str  # e.g. "tunnels[0].vni"; "" for the whole document
    message: str
    line: int | None = None

    def format(self, source: str) -> str:
        where = source if self.line is None else f"{source}:{self.line}"
        # A key is the file's text: a short, escaped piece of each (lint of /etc/shadow printed its lines).
        field = ".".join(excerpt(part) for part in self.path.split(".")) if self.path else "(document)"
        return f"{where}: {field}: {self.message}"


class LabError(NetlabError):
    """A lab file that does not validate; carries every issue found, not just the first."""

    exit_code = 2

    def __init__(self, source: Path | str, issues: list[LabIssue]) -> None:
        self.source = str(source)
        self.issues = issues
        count = len(issues)
        lines = [f"{self.source}: {count} error{'s' if count != 1 else ''}"]
        lines += ["  " + issue.format(self.source) for issue in issues]
        super().__init__("\n".join(lines))


class ToolMissing(NetlabError):
    """A program netlab needs is not installed."""

    def __init__(self, tool: str, package: str, purpose: str) -> None:
        super().__init__(
            f"{tool} is not installed; netlab needs it to {purpose}",
            hint=f"apt-get install {package}",
        )
