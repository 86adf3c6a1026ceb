"""`netlab verify --via pytest`: the same checks as pytest tests, run in-process.

One test function per check (netlab/verify/suite.py), parametrized by this plugin with that
check's hosts: one pytest test per check and host (`ping[boxA]`). Every host's batch runs once
pytest has collected the tests; each test then asserts its cases' verdicts. The outcomes are
the ones the default path computes (tests/test_verify_pytest.py holds both to that); this path
exists for those who want pytest's own machinery around the checks. pytest is imported here
only: it costs ~0.2 s per run (import and session), more than all of lab10's checks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netlab.errors import NetlabError
from netlab.verify import suite
from netlab.verify.checks import Case, Seen
from netlab.verify.context import Context, Outcome

_NOT_RUN = Outcome(False, "not run")
# What the default path runs: every host's batch, then the verdicts (netlab.verify.runner.gather).
Gather = Callable[[Context, list[Case]], tuple[dict[Case, Outcome], Seen]]


class VerifyPlugin:
    """Runs every host's batch, then feeds the (check, host) groups to pytest."""

    def __init__(self, ctx: Context, cases: list[Case], gather: Gather) -> None:
        self.ctx = ctx
        self.cases = cases
        self.gather = gather
        grouped: dict[tuple[str, str], list[Case]] = {}
        for case in cases:
            grouped.setdefault((case.check, case.host), []).append(case)
        self.groups: dict[str, list[list[Case]]] = {}
        for (check, _), group in grouped.items():
            self.groups.setdefault(check, []).append(group)
        self.outcomes: dict[Case, Outcome] = {}
        self.seen: Seen = {}

    def pytest_generate_tests(self, metafunc: Any) -> None:
        if "netlab_group" in metafunc.fixturenames:
            mine = self.groups.get(metafunc.function.__name__, [])
            metafunc.parametrize("netlab_group", mine, ids=[g[0].host for g in mine])

    @pytest.fixture
    def netlab_judge(self) -> Any:
        return self.judge

    def pytest_collection_finish(self, session: Any) -> None:
        # Every host's commands at once before the tests report them.
        self.outcomes, self.seen = self.gather(self.ctx, self.cases)

    def judge(self, case: Case) -> Outcome:
        return self.outcomes.get(case, _NOT_RUN)


def run_pytest(ctx: Context, cases: list[Case], gather: Gather) -> tuple[dict[Case, Outcome], Seen]:
    """Every case's outcome, and what the hosts printed, with pytest running the tests."""
    plugin = VerifyPlugin(ctx, cases, gather)
    with tempfile.TemporaryDirectory(prefix="netlab-verify-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")
        wanted = sorted({c.check for c in cases})
        args = [
            str(Path(suite.__file__)),
            "-c", str(ini), "--rootdir", tmp, "-p", "no:cacheprovider", "-p", "no:terminal",
            "-p", "no:randomly", "-p", "no:junitxml", "-o", f"python_functions={' '.join(wanted)}",
            "--import-mode=importlib",
        ]
        code = pytest.main(args, plugins=[plugin])
    if code == pytest.ExitCode.INTERRUPTED:
        raise KeyboardInterrupt  # Ctrl-C during verify: stop, as everywhere else
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise NetlabError(f"the verification suite could not run (pytest exit {int(code)})")
    return plugin.outcomes, plugin.seen
