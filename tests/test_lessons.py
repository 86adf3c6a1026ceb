"""The lessons (docs/lessons/<lab>.md) run for real, so they never go stale.

A lesson is Markdown. Its commands are the lines starting with `$ netlab` inside ```sh blocks, in
document order; below a command, `# exit: N` (default 0), `# expect: TEXT` and `# expect-not:
TEXT` lines say what the test checks, and every other line until the next command is the output
a real run printed (shown to the reader, not compared: timestamps and MACs differ per run).
The first line `<!-- netlab-lesson: lab=LAB provider=netns|qemu -->` names the catalog lab and
the provider the lesson runs on (qemu: the tunnel types this machine's kernel lacks).

For each lesson the test runs every command in order under an instance name of its own
(`netlab up LAB ...` gets `--name lsn-LAB`; every other command's lab argument becomes the
instance, except explain's; expectations are never renamed, so they must not name the lab),
checks each exit code and expectation, and always takes the lab down. A capture runs CAPTURE_RUNS
times (each time after the commands just before it that print nothing, such as the `ip neigh
flush` that makes the ping ask ARP again): a capture that shows what it should only now and then
is a stale lesson too. The netns lessons need root
and take 15-30 s each on the shared 2-core test machine (mostly Python starting netlab once per
command); the qemu ones are marked qemu and slow (1.5-5 min each, mostly `up`).
The structural tests (every catalog lab has a lesson with the five parts, every expectation is in
the output the lesson shows) need neither.

NETLAB_LESSON_RECORD=DIR also writes what each command printed to DIR/<lab>.json (the instance
name put back to the lab's), which is where a lesson's shown output comes from.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from netlab import catalog

from .conftest import REPO, needs_root, netlab_namespaces, netns_cannot_run
from .test_qemu import needs_vms

LESSONS = REPO / "docs" / "lessons"
NETLAB = [sys.executable, "-m", "netlab"]
HEADER = re.compile(r"<!--\s*netlab-lesson:\s*(?P<args>[^>]*?)\s*-->")
SECTIONS = ("## Goal", "## Steps", "## What to look at", "## Questions", "## Break and fix")
# Commands that take a lab file or catalog name, not a running lab: never renamed.
FILE_COMMANDS = {"explain", "lint", "list", "render", "schema"}
# How many times each capture step runs: all must show what the lesson expects.
CAPTURE_RUNS = 3


@dataclass
class Step:
    command: str
    line: int
    exit: int = 0
    expect: list[str] = field(default_factory=list)
    expect_not: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command)


@dataclass
class Lesson:
    path: Path
    lab: str
    provider: str
    text: str
    steps: list[Step]


def parse(path: Path) -> Lesson:
    text = path.read_text(encoding="utf-8")
    header = HEADER.match(text)
    assert header, f"{path.name}: the first line must be <!-- netlab-lesson: lab=LAB provider=netns|qemu -->"
    args = dict(word.split("=", 1) for word in header["args"].split())
    steps: list[Step] = []
    fence: str | None = None
    step: Step | None = None  # the command whose output the block shows, until the block ends
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fence, step = (line[3:].strip() if fence is None else None), None
        elif fence != "sh":
            continue
        elif line.startswith("$ "):
            step = Step(line[2:].strip(), number)
            steps.append(step)
        elif step is None:
            continue
        elif line.startswith("# exit: "):
            step.exit = int(line.removeprefix("# exit: "))
        elif line.startswith("# expect: "):
            step.expect.append(line.removeprefix("# expect: "))
        elif line.startswith("# expect-not: "):
            step.expect_not.append(line.removeprefix("# expect-not: "))
        else:
            step.shown.append(line)
    return Lesson(path, args.get("lab", ""), args.get("provider", "netns"), text, steps)


def lesson_files() -> list[Path]:
    return sorted(p for p in LESSONS.glob("*.md") if p.name != "README.md")


def lessons_on(provider: str) -> list[str]:
    return [p.stem for p in lesson_files() if parse(p).provider == provider]


def instance_of(lab: str) -> str:
    return f"lsn-{lab}"[:16]


def renamed(step: Step, lab: str, instance: str) -> list[str]:
    """The command as the test runs it: under the instance name. (Expectations are not renamed:
    a lab's name is often a word of the output too, as in `geneve id 300`; a lesson expects
    nothing that names the lab.)"""
    argv = step.argv
    if argv[1] == "up":
        return [*argv, "--name", instance]
    if argv[1] in FILE_COMMANDS or argv[2:3] != [lab]:
        return argv
    return [*argv[:2], instance, *argv[3:]]  # the lab argument only: `-- ip link show gre1` stays


def schedule(steps: list[Step], runs: int = CAPTURE_RUNS) -> list[tuple[Step, int]]:
    """The steps as run: (step, run), a capture CAPTURE_RUNS times, each time after the silent
    `exec` commands right before it (its preparation: they print nothing)."""
    out: list[tuple[Step, int]] = []
    for index, step in enumerate(steps):
        out.append((step, 1))
        if step.argv[1] != "capture":
            continue
        start = index
        while start > 0 and steps[start - 1].argv[1] == "exec" and not steps[start - 1].shown \
                and steps[start - 1].exit == 0:
            start -= 1
        for run in range(2, runs + 1):
            out += [(prep, run) for prep in steps[start:index]] + [(step, run)]
    return out


# -- the lessons' form: no root, no lab ---------------------------------------------------------
def test_every_catalog_lab_has_a_lesson_and_every_lesson_a_lab() -> None:
    labs = {e.name for e in catalog.catalog()}
    lessons = {p.stem for p in lesson_files()}
    assert labs - lessons == set(), "catalog labs without a lesson"
    assert lessons - labs == set(), "lessons without a catalog lab"


@pytest.mark.parametrize("name", [p.stem for p in lesson_files()])
def test_lesson_form(name: str) -> None:
    lesson = parse(LESSONS / f"{name}.md")
    assert lesson.lab == name, "the header's lab= is the file's name"
    assert lesson.provider in ("netns", "qemu")
    positions = [lesson.text.find(f"\n{s}\n") for s in SECTIONS]
    assert all(p > 0 for p in positions), f"sections: {SECTIONS}"
    assert positions == sorted(positions), f"in this order: {SECTIONS}"
    steps = lesson.steps
    assert steps, "no `$ netlab` commands in ```sh blocks"
    for step in steps:
        assert step.argv[0] == "netlab", f"line {step.line}: commands start with netlab"
        assert step.argv[2:3] == [lesson.lab] or step.argv[1] == "ls", f"line {step.line}: every command names the lab"
        for text in step.expect:
            assert any(text in line for line in step.shown), \
                f"line {step.line}: `# expect: {text}` is not in the output the lesson shows"
        for text in step.expect_not:
            assert not any(text in line for line in step.shown), \
                f"line {step.line}: the output shown has `{text}`, which the lesson says is absent"
        assert step.shown or (step.exit == 0 and not step.expect), \
            f"line {step.line}: a checked command shows its output"
    up, down = steps[0].argv, steps[-1].argv
    assert up[1:3] == ["up", lesson.lab], "the first command brings the lab up"
    # On a shared machine a bare `up LAB` is everyone's lab: the lesson shows --name where it starts.
    before_up = lesson.text[lesson.text.index("\n## Steps\n"):lesson.text.index(f"$ {steps[0].command}")]
    assert f"netlab up {lesson.lab}" in before_up and "--name " in before_up, \
        "the steps start by showing `netlab up LAB --name NAME` (for a shared machine)"
    assert ("--provider" in up and up[up.index("--provider") + 1] == "qemu") == (lesson.provider == "qemu")
    assert down[1:3] == ["down", lesson.lab], "the last command takes it down"
    # The break-and-fix exercise: a break, a check that fails, then the same check passing.
    heading = lesson.text.splitlines().index("## Break and fix") + 1
    exercise = [s for s in steps if s.line > heading]
    verbs = [s.argv[1] for s in exercise]
    assert "break" in verbs, "the exercise breaks the lab"
    after = exercise[verbs.index("break"):]
    # The check is a verify, or (a lab whose checks netlab lacks yet, such as the tenants') one
    # exec command: it fails after the break (# exit: 1) and the very same command passes at the end.
    failing = next((s for s in after if s.argv[1] in ("verify", "exec") and s.exit != 0), None)
    assert failing is not None, "after the break, verify (or an exec check) fails (# exit: 1)"
    if failing.argv[1] == "verify":
        verifies = [s for s in after if s.argv[1] == "verify"]
        assert verifies[-1].exit == 0 and "all checks pass" in verifies[-1].expect, "the fix makes verify pass"
    else:
        again = [s for s in after if s.command == failing.command]
        assert again[-1].exit == 0 and again[-1].line > failing.line, \
            f"line {failing.line}: the fix makes `{failing.command}` pass (the same command, # exit: 0)"
    assert all(s.expect for s in steps if s.argv[1] == "verify"), "every verify says what it expects"


def test_teaching_shows_a_name_of_ones_own_before_any_command() -> None:
    text = (REPO / "docs" / "teaching.md").read_text(encoding="utf-8")
    first_command = text.index("sudo netlab ")
    shared = text.index("## On a shared machine")
    assert shared < first_command, "the --name section comes first"
    section = text[shared:text.index("\n## ", shared + 1)]
    assert "sudo netlab up lab10 --name " in section and "sudo netlab down " in section


def test_the_parser_reads_commands_checks_and_output(tmp_path: Path) -> None:
    path = tmp_path / "demo.md"
    path.write_text("<!-- netlab-lesson: lab=demo provider=qemu -->\n# demo\n\n```sh\n$ netlab verify demo\n"
                    "# exit: 1\n# expect: 3 failed\n# expect-not: all checks pass\n9 passed, 3 failed\n```\n\n"
                    "```text\n$ not a command\n```\n", encoding="utf-8")
    lesson = parse(path)
    assert (lesson.lab, lesson.provider) == ("demo", "qemu")
    [step] = lesson.steps
    assert (step.command, step.exit, step.expect, step.expect_not) == \
        ("netlab verify demo", 1, ["3 failed"], ["all checks pass"])
    assert step.shown == ["9 passed, 3 failed"]
    assert renamed(step, "demo", "lsn-demo") == ["netlab", "verify", "lsn-demo"]
    up = Step("netlab up demo --provider qemu", 1)
    assert renamed(up, "demo", "lsn-demo") == ["netlab", "up", "demo", "--provider", "qemu", "--name", "lsn-demo"]
    assert renamed(Step("netlab explain demo", 1), "demo", "lsn-demo") == ["netlab", "explain", "demo"]
    assert renamed(Step("netlab verify lab10-routed", 1), "lab10", "x") == ["netlab", "verify", "lab10-routed"]
    flush = Step("netlab exec demo boxA -- ip neigh flush dev vxlan0", 2)
    capture = Step("netlab capture demo --ping boxA boxB -c 1", 3, shown=["1 packet captured"])
    runs = schedule([step, flush, capture])
    assert [(s.line, n) for s, n in runs] == [(5, 1), (2, 1), (3, 1), (2, 2), (3, 2), (2, 3), (3, 3)]
    exec_ = Step("netlab exec geneve boxA -- ip -d link show geneve", 1)
    assert renamed(exec_, "geneve", "x") == ["netlab", "exec", "x", "boxA", "--", "ip", "-d", "link", "show", "geneve"]


# -- the lessons for real -----------------------------------------------------------------------
def run_lesson(name: str, timeout_up: float, timeout: float, capture_runs: int = CAPTURE_RUNS) -> None:
    lesson = parse(LESSONS / f"{name}.md")
    instance = instance_of(lesson.lab)
    record = os.environ.get("NETLAB_LESSON_RECORD")
    log: list[dict[str, object]] = []
    problems: list[str] = []
    down_ran = False
    assert netlab_namespaces(instance) == [], f"{instance} is already up"
    # Every step runs even after one went wrong: a stale lesson shows all its stale lines at once.
    try:
        for step, run in schedule(lesson.steps, capture_runs):
            argv = renamed(step, lesson.lab, instance)
            started = time.monotonic()
            proc = subprocess.run([*NETLAB, *argv[1:]], capture_output=True, text=True,
                                  timeout=timeout_up if argv[1] == "up" else timeout)
            output = proc.stdout + proc.stderr
            where = f"{name}.md line {step.line}: {shlex.join(argv)}" + (f" (run {run})" if run > 1 else "")
            if run == 1:
                log.append({"command": step.command, "exit": proc.returncode,
                            "seconds": round(time.monotonic() - started, 1),
                            "stdout": proc.stdout.replace(instance, lesson.lab),
                            "stderr": proc.stderr.replace(instance, lesson.lab)})
            wrong = ["a Traceback"] if "Traceback" in output else []
            wrong += [f"exit {proc.returncode}, lesson says {step.exit}"] if proc.returncode != step.exit else []
            wrong += [f"no `{text}`" for text in step.expect if text not in output]
            wrong += [f"`{text}` is there" for text in step.expect_not if text in output]
            if wrong:
                problems.append(f"{where}: {'; '.join(wrong)}\n{output}")
                assert argv[1] != "up", problems[-1]  # nothing else can run
            down_ran = argv[1] == "down" and proc.returncode == 0
    finally:
        if record:
            Path(record).mkdir(parents=True, exist_ok=True)
            (Path(record) / f"{name}.json").write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")
        if not down_ran:  # a step went wrong before the lesson's own down: the lab still goes
            subprocess.run([*NETLAB, "down", instance], capture_output=True, text=True, timeout=timeout_up)
    assert not problems, "\n\n".join(problems)
    listed = json.loads(subprocess.run([*NETLAB, "ls", "--json"], capture_output=True, text=True).stdout)
    assert instance not in [row["name"] for row in listed]
    assert netlab_namespaces(instance) == []


def netns_lessons() -> list[object]:
    """The netns lessons; one whose lab this machine's netns cannot run (a kernel without
    multicast routing) is skipped: its lab runs on QEMU in test_qemu_catalog."""
    out: list[object] = []
    for name in lessons_on("netns"):
        why = netns_cannot_run(parse(LESSONS / f"{name}.md").lab)
        out.append(pytest.param(name, marks=[pytest.mark.skip(reason=why)] if why else [], id=name))
    return out


@needs_root
@pytest.mark.root
@pytest.mark.parametrize("name", netns_lessons())
def test_lesson_on_netns(name: str) -> None:
    run_lesson(name, timeout_up=120, timeout=60)


@needs_vms
@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("name", lessons_on("qemu"))
def test_lesson_on_qemu(name: str, vm_image: object) -> None:
    # Each capture once: a VM's capture costs seconds under emulation and CI has an hour; the
    # repeated runs on netns prove the captures' preparation (the same lessons' commands).
    run_lesson(name, timeout_up=900, timeout=180, capture_runs=1)
