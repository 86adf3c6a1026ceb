"""JUnit XML of a verify run, for graders: one testcase per case, `classname` = the check."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from netlab.verify.checks import render_evidence

if TYPE_CHECKING:
    from netlab.verify.runner import VerifyResult


def junit_tree(lab: str, result: VerifyResult) -> ElementTree.ElementTree:
    failed = result.failed
    suites = ElementTree.Element("testsuites")
    suite = ElementTree.SubElement(suites, "testsuite", {
        "name": f"netlab-{lab}", "tests": str(len(result.cases)), "failures": str(len(failed)),
        "errors": "0", "skipped": "0", "time": f"{result.seconds:.3f}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"), "hostname": socket.gethostname(),
    })
    for case in result.cases:
        outcome = result.outcome(case)
        element = ElementTree.SubElement(suite, "testcase", {"classname": case.check, "name": case.id,
                                                             "time": "0"})
        if not outcome.passed:
            failure = ElementTree.SubElement(element, "failure", {"message": f"on {case.host}: {outcome.summary}"})
            failure.text = render_evidence(outcome.evidence)
        else:
            out = ElementTree.SubElement(element, "system-out")
            out.text = f"on {case.host}: {outcome.summary}"
    return ElementTree.ElementTree(suites)


def write_junit(path: Path, lab: str, result: VerifyResult) -> None:
    tree = junit_tree(lab, result)
    ElementTree.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
