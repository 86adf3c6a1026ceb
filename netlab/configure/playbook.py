"""site.yml through ansible-runner: progress from its events, failures named by host and task."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netlab.configure.workdir import render_workdir
from netlab.errors import NetlabError, ToolMissing
from netlab.providers.base import Progress, Provider

# The whole Ansible output of the last run, in the lab's work directory.
LOG_NAME = "ansible.log"


def ansible_playbook() -> str:
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if not found:
        raise ToolMissing("ansible-playbook", "ansible-core (pip install ansible-core)", "configure hosts")
    return found


@dataclass
class PlaybookRun:
    """What a playbook run did, from its events: per host, tasks that changed something."""

    changed: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # "HOST: task 'NAME': message"


def run_playbook(provider: Provider, progress: Progress, prune: bool = True) -> list[str]:
    import ansible_runner  # imported here: it costs a noticeable part of a second

    workdir = render_workdir(provider)
    binary = ansible_playbook()
    outcome = PlaybookRun()

    def on_event(event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        kind = event.get("event")
        if kind in ("playbook_on_play_start", "playbook_on_task_start"):
            what = "PLAY" if kind == "playbook_on_play_start" else "TASK"
            progress(f"{what} [{data.get('play') if what == 'PLAY' else data.get('task')}]")
        elif kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            res = data.get("res") or {}
            message = (res.get("msg") or res.get("stderr") or "").strip().splitlines()
            outcome.failures.append(f"{data.get('host')}: task {data.get('task')!r}"
                                    + (f": {message[-1]}" if message else "")
                                    + (" (unreachable)" if kind == "runner_on_unreachable" else ""))
        return True  # keep the event in the artifacts

    progress("running ansible-playbook site.yml")
    private = workdir / ".runner"
    private.mkdir(mode=0o700, exist_ok=True)
    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(workdir),
        playbook=str(workdir / "site.yml"),
        inventory=str(workdir / "inventory.yml"),
        # ansible-runner starts `ansible-playbook` from PATH: netlab's own comes first.
        envvars={"PATH": f"{Path(binary).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                 "ANSIBLE_CONFIG": str(workdir / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                 "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_LOCAL_TEMP": str(workdir / ".ansible-tmp")},
        event_handler=on_event,
        quiet=True,
        suppress_env_files=True,
        rotate_artifacts=1,
    )
    log = workdir / LOG_NAME
    stdout = runner.stdout.read() if runner.stdout else ""
    log.write_text(stdout)
    outcome.changed = dict((runner.stats or {}).get("changed", {}))
    if runner.rc != 0 or runner.status != "successful":
        where = "; ".join(outcome.failures) or "\n".join(stdout.strip().splitlines()[-30:])
        raise NetlabError(
            f"ansible-playbook failed (exit {runner.rc}): {where}",
            hint=f"the whole output is in {log}; `netlab up` again resumes from here",
        )
    return [f"{host}: {count} task{'s' if count != 1 else ''} changed"
            for host, count in sorted(outcome.changed.items()) if count]
