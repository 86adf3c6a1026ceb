"""Bad input to the lifecycle commands: one clear error, a non-zero exit, nothing created."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from netlab import catalog
from netlab.cli import app
from netlab.providers import choose
from netlab.providers.netns import NetnsProvider
from netlab.state import LabState

from .conftest import netlab_namespaces

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def test_unknown_lab_name_lists_the_catalog() -> None:
    result = invoke("up", "lab99")
    assert result.exit_code == 1
    assert "'lab99' is neither a catalog lab nor a file" in result.output
    assert "lab10" in result.output


def test_missing_lab_file() -> None:
    result = invoke("verify", "nowhere/lab.yml")
    assert result.exit_code == 1
    assert "nowhere/lab.yml: no such lab file" in result.output


def test_unknown_provider() -> None:
    result = invoke("up", "lab10", "--provider", "docker")
    assert result.exit_code == 1
    assert "unknown provider 'docker'" in result.output


def test_unknown_provider_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETLAB_PROVIDER", "vmware")
    result = invoke("up", "lab10")
    assert result.exit_code == 1
    assert "NETLAB_PROVIDER=vmware is not a provider" in result.output


def test_commands_on_a_lab_that_is_not_up() -> None:
    for command in (["verify", "lab10"], ["exec", "lab10", "boxA", "--", "true"], ["capture", "lab10"]):
        result = invoke(*command)
        assert result.exit_code == 1, command
        assert "lab lab10 is not up" in result.output
        assert "netlab up lab10" in result.output


def test_unknown_check_name() -> None:
    # Refused before anything runs, even with the lab down.
    from netlab.errors import NetlabError
    from netlab.verify.runner import run_verify

    lab = catalog.load("lab10")
    with pytest.raises(NetlabError, match="no check named pign"):
        run_verify(lab, NetnsProvider(lab, None), only=["pign"])  # type: ignore[arg-type]


def test_netns_without_root_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    avail = NetnsProvider.availability(catalog.load("lab10"))
    assert not avail.ok and "root" in avail.reason
    result = invoke("up", "lab10", "--provider", "netns")
    assert result.exit_code == 1
    assert "needs root" in result.output and "sudo" in result.output
    assert netlab_namespaces("lab10") == []
    assert not LabState("lab10").dir.exists()


def test_provider_choice_explains_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = catalog.load("lab10")
    assert choose(lab, "netns", None) == ("netns", "asked for with --provider")
    assert choose(lab, None, "qemu") == ("qemu", "lab lab10 is up with it")
    monkeypatch.setenv("NETLAB_PROVIDER", "netns")
    assert choose(lab, None, None) == ("netns", "from NETLAB_PROVIDER")
    from netlab.errors import NetlabError

    with pytest.raises(NetlabError, match="is up with provider qemu"):
        choose(lab, "netns", "qemu")


def test_doctor_reports_every_provider() -> None:
    result = invoke("doctor")
    assert result.exit_code == 0
    for name in ("virtualbox", "libvirt", "qemu", "netns"):
        assert name in result.output
