"""The `vagrant` command: a thin wrapper over the few calls netlab needs, and its output parser.

Not python-vagrant: its last release (1.0.0, 2022) raises on machine-readable lines with other
than four fields.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from netlab.errors import NetlabError, ToolMissing


def vagrant_bin(purpose: str = "run Vagrant labs") -> str:
    found = shutil.which("vagrant")
    if found is None:
        raise ToolMissing("vagrant", "vagrant", purpose)
    return found


def base_env() -> dict[str, str]:
    return {**os.environ, "VAGRANT_NO_COLOR": "1", "VAGRANT_CHECKPOINT_DISABLE": "1"}


def run_vagrant(args: list[str], cwd: Path, env: dict[str, str], progress: Callable[[str], None] | None = None,
                check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """`vagrant ARGS` in `cwd`; with `progress`, each output line is passed on as it comes."""
    argv = [vagrant_bin(), *args]
    if progress is None:
        try:
            proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            proc = subprocess.CompletedProcess(argv, 124, "", f"no answer within {timeout:g} s")
    else:
        lines: list[str] = []
        with subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, text=True) as child:
            assert child.stdout is not None
            for line in child.stdout:
                lines.append(line)
                if line.strip():
                    progress(line.rstrip())
        proc = subprocess.CompletedProcess(argv, child.returncode, "".join(lines), "")
    if check and proc.returncode != 0:
        raise failure(proc, cwd)
    return proc


def failure(proc: subprocess.CompletedProcess[str], cwd: Path) -> NetlabError:
    """The error for a failed `vagrant` call: its last lines, and how to see them all."""
    args = " ".join(proc.args[1:])
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
    return NetlabError(f"vagrant {args} failed (exit {proc.returncode}):\n{tail}",
                       hint=f"{shlex.join(['cd', str(cwd)])} && {shlex.join(['vagrant', *map(str, proc.args[1:])])} "
                       "to see it all")


def machine_id(workdir: Path, machine: str, provider: str) -> str:
    """The id Vagrant keeps for a machine it made from `workdir`'s Vagrantfile ('' when none:
    never made, destroyed, or made by a `vagrant up` killed before it wrote the id)."""
    try:
        return (workdir / ".vagrant" / "machines" / machine / provider / "id").read_text().strip()
    except OSError:
        return ""


def plugins(timeout: float = 60.0) -> str:
    """`vagrant plugin list` output ('' when vagrant is missing or does not answer)."""
    if shutil.which("vagrant") is None:
        return ""
    try:
        return subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True, env=base_env(),
                              timeout=timeout, stdin=subprocess.DEVNULL).stdout
    except subprocess.TimeoutExpired:
        return ""


def box_add(name: str, box_file: Path, timeout: float = 600.0) -> None:
    """`vagrant box add --force --name NAME FILE` (a local box file)."""
    vagrant_bin("add the libvirt box")
    proc = run_vagrant(["box", "add", "--force", "--name", name, str(box_file)], cwd=box_file.parent,
                       env=base_env(), check=False, timeout=timeout)
    if proc.returncode != 0:
        raise NetlabError(f"vagrant box add failed: {proc.stderr.strip() or proc.stdout.strip()}",
                          hint="apt-get install vagrant-libvirt")


def parse_machine_readable(output: str) -> list[tuple[str, str, list[str]]]:
    """`vagrant --machine-readable` lines -> (target, type, data fields); tolerant of extra fields."""
    rows = []
    for line in output.splitlines():
        parts = line.split(",")
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        data = [p.replace("%!(VAGRANT_COMMA)", ",").replace("\\n", "\n") for p in parts[3:]]
        rows.append((parts[1], parts[2], data))
    return rows


def machine_states(output: str) -> dict[str, str]:
    return {target: data[0] for target, kind, data in parse_machine_readable(output) if kind == "state" and data}
