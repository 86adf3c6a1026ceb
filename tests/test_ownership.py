"""A lab belongs to exactly one state, and netlab never deletes what it did not make (issue 24).

Every test runs the real CLI on real namespaces: a folder a user made in the lab's place, a state
directory that is a link, two state directories with one lab name, two `up`s racing for a name,
damaged and lost state, and processes left inside a lab's namespaces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from netlab.labfolder import MARKER

from .conftest import needs_root, netlab_namespaces

pytestmark = needs_root

NETLAB = [sys.executable, "-m", "netlab"]


def netlab(*args: str, state: Path, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NETLAB_STATE_DIR": str(state)}
    proc = subprocess.run([*NETLAB, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True)
    return path


@pytest.fixture
def two_states(tmp_path: Path) -> tuple[Path, Path]:
    return private_dir(tmp_path / "sa"), private_dir(tmp_path / "sb")


def take_down(name: str, *states: Path) -> None:
    for state in states:
        netlab("down", name, state=state)
    assert netlab_namespaces(name) == []


# -- 1: folders netlab did not make ------------------------------------------------------------------
def test_a_folder_netlab_did_not_make_is_never_used_or_removed(tmp_path: Path) -> None:
    state = private_dir(tmp_path / "sd")
    (state / "own1").mkdir()
    (state / "own1" / "notes.txt").write_text("data")
    up = netlab("up", "lab9", "--name", "own1", state=state)
    assert up.returncode == 1 and "own1 is a folder netlab did not make" in up.stderr, up.stderr
    assert "--name" in up.stderr  # the fix
    assert netlab_namespaces("own1") == []
    down = netlab("down", "own1", state=state)
    assert down.returncode != 0
    assert (state / "own1" / "notes.txt").read_text() == "data"
    assert sorted(p.name for p in (state / "own1").iterdir()) == ["notes.txt"]


def test_a_state_directory_that_is_a_link_is_refused_and_nothing_is_written_through_it(tmp_path: Path) -> None:
    target = private_dir(tmp_path / "elsewhere")
    (target / "own2").mkdir()
    (target / "own2" / "keep").write_text("x")
    link = tmp_path / "sl"
    link.symlink_to(target)
    for args in (("up", "lab9", "--name", "own2"), ("down", "own2")):
        proc = netlab(*args, state=link)
        assert proc.returncode != 0 and "is a symbolic link" in proc.stderr, proc.stderr
    assert sorted(p.name for p in target.iterdir()) == ["own2"]
    assert (target / "own2" / "keep").exists()
    assert netlab_namespaces("own2") == []


def test_a_state_directory_others_can_write_or_another_user_owns_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    proc = netlab("up", "lab9", "--name", "own3", state=shared)
    assert proc.returncode != 0 and "can be written by others" in proc.stderr and "chmod 700" in proc.stderr
    theirs = private_dir(tmp_path / "theirs")
    os.chown(theirs, 65534, 65534)
    proc = netlab("up", "lab9", "--name", "own3", state=theirs)
    assert proc.returncode != 0 and "belongs to another user" in proc.stderr
    assert list(shared.iterdir()) == [] and list(theirs.iterdir()) == []
    assert netlab_namespaces("own3") == []


def test_up_makes_a_marked_private_folder_and_down_removes_only_it(tmp_path: Path) -> None:
    state = private_dir(tmp_path / "sd")
    (state / "unrelated").mkdir()
    old = os.umask(0)
    try:
        assert netlab("up", "lab9", "--name", "own4", state=state).returncode == 0
    finally:
        os.umask(old)
    folder = state / "own4"
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert ((folder / MARKER).stat().st_mode & 0o777) == 0o600
    assert netlab("down", "own4", state=state).returncode == 0
    assert not folder.exists() and (state / "unrelated").is_dir()
    assert [p.name for p in state.iterdir() if not p.name.startswith(".")] == ["unrelated"]


# -- 2: two states, one lab name ----------------------------------------------------------------------
def test_another_states_up_is_refused_and_its_down_leaves_the_lab_alone(two_states: tuple[Path, Path]) -> None:
    sa, sb = two_states
    try:
        assert netlab("up", "lab9", "--name", "own5", state=sa).returncode == 0
        before = netlab_namespaces("own5")
        up = netlab("up", "lab10", "--name", "own5", state=sb)
        assert up.returncode == 1, up.stdout + up.stderr
        assert str(sa / "own5") in up.stderr and f"NETLAB_STATE_DIR={sa} netlab down own5" in up.stderr
        assert not (sb / "own5").exists()
        down = netlab("down", "own5", state=sb)
        assert down.returncode == 1 and str(sa / "own5") in down.stderr
        assert netlab_namespaces("own5") == before
        verify = netlab("verify", "own5", state=sa)
        assert verify.returncode == 0, verify.stdout
        assert "boxC" not in netlab("status", "own5", state=sa).stdout  # still lab9, not rebuilt as lab10
    finally:
        take_down("own5", sa)


# -- 3: two labs racing for one name -----------------------------------------------------------------
def test_two_labs_started_under_one_name_at_once_never_both_come_up(tmp_path: Path) -> None:
    for attempt in range(4):
        state = private_dir(tmp_path / f"s{attempt}")
        env = {**os.environ, "NETLAB_STATE_DIR": str(state)}
        procs = [subprocess.Popen([*NETLAB, "up", lab, "--name", "own6"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for lab in ("lab9", "lab10")]
        results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
        try:
            winners = [r for r in results if r[0] == 0]
            assert len(winners) == 1, results
            loser = next(r for r in results if r[0] != 0)
            assert "already up from" in loser[2] or "another netlab command is working" in loser[2], loser
            record = json.loads((state / "own6" / "state.json").read_text())
            hosts = set(record["model"]["hosts"])
            assert {n.rsplit(".", 1)[1] for n in netlab_namespaces("own6")} == hosts | {"_switch"}
        finally:
            take_down("own6", state)


# -- 4: state that no longer reads, and state that is lost --------------------------------------------
def test_a_record_with_a_field_netlab_does_not_know_still_works(tmp_path: Path) -> None:
    state = private_dir(tmp_path / "sd")
    try:
        assert netlab("up", "lab9", "--name", "own7", state=state).returncode == 0
        path = state / "own7" / "state.json"
        record = json.loads(path.read_text())
        record["written_by_a_newer_netlab"] = {"x": 1}
        record["since"] = 5  # a field whose type changed
        path.write_text(json.dumps(record))
        assert netlab("verify", "own7", state=state).returncode == 0
        assert netlab("status", "own7", state=state).returncode == 0
        ls = json.loads(netlab("ls", "--json", state=state).stdout)
        assert [row["phase"] for row in ls if row["name"] == "own7"] == ["up"]
    finally:
        take_down("own7", state)


def test_down_of_a_truncated_record_removes_the_lab(tmp_path: Path) -> None:
    state = private_dir(tmp_path / "sd")
    try:
        assert netlab("up", "lab9", "--name", "own8", state=state).returncode == 0
        path = state / "own8" / "state.json"
        path.write_text(path.read_text()[:40])
        assert "damaged" in netlab("ls", state=state).stdout
        down = netlab("down", "own8", state=state)
        assert down.returncode == 0, down.stderr
        assert netlab_namespaces("own8") == [] and not (state / "own8").exists()
    finally:
        take_down("own8", state)


def test_lost_state_is_reported_by_ls_and_doctor_and_down_removes_what_is_left(tmp_path: Path) -> None:
    state, other = private_dir(tmp_path / "sd"), private_dir(tmp_path / "other")
    try:
        assert netlab("up", "lab9", "--name", "own9", state=state).returncode == 0
        subprocess.run(["rm", "-rf", str(state / "own9")], check=True)
        ls = netlab("ls", state=other)
        assert "own9" in ls.stdout and "orphaned" in ls.stdout and "netlab down own9" in ls.stdout
        assert "netlab.own9.boxA" in netlab("doctor", state=other).stdout
        down = netlab("down", "own9", state=other)
        assert down.returncode == 0 and "removed what was left" in down.stdout, down.stderr
        assert netlab_namespaces("own9") == []
        assert "own9" not in netlab("ls", state=other).stdout
    finally:
        take_down("own9", state)


def test_a_relative_state_directory_is_the_same_folder_for_every_process(tmp_path: Path) -> None:
    private_dir(tmp_path / "rel")
    try:
        up = netlab("up", "lab9", "--name", "own10", "--via", "ansible", state=Path("rel"), cwd=tmp_path,
                    timeout=300)
        assert up.returncode == 0, up.stderr
        # The Ansible role (run from its own working directory) kept its files in the lab's folder.
        assert any((tmp_path / "rel" / "own10" / "hosts" / "boxA").iterdir())
        assert netlab("verify", "own10", state=tmp_path / "rel").returncode == 0
    finally:
        take_down("own10", tmp_path / "rel")


# -- 5: processes inside the namespaces -------------------------------------------------------------
def test_down_ends_every_process_left_inside_the_labs_namespaces(tmp_path: Path) -> None:
    state = private_dir(tmp_path / "sd")
    marker = tmp_path / "pidfile"
    try:
        assert netlab("up", "lab9", "--name", "own11", state=state).returncode == 0
        started = netlab("exec", "own11", "boxA", "--", "sh", "-c",
                         f"setsid sleep 777 >/dev/null 2>&1 & echo $! > {marker}", state=state)
        assert started.returncode == 0, started.stderr
        pid = int(marker.read_text())
        assert psutil.pid_exists(pid) and psutil.Process(pid).cmdline() == ["sleep", "777"]
        assert netlab("down", "own11", state=state).returncode == 0
        deadline = time.monotonic() + 5
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the process inside the namespace outlived down"
            time.sleep(0.05)
    finally:
        take_down("own11", state)


# -- 7: a state directory that cannot be written ----------------------------------------------------
def test_a_read_only_state_directory_is_one_clear_error(tmp_path: Path) -> None:
    target = private_dir(tmp_path / "ro")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,mode=700,size=1m", "tmpfs", str(target)], check=True)
    try:
        proc = netlab("up", "lab9", "--name", "own12", state=target)
        assert proc.returncode == 1 and proc.stderr.startswith("error:"), proc.stderr
        assert "Read-only file system" in proc.stderr and "NETLAB_STATE_DIR" in proc.stderr
        assert netlab_namespaces("own12") == []
    finally:
        subprocess.run(["umount", str(target)], check=True)


# -- 8: a student's thousands of devices --------------------------------------------------------------
@pytest.mark.slow  # the kernel takes ~50 s to unregister 3000 bridges
def test_reset_of_a_host_with_3000_extra_bridges_finishes_and_converges(tmp_path: Path) -> None:
    state = private_dir(tmp_path / "sd")
    try:
        assert netlab("up", "lab9", "--name", "own13", state=state).returncode == 0
        lines = "".join(f"link add sbr{i} type bridge\n" for i in range(3000))
        subprocess.run(["ip", "-n", "netlab.own13.boxA", "-batch", "-"], input=lines, text=True, check=True,
                       timeout=120)
        reset = netlab("reset", "own13", state=state, timeout=170)
        assert reset.returncode == 0, reset.stderr
        assert "boxA: removed 3000 devices not in the lab" in reset.stdout + reset.stderr
        links = subprocess.run(["ip", "-n", "netlab.own13.boxA", "-o", "link"], capture_output=True, text=True).stdout
        assert "sbr" not in links
        assert netlab("verify", "own13", state=state).returncode == 0
        again = netlab("reset", "own13", state=state)
        assert again.returncode == 0 and "nothing to reset" in again.stdout
    finally:
        take_down("own13", state)
