"""What netlab did to a lab: log."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from netlab.cli.app import LabArg, app, examples, fail, out
from netlab.errors import NetlabError


@app.command("log", epilog=examples("sudo netlab log lab10", "sudo netlab log lab10 --ansible | less"))
def show_log(
    lab: LabArg,
    ansible: Annotated[bool, typer.Option("--ansible", help="only Ansible's whole output of the last "
                                          "ansible-playbook run (up --via ansible, qemu, ssh)")] = False,
    tail: Annotated[int | None, typer.Option("-n", "--tail", help="only the last N lines")] = None,
    path: Annotated[bool, typer.Option("--path", help="print where the logs are, not what they say")] = False,
) -> None:
    """Every external command netlab ran for a lab, with its input, exit code and time, and the output
    of those that failed; then Ansible's whole output, if it ran.

    A failed `netlab up` can be read here afterwards: the log is kept with the lab's state until
    `netlab down` removes the lab."""
    from netlab.cmdlog import log_path, read_log
    from netlab.configure.playbook import LOG_NAME as ANSIBLE_LOG
    from netlab.model.lab import LAB_NAME_RE
    from netlab.state import LabState

    try:
        if tail is not None and tail < 0:
            raise NetlabError(f"-n {tail}: a number of lines is not negative", hint="give -n 20 for the last 20 lines")
        name = lab if LAB_NAME_RE.fullmatch(lab) else None
        if name is None:
            from netlab.cli.app import load_lab_ref

            name = load_lab_ref(lab).name
        state = LabState(name)
        if not state.dir.is_dir():
            raise NetlabError(f"lab {name} has no log: it is not up on this machine",
                              hint="netlab up writes one; netlab down removes it with the lab")
    except NetlabError as exc:
        fail(exc)
    ansible_log = state.workdir / ANSIBLE_LOG
    if path:
        for p in (log_path(state.dir), ansible_log):
            if p.exists():
                out.print(str(p), highlight=False, markup=False)
        return
    parts = []
    if not ansible:
        parts.append(read_log(state.dir) or f"(no commands recorded for lab {name})\n")
    if ansible_log.exists():
        text = ansible_log.read_text(errors="replace")
        parts.append(f"=== Ansible's output ({ansible_log})\n{text}" if not ansible else text)
    elif ansible:
        fail(NetlabError(f"lab {name} has no Ansible output", hint="Ansible ran on it? netlab up --via ansible"))
    text = "".join(p if p.endswith("\n") else p + "\n" for p in parts)
    if tail is not None:  # -n 0: no line (a [-0:] slice would be all of them)
        lines = text.splitlines()[-tail:] if tail else []
        text = "".join(line + "\n" for line in lines)
    sys.stdout.write(text)
    raise typer.Exit(0)
