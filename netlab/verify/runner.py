"""Run the verification suite in-process with pytest, collecting one outcome per case.

All checks' commands for a host run as one batch there (netlab.verify.context), every host at
once, before pytest reports; pytest then has one test per check and host. Afterwards the
diagnosis groups the failures into causes.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from netlab.errors import NetlabError
from netlab.model import Lab
from netlab.providers.base import Provider
from netlab.verify import suite
from netlab.verify.checks import CHECKS, LINKS, Case, Seen, plan
from netlab.verify.context import Context, Evidence, Outcome, Probe

if TYPE_CHECKING:
    from netlab.verify.diagnosis import Cause


@dataclass
class VerifyResult:
    cases: list[Case]
    outcomes: dict[Case, Outcome] = field(default_factory=dict)
    seconds: float = 0.0
    causes: list[Cause] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(self.outcomes.get(c, _NOT_RUN).passed for c in self.cases)

    def outcome(self, case: Case) -> Outcome:
        return self.outcomes.get(case, _NOT_RUN)

    @property
    def failed(self) -> list[Case]:
        return [c for c in self.cases if not self.outcome(c).passed]


_NOT_RUN = Outcome(False, "not run")


def judge_all(ctx: Context, cases: list[Case], seen: Seen) -> dict[Case, Outcome]:
    """Every check's verdicts from what the hosts printed; a check that breaks fails its cases."""
    outcomes: dict[Case, Outcome] = {}
    for name in dict.fromkeys(c.check for c in cases):
        mine = [c for c in cases if c.check == name]
        try:
            outcomes.update(CHECKS[name].judge_all(ctx, mine, seen))
        except Exception as exc:  # a broken host must fail its checks, never crash verify
            detail = "".join(traceback.format_exception_only(exc)).strip()
            evidence = [Evidence(mine[0].host, "(netlab)", 1, traceback.format_exc())]
            outcomes.update({c: Outcome(False, f"check could not run: {detail}", evidence) for c in mine})
    return outcomes


def probes_of(ctx: Context, cases: list[Case]) -> dict[str, list[Probe]]:
    """Each host's commands for all cases, plus its device list (the diagnosis reads it)."""
    wanted: dict[str, list[Probe]] = {h: [LINKS] for h in ctx.lab.hosts}
    for case in cases:
        for host, probe in CHECKS[case.check].probes(ctx, case):
            wanted.setdefault(host, []).append(probe)
    return wanted


class VerifyPlugin:
    """Runs every host's batch, then feeds the (check, host) groups to pytest."""

    def __init__(self, ctx: Context, cases: list[Case]) -> None:
        self.ctx = ctx
        self.cases = cases
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
        self.seen = self.ctx.run_probes(probes_of(self.ctx, self.cases))
        self.outcomes = judge_all(self.ctx, self.cases, self.seen)

    def judge(self, case: Case) -> Outcome:
        return self.outcomes.get(case, _NOT_RUN)


def run_verify(
    lab: Lab, provider: Provider, junit_xml: Path | None = None, only: list[str] | None = None
) -> VerifyResult:
    from netlab.verify.diagnosis import diagnose
    from netlab.verify.junit import write_junit

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
            "-p", "no:randomly", "-p", "no:junitxml", "-o", f"python_functions={' '.join(wanted)}",
            "--import-mode=importlib",
        ]
        code = pytest.main(args, plugins=[plugin])
    if code == pytest.ExitCode.INTERRUPTED:
        raise KeyboardInterrupt  # Ctrl-C during verify: stop, as everywhere else
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise NetlabError(f"the verification suite could not run (pytest exit {int(code)})")
    result.outcomes = plugin.outcomes
    result.causes = diagnose(ctx, result, plugin.seen)
    result.seconds = time.monotonic() - start
    if junit_xml is not None:
        write_junit(junit_xml, lab.name, result)
    return result
