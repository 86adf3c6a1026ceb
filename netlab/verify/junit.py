"""JUnit XML of a verify run, for graders: one testcase per case, `classname` = the check."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from netlab.verify.checks import render_evidence
from netlab.verify.redact import SHOW_ALL, Redactor

if TYPE_CHECKING:
    from netlab.verify.runner import VerifyResult


def junit_tree(lab: str, result: VerifyResult, hide: Redactor = SHOW_ALL) -> ElementTree.ElementTree:
    """`hide` (--no-hints): the lab's values taken out of every id, message and evidence."""
    failed = result.failed
    suites = ElementTree.Element("testsuites")
    suite = ElementTree.SubElement(suites, "testsuite", {
        "name": f"netlab-{lab}", "tests": str(len(result.cases)), "failures": str(len(failed)),
        "errors": "0", "skipped": "0", "time": f"{result.seconds:.3f}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"), "hostname": socket.gethostname(),
    })
    for case in result.cases:
        outcome = result.outcome(case)
        summary = outcome.summary if not hide.active or outcome.student is None else outcome.student
        element = ElementTree.SubElement(suite, "testcase", {"classname": case.check, "name": hide(case.id),
                                                             "time": "0"})
        if not outcome.passed:
            failure = ElementTree.SubElement(element, "failure", {"message": hide(f"on {case.host}: {summary}")})
            failure.text = hide(render_evidence(outcome.evidence))
        else:
            out = ElementTree.SubElement(element, "system-out")
            out.text = hide(f"on {case.host}: {summary}")
    return ElementTree.ElementTree(suites)


def write_junit(path: Path, lab: str, result: VerifyResult, hide: Redactor = SHOW_ALL) -> None:
    tree = junit_tree(lab, result, hide)
    ElementTree.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
