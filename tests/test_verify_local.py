"""verify waits for no host forever (issue 9): every batch has a local deadline, and its pipes
are read only while the local process lives (an SSH ControlMaster keeps a session's pipes open
after its client is gone). Runs on this machine, no root."""

from __future__ import annotations

import time

from netlab.catalog import load_lab, resolve
from netlab.verify import local
from netlab.verify.context import Context, Probe

from .test_checks_timeouts import LocalProvider


def test_a_process_past_the_local_deadline_is_stopped() -> None:
    start = time.monotonic()
    got = local.run_bounded("sh -c 'echo started; sleep 20'", 1.0)
    assert time.monotonic() - start < 5
    assert got.timed_out and "started" in got.stdout


def test_pipes_held_by_another_process_do_not_keep_verify_waiting() -> None:
    # What a ControlMaster does: the command is done, something else still holds its stdout.
    start = time.monotonic()
    got = local.run_bounded("sh -c 'sleep 20 & echo done'", 30.0)
    assert time.monotonic() - start < 5
    assert not got.timed_out and got.rc == 0 and got.stdout == "done\n"


def test_a_hung_host_fails_its_cases_with_no_answer_and_the_command() -> None:
    ctx = Context(load_lab(resolve("lab10")), LocalProvider())  # type: ignore[arg-type]
    ctx.slack = 1.0
    ctx.transport = lambda host: 1.0  # type: ignore[method-assign]
    # The host "hangs": its whole batch (sh) is stopped by nothing there.
    real = local.shell_command
    local.shell_command = lambda backend, command: "sh -c 'trap \"\" TERM; sleep 20'"  # type: ignore[assignment]
    try:
        start = time.monotonic()
        seen = ctx.batch("boxA", [Probe("ip -j link show"), Probe("fping 10.0.0.2", budget=1.0)])
    finally:
        local.shell_command = real  # type: ignore[assignment]
    took = time.monotonic() - start
    assert took < 5 + local.TERM_GRACE + local.EOF_GRACE + 2, took
    for probe, ev in seen.items():
        assert ev.timed_out and ev.command == probe.command
        assert ev.render().startswith(f"[boxA] $ {probe.command}   (no answer within {ev.deadline} s)")
        assert "netlab waited" in ev.output and "sleep 20" in ev.output


def test_verify_ssh_commands_never_become_a_master() -> None:
    class SshProvider(LocalProvider):
        def testinfra_options(self) -> dict[str, object]:
            return {"controlpersist": 120}

        def testinfra_uri(self, host: str) -> str:
            return f"ssh://{host}?ssh_config=/nonexistent/ssh_config"

    ctx = Context(load_lab(resolve("lab10")), SshProvider())  # type: ignore[arg-type]
    shell = local.shell_command(ctx.hosts["boxA"].backend, "true")
    assert shell is not None and "-o ControlMaster=no" in shell and "ControlPersist" not in shell
    assert ctx.transport("boxA") == 20.0  # ssh's ConnectTimeout beyond the script's bounds
