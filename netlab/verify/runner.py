"""Run the verification suite in-process with pytest, collecting one outcome per case."""

from __future__ import annotations

import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from netlab.errors import NetlabError
from netlab.model import Lab
from netlab.providers.base import Provider
from netlab.verify import suite
from netlab.verify.checks import CHECKS, Case, plan
from netlab.verify.context import Context, Evidence, Outcome


@dataclass
class VerifyResult:
    cases: list[Case]
    outcomes: dict[Case, Outcome] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(self.outcomes.get(c, _NOT_RUN).passed for c in self.cases)

    def outcome(self, case: Case) -> Outcome:
        return self.outcomes.get(case, _NOT_RUN)


_NOT_RUN = Outcome(False, "not run")


class VerifyPlugin:
    """Feeds the cases to pytest and runs each check once, for all its cases together."""

    def __init__(self, ctx: Context, cases: list[Case]) -> None:
        self.ctx = ctx
        self.cases = cases
        self.outcomes: dict[Case, Outcome] = {}

    def pytest_generate_tests(self, metafunc: Any) -> None:
        if "netlab_case" in metafunc.fixturenames:
            mine = [c for c in self.cases if c.check == metafunc.function.__name__]
            metafunc.parametrize("netlab_case", mine, ids=[c.label for c in mine])

    @pytest.fixture
    def netlab_judge(self) -> Any:
        return self.judge

    def pytest_collection_finish(self, session: Any) -> None:
        # Run every check at once before the tests report them: checks are independent (each
        # makes the traffic it needs) and spend their time waiting on hosts, so running them
        # together costs about as much as the slowest one.
        names = list(dict.fromkeys(c.check for c in self.cases))
        self.ctx.parallel(self._run_check, names)

    def _run_check(self, name: str) -> None:
        mine = [c for c in self.cases if c.check == name]
        try:
            outcomes = CHECKS[name].verdicts(self.ctx, mine)
        except Exception as exc:  # a broken host must fail its checks, never crash verify
            detail = "".join(traceback.format_exception_only(exc)).strip()
            evidence = [Evidence(mine[0].host, "(netlab)", 1, traceback.format_exc())]
            outcomes = {c: Outcome(False, f"check could not run: {detail}", evidence) for c in mine}
        self.outcomes.update(outcomes)

    def judge(self, case: Case) -> Outcome:
        if case not in self.outcomes:
            self._run_check(case.check)
        return self.outcomes[case]


def run_verify(
    lab: Lab, provider: Provider, junit_xml: Path | None = None, only: list[str] | None = None
) -> VerifyResult:
    unknown = sorted(set(only or []) - set(CHECKS))
    if unknown:
        raise NetlabError(f"no check named {', '.join(unknown)}", hint=f"checks: {', '.join(CHECKS)}")
    start = time.monotonic()
    cases = plan(lab, only)
    result = VerifyResult(cases)
    if not cases:
        return result
    ctx = Context(lab, provider)
    plugin = VerifyPlugin(ctx, cases)
    with tempfile.TemporaryDirectory(prefix="netlab-verify-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")
        wanted = sorted({c.check for c in cases})
        args = [
            str(Path(suite.__file__)),
            "-c", str(ini), "--rootdir", tmp, "-p", "no:cacheprovider", "-p", "no:terminal",
            "-p", "no:randomly", "-o", f"python_functions={' '.join(wanted)}",
            "-o", "junit_suite_name=netlab-" + lab.name, "-o", "junit_family=xunit1",
            "--import-mode=importlib",
        ]
        if junit_xml is not None:
            args += ["--junit-xml", str(junit_xml.resolve())]
        code = pytest.main(args, plugins=[plugin])
    if code == pytest.ExitCode.INTERRUPTED:
        raise KeyboardInterrupt  # Ctrl-C during verify: stop, as everywhere else
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise NetlabError(f"the verification suite could not run (pytest exit {int(code)})")
    result.outcomes = plugin.outcomes
    result.seconds = time.monotonic() - start
    return result
