"""Errors about a file quote at most a field name and a short, escaped excerpt, never the file's
lines: `netlab lint /etc/shadow` under a sudo rule that accepts a path must not print the hashes
(issue 24, 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.cli import app

runner = CliRunner()
SECRET = "Zq8secretHASHvalueXy9"
SHADOW = f"root:$6$salt${SECRET}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


def lint(path: Path) -> str:
    result = runner.invoke(app, ["lint", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    return result.output


@pytest.mark.parametrize("content", [SHADOW, f"{SECRET}\n", f"token: {SECRET}\nother: 1\n"])
def test_a_file_that_is_not_a_lab_is_not_printed(tmp_path: Path, content: str) -> None:
    path = tmp_path / "shadow"
    path.write_text(content)
    text = lint(path)
    assert SECRET not in text and "salt" not in text and "daemon" not in text, text
    assert text.count("\n  ") == 1  # one error
    assert "not a lab file" in text or "got text (" in text


def test_an_unknown_key_in_a_lab_is_a_short_escaped_excerpt(tmp_path: Path) -> None:
    key = "\x1b[31mred" + "x" * 200
    path = tmp_path / "lab.yml"
    path.write_text("name: x\nunderlay: {name: u, subnet: 10.0.0.0/24}\nhosts: {a: {ip: 10.0.0.1}}\n"
                    f"tunnels: []\n\"{key.replace(chr(27), chr(92) + 'e')}\": 1\n")
    text = lint(path)
    assert "\x1b" not in text and "x" * 30 not in text, text
    assert "unknown key '\\x1b[31mred" + "x" * 15 + "…'" in text
