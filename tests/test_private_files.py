"""Everything netlab writes is 0600 (0700 for folders and scripts), whatever the umask (issue 24, 12)."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.cmdlog import log_path, recording
from netlab.files import private_dir, write_private

from .conftest import needs_root

NETLAB = shlex.join([sys.executable, "-m", "netlab"])


@pytest.fixture
def open_umask() -> Iterator[None]:
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


def modes(root: Path) -> dict[str, int]:
    found = {str(root): stat.S_IMODE(root.stat().st_mode)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            found[str(path)] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_private(root: Path) -> None:
    loose = {path: oct(mode) for path, mode in modes(root).items() if mode not in (0o600, 0o700)}
    assert loose == {}, loose


def under_umask_000(command: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", f"umask 000; {command}"], capture_output=True, text=True, timeout=300,
                          **kwargs)  # type: ignore[call-overload]


def test_render_under_umask_000(tmp_path: Path) -> None:
    out = tmp_path / "new" / "lab"
    proc = under_umask_000(f"{NETLAB} render lab9 -o {shlex.quote(str(out))}")
    assert proc.returncode == 0, proc.stderr
    assert (out / "site.yml").exists() and (out / "roles").is_dir()
    assert_private(tmp_path / "new")


def test_the_command_log_and_helpers_without_the_cli(tmp_path: Path, open_umask: None) -> None:
    lab_dir = private_dir(tmp_path / "a" / "b")
    with recording(["up", "x"]) as log:
        log.attach(lab_dir)
        subprocess.run(["true"])
    assert log_path(lab_dir).read_text().count("$ true") == 1
    write_private(tmp_path / "a" / "f", "x")
    assert_private(tmp_path / "a")
    os.chmod(tmp_path / "a" / "f", 0o666)
    write_private(tmp_path / "a" / "f", "y")  # an existing file is made private too
    assert_private(tmp_path / "a")


def test_a_graph_file_under_umask_000(tmp_path: Path) -> None:
    proc = under_umask_000(f"{NETLAB} graph lab9 -o x.dot", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE((tmp_path / "x.dot").stat().st_mode) == 0o600


@needs_root
def test_a_lab_under_umask_000(tmp_path: Path) -> None:
    name = "ops24mask"
    state = Path(os.environ["NETLAB_STATE_DIR"])
    proc = under_umask_000(f"{NETLAB} up lab9 --name {name}")
    try:
        assert proc.returncode == 0, proc.stderr
        # What the lab's hosts write (the roles, a student's command) inherits netlab's umask.
        made = tmp_path / "from-a-host"
        assert under_umask_000(f"{NETLAB} exec {name} boxA -- touch {made}").returncode == 0
        assert stat.S_IMODE(made.stat().st_mode) == 0o600
        assert (state / name / "commands.log").exists() and (state / name / "hosts").is_dir()
        assert_private(state / name)
    finally:
        subprocess.run(["sh", "-c", f"{NETLAB} -q down {name}"], capture_output=True, timeout=120)


@needs_root
def test_a_device_keeps_its_mode(tmp_path: Path, open_umask: None) -> None:
    """-o /dev/null must not make the machine's /dev/null 0600: a copy of it stands in here."""
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    write_private(null, "dropped")
    assert stat.S_IMODE(null.stat().st_mode) == 0o666
