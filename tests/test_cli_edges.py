"""Small edges of the command line (issue 24, 13): every option means what it says or is refused
with one clear error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.cli import app

from .conftest import needs_root

runner = CliRunner()


def invoke(*args: str) -> object:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def test_graph_dash_is_standard_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("graph", "lab9", "-o", "-", "--format", "dot")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("graph lab9 {")
    result = invoke("graph", "lab9", "-o", "-", "--format", "mermaid")
    assert result.exit_code == 0 and "boxA" in result.stdout
    assert os.listdir(tmp_path) == []  # no file named -


def test_graph_suffix_and_format_must_agree(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    result = invoke("graph", "lab9", "-o", str(target), "--format", "mermaid")
    assert result.exit_code == 1
    assert "error: -o" in result.stderr and "names a png file, --format is mermaid" in result.stderr
    assert ".mmd" in result.stderr  # the fix names the suffix
    assert not target.exists()
    result = invoke("graph", "lab9", "-o", str(tmp_path / "x.txt"), "--format", "dot")  # no known suffix: fine
    assert result.exit_code == 0 and (tmp_path / "x.txt").read_text().startswith("graph lab9 {")


@pytest.mark.parametrize("args", [
    ["break", "lab9", "--host", "boxA", "--host", "boxB", "wrong-vni"],
    ["break", "lab9", "--host=boxA", "--host", "boxB"],
    ["capture", "lab9", "--ping", "boxA", "boxB", "--ping", "boxB", "boxA"],
])
def test_an_option_given_twice_is_refused(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert "given twice" in result.output and f"netlab {args[0]}" in result.output
    assert "not up" not in result.output  # refused before anything else is looked at


def test_an_option_after_double_dash_is_the_commands() -> None:
    result = invoke("exec", "lab9", "boxA", "--", "ls", "--provider", "x", "--provider", "y")
    assert "given twice" not in result.output


def test_ping_a_host_from_itself_is_refused() -> None:
    from netlab import catalog
    from netlab.capture import ping_target
    from netlab.errors import NetlabError

    lab = catalog.load("lab9")
    with pytest.raises(NetlabError, match="pinging itself") as caught:
        ping_target(lab, "boxA", "boxA")
    assert caught.value.hint is not None and "--ping boxA boxB" in caught.value.hint


@needs_root
def test_log_tail_counts() -> None:
    name = "ops24log"
    assert invoke("up", "lab9", "--provider", "netns", "--name", name).exit_code == 0
    try:
        whole = invoke("log", name).stdout.splitlines()
        assert len(whole) > 5
        assert invoke("log", name, "-n", "2").stdout.splitlines() == whole[-2:]
        none = invoke("log", name, "-n", "0")
        assert none.exit_code == 0 and none.stdout == ""
        negative = invoke("log", name, "-n", "-5")
        assert negative.exit_code == 1 and negative.stdout == ""
        assert "error: -n -5" in negative.stderr and "not negative" in negative.stderr
        same = invoke("capture", name, "--ping", "boxA", "boxA", "-c", "1")
        assert same.exit_code == 1 and "pinging itself" in same.stderr
    finally:
        invoke("down", name)
