"""Bad paths, bad options, damaged state and hostile lab files: one clear error, never a traceback,
nothing injected; and render that grows linearly with the lab."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netlab import catalog
from netlab.model import validate_lab
from netlab.render.hostvars import host_vars
from netlab.state import LabState

from .conftest import needs_root, netlab_namespaces, vxlan_lab

NETLAB = [sys.executable, "-m", "netlab"]
LAB9 = catalog.resolve("lab9")


def netlab(*args: str, cwd: Path | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*NETLAB, *args], capture_output=True, text=True, cwd=cwd, timeout=300, **kwargs)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def one_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode != 0
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith("error:"), proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def lab_text(**changes: object) -> str:
    data = yaml.safe_load(LAB9.read_text())
    for path, value in changes.items():
        node = data
        *parents, last = path.split("__")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return yaml.safe_dump(data, sort_keys=False)


# -- options that reach Ruby, and empty ones ------------------------------------------------------
def test_box_option_is_validated_like_the_lab_files_box(tmp_path: Path) -> None:
    marker = tmp_path / "P"
    evil = f'x"; system("touch {marker}"); y="'
    out = tmp_path / "out"
    proc = netlab("render", "lab9", "-o", str(out), "--box", evil)
    one_error(proc, "is not a Vagrant box name")
    assert not out.exists() and not marker.exists()
    proc = netlab("up", "lab9", "--box", evil, "--provider", "virtualbox")
    one_error(proc, "is not a Vagrant box name")
    assert not LabState("lab9").exists


def test_an_empty_provider_is_refused_not_replaced() -> None:
    proc = netlab("up", "lab9", "--provider", "")
    one_error(proc, "unknown provider ''", "netns")
    assert not LabState("lab9").exists
    one_error(netlab("render", "lab9", "-o", "x", "--provider", ""), "unknown provider ''")


# -- paths that cannot be written -------------------------------------------------------------------
@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory not even root can write: a read-only tmpfs mounted on it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a read-only file system")
    target = tmp_path / "ro"
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def bad_paths(tmp_path: Path, read_only: Path | None) -> list[Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    paths = [a_file / "under", Path("/proc/netlab-test/out")]
    if read_only is not None:
        paths.append(read_only / "out")
    return paths


def test_render_into_a_path_that_cannot_be_written(tmp_path: Path, read_only_dir: Path) -> None:
    for target in bad_paths(tmp_path, read_only_dir):
        proc = netlab("render", "lab9", "-o", str(target))
        one_error(proc, f"cannot write {target}")


# -- lab files that are not files, too big, or hostile ---------------------------------------------
def test_a_directory_or_fifo_is_named_for_what_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "lab.yml"
    folder.mkdir()
    proc = netlab("lint", str(folder))
    assert proc.returncode != 0 and "is a directory" in proc.stdout + proc.stderr
    fifo = tmp_path / "pipe.yml"
    os.mkfifo(fifo)
    proc = netlab("lint", str(fifo))  # would hang forever if netlab opened it
    assert proc.returncode != 0 and "FIFO" in proc.stdout + proc.stderr


def test_a_huge_lab_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yml"
    with huge.open("wb") as f:
        f.truncate(3_000_000_000)  # sparse: 3 GB on paper, nothing on disk
    # Measured around this one command only (this process's own children may be QEMUs): a small
    # wrapper runs it and reports its children's peak memory.
    wrapper = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "sys.stdout.write(p.stdout + p.stderr); "
               "print('maxrss', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)")
    proc = subprocess.run([sys.executable, "-c", wrapper, *NETLAB, "lint", str(huge)], capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in proc.stdout
    assert proc.returncode == 2
    assert "3000000000 bytes; a lab file is at most 1 MB" in proc.stdout
    peak_kib = int(proc.stdout.rsplit("maxrss", 1)[1])
    # Reading the file whole would have cost 3 GB.
    assert peak_kib < 500_000


@pytest.mark.parametrize(("field", "value", "words"), [
    ("tunnels__0__vni", "1e3", "must be a whole number"),
    ("tunnels__0__vni", "100.0", "must be a whole number"),
    ("tunnels__0__vni", "0x64", "must be a whole number"),
    ("underlay__mtu", '"1500"', "must be a whole number"),
])
def test_numbers_must_be_written_as_whole_numbers(tmp_path: Path, field: str, value: str, words: str) -> None:
    text = lab_text(**{field: "PLACEHOLDER"}).replace("PLACEHOLDER", value)
    path = tmp_path / "lab.yml"
    path.write_text(text)
    proc = netlab("lint", str(path))
    assert proc.returncode == 2
    path_text = field.replace("__0__", "[0].").replace("__", ".")
    assert f"{path_text}: " in proc.stderr and words in proc.stderr, proc.stderr


@pytest.mark.parametrize(("field", "value"), [("tunnels__0__name", "type"), ("tunnels__0__name", "mtu"),
                                               ("tunnels__0__name", "help"), ("underlay__interface", "dev")])
def test_ip_keywords_are_refused_as_device_names(tmp_path: Path, field: str, value: str) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(lab_text(**{field: value}))
    proc = netlab("lint", str(path))
    assert proc.returncode == 2
    assert "is a keyword of the ip command" in proc.stderr, proc.stderr


def test_user_text_is_printed_literally(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(lab_text(title="hot :fire: [bold]lab[/bold]"))
    proc = netlab("explain", str(path))
    assert proc.returncode == 0
    assert "hot :fire: [bold]lab[/bold]" in proc.stdout
    path.write_text(lab_text(description="clears the screen \x1b[2J here\n"))
    proc = netlab("lint", str(path))
    assert proc.returncode == 2 and "control character" in proc.stderr


# -- render grows linearly --------------------------------------------------------------------------
def test_a_multicast_hosts_variables_do_not_grow_with_the_lab() -> None:
    small = yaml.safe_dump(host_vars(validate_lab(vxlan_lab("big", 10), "big.yml"), "h0"))
    big = yaml.safe_dump(host_vars(validate_lab(vxlan_lab("big", 1000), "big.yml"), "h0"))
    assert len(big) == len(small)


# -- state: modes, lock files, damage -------------------------------------------------------------
@needs_root
@pytest.mark.root
def test_state_files_are_private_whatever_the_umask(_state_dir: Path) -> None:
    try:
        proc = netlab("up", "lab9", "--provider", "netns", preexec_fn=lambda: os.umask(0))
        assert proc.returncode == 0, proc.stderr
        state = _state_dir / "lab9"
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        assert stat.S_IMODE((state / "state.json").stat().st_mode) == 0o600
    finally:
        assert netlab("down", "lab9").returncode == 0
    assert list(_state_dir.iterdir()) == [], "down leaves no state and no lock file behind"


@needs_root
@pytest.mark.root
@pytest.mark.parametrize("damage", ["[]", '{"resources": "x"}', '{"provider": "netns", "resources": [1]}', "{"])
def test_a_damaged_state_is_reported_and_down_still_cleans_up(_state_dir: Path, damage: str) -> None:
    try:
        assert netlab("up", "lab9", "--provider", "netns").returncode == 0
        (_state_dir / "lab9" / "state.json").write_text(damage)
        proc = netlab("status", "lab9")
        if damage.startswith("{\""):
            # A JSON object: read field by field (what no longer validates is left at its default).
            assert proc.returncode == 0 and "boxA" in proc.stdout, proc.stderr
        else:
            one_error(proc, "is damaged")
    finally:
        proc = netlab("down", "lab9")
    assert proc.returncode == 0, proc.stderr
    assert netlab_namespaces("lab9") == []
    assert not LabState("lab9").exists


@needs_root
@pytest.mark.root
def test_results_survive_a_junit_path_that_cannot_be_written(tmp_path: Path, read_only_dir: Path) -> None:
    try:
        assert netlab("up", "lab9", "--provider", "netns").returncode == 0
        for target in bad_paths(tmp_path, read_only_dir):
            proc = netlab("verify", "lab9", "-k", "params", "--junit-xml", str(target))
            assert "passed, 0 failed" in proc.stdout, proc.stdout  # the results table came first
            one_error(proc, f"cannot write --junit-xml {target}")
        missing = tmp_path / "no-such-dir" / "c.pcap"
        one_error(netlab("capture", "lab9", "-c", "1", "-w", str(missing)), f"cannot write {missing}")
        one_error(netlab("capture", "lab9", "-c", "1", "-w", "/proc/netlab.pcap"), "cannot write /proc/netlab.pcap")
    finally:
        netlab("down", "lab9")


@needs_root
@pytest.mark.root
def test_a_state_directory_with_a_space_and_a_semicolon_runs_nothing(tmp_path: Path) -> None:
    """Every value in the templates is quoted: `up --via ansible` with such a state directory works,
    runs nothing it should not, and writes no file others can change (umask 000 here)."""
    marker = tmp_path / "P"
    state = tmp_path / f"x y;touch {marker}"
    env = {**os.environ, "NETLAB_STATE_DIR": str(state)}
    try:
        proc = subprocess.run([*NETLAB, "up", "lab9", "--name", "relq", "--via", "ansible", "--provider", "netns"],
                              capture_output=True, text=True, timeout=300, env=env, preexec_fn=lambda: os.umask(0))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not marker.exists(), "a command in the state directory's name ran"
        files = list((state / "relq" / "hosts").rglob("*.sh"))
        assert files, "the roles wrote their scripts into the hosts' directories"
        for path in files:
            assert not stat.S_IMODE(path.stat().st_mode) & 0o022, f"{path} is writable by others"
        check = subprocess.run([*NETLAB, "verify", "relq", "-k", "params"], capture_output=True, text=True,
                               timeout=120, env=env)
        assert check.returncode == 0, check.stdout
    finally:
        subprocess.run([*NETLAB, "down", "relq"], capture_output=True, env=env, timeout=120)
    assert netlab_namespaces("relq") == []
