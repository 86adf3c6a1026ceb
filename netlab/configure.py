"""Run the lab's Ansible playbook against a provider's hosts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from netlab.errors import NetlabError, ToolMissing
from netlab.providers.base import Progress, Provider
from netlab.render import render


def ansible_playbook() -> str:
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if not found:
        raise ToolMissing("ansible-playbook", "ansible-core (pip install ansible-core)", "configure hosts")
    return found


def render_workdir(provider: Provider) -> Path:
    from netlab.providers import reach_hosts, render_options

    opts = reach_hosts(render_options(provider.name, provider.lab), provider)
    render(provider.lab, provider.state.workdir, opts)
    return provider.state.workdir


def run_playbook(provider: Provider, progress: Progress) -> None:
    workdir = render_workdir(provider)
    argv = [ansible_playbook(), "site.yml"]
    env = {**os.environ, "ANSIBLE_CONFIG": str(workdir / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_LOCAL_TEMP": str(workdir / ".ansible-tmp")}
    progress("running ansible-playbook site.yml")
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    transcript: list[str] = []
    for line in proc.stdout:
        transcript.append(line)
        if line.startswith(("TASK [", "PLAY [")):
            progress(line.strip(" *\n"))
    if proc.wait() != 0:
        tail = "".join(transcript[-30:])
        raise NetlabError(
            f"ansible-playbook failed (exit {proc.returncode}) in {workdir}:\n{tail}",
            hint=f"cd {workdir} && ansible-playbook site.yml -vv to see more",
        )
