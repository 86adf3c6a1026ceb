"""Every command a check runs has a deadline: one that runs out fails its case with "no answer
within N s" and the command, never a hang. Runs on this machine through testinfra's local
backend (no root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from netlab.catalog import load_lab, resolve
from netlab.verify.checks import CHECKS, plan, render_evidence
from netlab.verify.checks.base import no_answer
from netlab.verify.context import Context, Evidence, Outcome, Probe, batch_script, parse_batch


class LocalProvider:
    """Just what Context asks of a provider: every host is this machine."""

    reply_timeout = 0.1
    max_parallel_commands = 4

    def testinfra_options(self) -> dict[str, Any]:
        return {}

    def testinfra_uri(self, host: str) -> str:
        return "local://"


def context(slack: float = 1.0) -> Context:
    ctx = Context(load_lab(resolve("lab10")), LocalProvider())  # type: ignore[arg-type]
    ctx.slack = slack
    return ctx


def test_a_command_past_its_deadline_is_stopped_and_marked() -> None:
    ctx = context()
    start = time.monotonic()
    ev = ctx.sh("boxA", "echo started; sleep 30")
    assert time.monotonic() - start < 5
    assert ev.timed_out and ev.deadline == 1
    assert ev.command == "echo started; sleep 30"  # the evidence shows the check's own command
    assert "started" in ev.stdout
    assert ev.render().startswith("[boxA] $ echo started; sleep 30   (no answer within 1 s)")


def test_a_command_within_its_deadline_keeps_its_exit_code_and_output() -> None:
    ctx = context()
    ev = ctx.sh("boxA", "echo \"it's here\"; exit 3")  # quotes survive the wrapping
    assert not ev.timed_out and ev.rc == 3 and ev.stdout == "it's here\n"
    # The budget is what the command's own bounds allow, on top of the slack.
    assert ctx.deadline(2.5) == 4


def test_the_slack_grows_with_the_providers_reply_timeout() -> None:
    ctx = Context(load_lab(resolve("lab10")), LocalProvider())  # type: ignore[arg-type]
    assert ctx.slack == 5.0
    LocalProvider.reply_timeout = 3.0
    try:
        assert Context(load_lab(resolve("lab10")), LocalProvider()).slack == 30.0  # type: ignore[arg-type]
    finally:
        LocalProvider.reply_timeout = 0.1


def test_no_answer_fails_the_case_and_names_the_command() -> None:
    late = Evidence("boxA", "ip maddr show dev enp0s8", 124, "", "", deadline=6, timed_out=True)
    fine = Evidence("boxA", "true", 0, "")
    assert no_answer(Outcome(True, "ok", [fine])).passed
    outcome = no_answer(Outcome(True, "239.255.0.1 joined on enp0s8", [fine, late]))
    assert not outcome.passed
    assert outcome.summary == "no answer within 6 s: ip maddr show dev enp0s8"
    assert "(no answer within 6 s)" in render_evidence(outcome.evidence)


def test_a_check_whose_host_never_answers_fails_every_case_in_time() -> None:
    # Every command "hangs": the checks' verdicts say so within the deadline.
    ctx = context(slack=1.0)

    def hanging(host: str, probes: list[Probe]) -> dict[Probe, Evidence]:
        return {p: Evidence(host, p.command, 124, "", "", deadline=ctx.deadline(p.budget), timed_out=True)
                for p in probes}

    ctx.batch = hanging  # type: ignore[method-assign]
    for name in ("maddr", "socket", "ping", "mtu", "params", "fdb", "wire"):
        cases = plan(ctx.lab, [name])
        outcomes = CHECKS[name].verdicts(ctx, cases)
        assert set(outcomes) == set(cases)
        for outcome in outcomes.values():
            assert not outcome.passed
            assert outcome.summary.startswith("no answer within ") or outcome.summary.startswith("no device"), \
                outcome.summary


def test_a_batch_runs_each_command_with_its_own_deadline_and_keeps_its_output() -> None:
    ctx = context(slack=1.0)
    probes = [Probe("echo out; echo err >&2; exit 3"), Probe("sleep 30"), Probe("cat /nonexistent", stage=1),
              Probe("printf \"it's\"")]
    start = time.monotonic()
    seen = ctx.batch("boxA", probes)
    assert time.monotonic() - start < 5  # the sleep's deadline (1 s), not its 30 s
    assert (seen[probes[0]].rc, seen[probes[0]].stdout, seen[probes[0]].output) == (3, "out\n", "out\n\nerr\n")
    assert seen[probes[1]].timed_out and seen[probes[1]].deadline == 1
    assert seen[probes[2]].rc == 1 and "No such file" in seen[probes[2]].output
    assert seen[probes[3]].stdout == "it's"


def test_batch_output_parses_back_into_each_commands_result() -> None:
    script = batch_script([("echo a", 5, 0), ("printf b; exit 2", 5, 0), ("ip -j link", None, 0)], "tok")
    assert "timeout -k 2 5 echo a >" in script  # a plain command needs no shell
    assert "timeout -k 2 5 sh -c 'printf b; exit 2' >" in script
    assert "\nip -j link >" in script  # a local read: no timeout of its own
    assert parse_batch("junk@@tok:1:2\nb\n@@tok:err\n\n", 2, "tok") == [None, (2, "b", "")]


def scratch_dirs() -> set[str]:
    return {str(p) for p in Path("/dev/shm").glob("netlab.*")}


def test_a_batch_keeps_its_files_in_memory_and_removes_them() -> None:
    ctx = context(slack=1.0)
    before = scratch_dirs()
    probes = [Probe("ls -d /dev/shm/netlab.*", self_bounded=True), Probe("echo \"$0\"; exit 4", self_bounded=True)]
    seen = ctx.batch("boxA", probes)
    assert set(seen[probes[0]].stdout.split()) - before  # its own directory, while it ran
    assert (seen[probes[1]].rc, seen[probes[1]].stdout) == (4, "sh\n")  # not plain: through a shell
    assert scratch_dirs() == before


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root to mount")
def test_without_a_writable_dev_shm_a_batch_uses_tmpdir(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    (tmp_path / "batch.sh").write_text(batch_script([("echo a", 5, 0), (f"ls {tmp}", None, 0)], "tok"))
    read_only_shm = f"mount -t tmpfs -o ro tmpfs /dev/shm && sh {tmp_path}/batch.sh"
    proc = subprocess.run(["unshare", "-m", "sh", "-c", read_only_shm], env={**os.environ, "TMPDIR": str(tmp)},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    (echo, listing) = parse_batch(proc.stdout, 2, "tok")
    assert echo == (0, "a\n", "")
    assert listing is not None and listing[1].startswith("netlab.")  # its directory, while it ran
    assert list(tmp.iterdir()) == []  # removed at the end
