"""A command netlab prints to be pasted back is shell-quoted: a lab file named `$(touch PWN).yml`
is an argument, never a command (issue 24, 11)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from netlab import catalog
from netlab.cli import app

from .conftest import needs_root

runner = CliRunner()
HOSTILE = "my lab $(touch PWN) `touch PWN2`.yml"


@pytest.fixture
def hostile_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = yaml.safe_load(catalog.resolve("lab9").read_text())
    data["name"] = "ops24quote"
    path = tmp_path / HOSTILE
    path.write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    return path


def pasted(command: str, cwd: Path) -> list[str]:
    """What a shell hands `netlab` when `command` is pasted (netlab is a function that prints its
    arguments); and nothing else runs."""
    proc = subprocess.run(["sh", "-c", 'netlab() { printf "%s\\n" "$@"; }; ' + command], cwd=cwd,
                          capture_output=True, text=True, check=True)
    assert not (cwd / "PWN").exists() and not (cwd / "PWN2").exists()
    return proc.stdout.splitlines()


def test_not_up_hint_is_quoted(hostile_lab: Path) -> None:
    result = runner.invoke(app, ["exec", HOSTILE, "boxA", "--", "true"])
    assert result.exit_code == 1
    hint = re.search(r"fix: (.*)", result.stderr)
    assert hint is not None, result.stderr
    assert pasted(hint.group(1), hostile_lab.parent) == ["up", HOSTILE]


def test_graph_hint_is_quoted(hostile_lab: Path) -> None:
    result = runner.invoke(app, ["graph", HOSTILE, "--format", "svg"])
    assert result.exit_code == 1
    hint = re.search(r"fix: add (.*)", result.stderr)
    assert hint is not None, result.stderr
    assert shlex.split(hint.group(1)) == ["-o", HOSTILE.removesuffix(".yml") + ".svg"]


@needs_root
def test_up_hints_are_quoted(hostile_lab: Path) -> None:
    result = runner.invoke(app, ["up", HOSTILE, "--provider", "netns", "--no-overlay"])
    try:
        assert result.exit_code == 0, result.output
        check = re.search(r"check it with: (.*)", result.stdout)
        assert check is not None, result.stdout
        assert pasted(check.group(1), hostile_lab.parent) == ["verify", HOSTILE]
        explain = re.search(r"`(netlab explain .*)` is the answer key", result.stdout)
        assert explain is not None, result.stdout
        assert pasted(explain.group(1), hostile_lab.parent) == ["explain", HOSTILE]
    finally:
        runner.invoke(app, ["down", "ops24quote"])
