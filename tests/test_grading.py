"""`netlab grade` a teacher can trust (issue 25, items 3-6): points per result, missing and broken
labs told apart from a student's mistakes, the definition a grade is against, `--no-hints` that
gives nothing away, and a class graded side by side with progress. Real namespaces; needs root."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from netlab import grading

from .conftest import needs_root, netlab_namespaces
from .test_teaching import SEED_LAB10, netlab

NETLAB = [sys.executable, "-m", "netlab"]
LAB10 = Path(__file__).resolve().parents[1] / "labs" / "lab10.yml"

SEED = SEED_LAB10  # the seed's commands for lab10 on each box (DESIGN.md)


def student_types(lab: str, host: str, command: str) -> None:
    proc = netlab("exec", lab, host, "--", *command.split())
    assert proc.returncode == 0, proc.stdout + proc.stderr


def graded(*args: str) -> dict[str, dict]:
    proc = netlab("grade", *args, "--json")
    return {row["lab"]: row for row in json.loads(proc.stdout)}


@needs_root
@pytest.mark.root
def test_half_the_work_earns_part_of_the_points_missing_and_broken_labs_say_so(tmp_path: Path) -> None:
    """Item 3: boxA complete, boxB half done, boxC untouched scores partial points (today 0/7);
    a misspelt name is "missing" (today 0,0,0,0 of 0); a vanished namespace is the lab's failure."""
    lab = "g25part"
    try:
        assert netlab("up", "lab10", "--no-overlay", "--name", lab).returncode == 0
        assert graded(lab)[lab]["points"] == 0  # nothing built yet
        for command in SEED["boxA"]:
            student_types(lab, "boxA", command)
        student_types(lab, "boxB", SEED["boxB"][0])  # boxB: the device, no address, still down
        row = graded(lab)[lab]
        assert 0 < row["points"] < 7, row  # today: 0 (a check counted only if it passes everywhere)
        assert row["status"] == "graded" and row["max_points"] == 7
        for host in ("boxB", "boxC"):
            for command in SEED[host][1 if host == "boxB" else 0:]:
                student_types(lab, host, command)
        more = graded(lab)[lab]
        assert more["points"] == 7 and more["failed"] == 0, more  # done: full marks
        # The table says how points are earned.
        table = netlab("grade", lab)
        assert "shared equally among its results" in table.stdout and "7/7" in table.stdout
        sheet = tmp_path / "grades.csv"
        sheet.write_text("")
        sheet.chmod(0o644)
        assert netlab("grade", lab, "--csv", str(sheet)).returncode == 0
        assert sheet.stat().st_mode & 0o777 == 0o600 and "graded,24,0,7,7" in sheet.read_text()
        # A misspelt name: missing, with no made-up score.
        rows = graded(lab, "g25prat")
        assert rows["g25prat"]["status"] == "missing" and rows["g25prat"]["max_points"] is None
        assert "no lab named g25prat is up" in rows["g25prat"]["first_cause"]
        assert rows["g25prat"]["points"] is None and rows["g25prat"]["passed"] is None
        # boxC's namespace vanishes (not the student's doing): the lab is broken, no score.
        subprocess.run(["ip", "netns", "del", f"netlab.{lab}.boxC"], check=True)
        broken = graded(lab)[lab]
        assert broken["status"] == "lab broken", broken
        assert "boxC" in broken["first_cause"] and "vxlan0" not in broken["first_cause"]
        assert broken["points"] is None
        text = netlab("grade", lab)
        assert text.returncode == 1 and "lab broken" in text.stdout
    finally:
        netlab("down", lab)
    assert netlab_namespaces(lab) == []


@needs_root
@pytest.mark.root
def test_grade_says_which_definition_and_regrades_against_the_file(tmp_path: Path) -> None:
    """Item 4: `points:` added after up changes nothing until `grade --lab FILE`; every result names
    its definition; verify NAME and verify FILE on one running lab say which they used."""
    lab = "g25def"
    data = yaml.safe_load(LAB10.read_text())
    data["name"] = lab
    lab_file = tmp_path / "g25def.yml"
    lab_file.write_text(yaml.safe_dump(data))
    try:
        assert netlab("up", str(lab_file)).returncode == 0
        row = graded(lab)[lab]
        assert row["max_points"] == 7 and "unchanged" in row["definition"] and str(lab_file) in row["definition"]
        # The teacher edits the file after up: more points for ping, and another VNI.
        data["points"] = {"ping": 5}
        data["tunnels"][0]["vni"] = 200
        lab_file.write_text(yaml.safe_dump(data))
        stored = graded(lab)[lab]
        assert stored["max_points"] == 7 and stored["failed"] == 0  # graded as brought up
        assert "has changed since" in stored["definition"] and "--lab" in stored["definition"]
        regraded = graded(lab, "--lab", str(lab_file))[lab]
        assert regraded["max_points"] == 11, regraded  # ping 5 + six checks at 1
        assert regraded["failed"] > 0 and "as it is now" in regraded["definition"]
        assert regraded["points"] < 11
        # verify NAME: the stored definition passes; verify FILE: the file now fails; each says so.
        by_name = netlab("verify", lab)
        assert by_name.returncode == 0 and "as brought up from" in by_name.stdout
        assert "has changed since" in by_name.stdout
        by_file = netlab("verify", str(lab_file))
        assert by_file.returncode == 1 and "as it is now" in by_file.stdout
        as_json = json.loads(netlab("verify", str(lab_file), "--json").stdout)
        assert as_json["definition"] == {"source": str(lab_file), "stored_at_up": False, "changed_since_up": True}
        # A --lab file that is not a lab: one clear error, nothing graded.
        bad = tmp_path / "bad.yml"
        bad.write_text("name: [\n")
        proc = netlab("grade", lab, "--lab", str(bad))
        assert proc.returncode != 0 and "bad.yml" in proc.stdout + proc.stderr
    finally:
        netlab("down", lab)
    assert netlab_namespaces(lab) == []


# lab10's expected values: port, group, VNI, tunnel MTU (and the ping size it makes), overlay and
# underlay addresses; and any MAC.
HIDDEN = ["4789", "239.255.0.1", "1450", "1422",
          *(f"192.168.60.{n}" for n in (4, 5, 6)), *(f"192.168.50.{n}" for n in (4, 5, 6))]
VNI = re.compile(r"(?<![\d.])100(?![\d]|\.\d)")
MAC = re.compile(r"(?i)\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b")


def revealed(text: str) -> list[str]:
    found = [v for v in HIDDEN if v in text]
    found += [m.group() for m in (*VNI.finditer(text), *MAC.finditer(text))]
    return found


@needs_root
@pytest.mark.root
def test_no_hints_reveals_no_expected_value_in_text_json_junit_or_grade(tmp_path: Path) -> None:
    """Item 5: with --no-hints no port, group, VNI, address or MAC of the lab appears anywhere
    (today: `socket[boxA udp/4789]`, `ss -Hlun sport = :4789`, `maddr[boxA vxlan0 239.255.0.1]`)."""
    lab = "g25hint"
    try:
        assert netlab("up", "lab10", "--no-overlay", "--name", lab).returncode == 0
        # boxA: a tunnel with every value wrong; boxB: the right device, half configured.
        student_types(lab, "boxA", "ip link add vxlan0 type vxlan id 200 group 239.1.1.1 ttl 5 dstport 8472 dev enp0s8")
        student_types(lab, "boxA", "ip addr add 10.9.9.4/24 dev vxlan0")
        student_types(lab, "boxA", "ip link set vxlan0 up")
        student_types(lab, "boxB", "ip link add vxlan0 type vxlan id 300 group 239.2.2.2 ttl 5 dstport 9999 dev enp0s8")
        # With hints the values are there (the test's own check that it would see them).
        hinted = netlab("verify", lab, "-v")
        assert "4789" in hinted.stdout and "239.255.0.1" in hinted.stdout
        junit = tmp_path / "junit.xml"
        outputs = {
            "text": netlab("verify", lab, "--no-hints"),
            "verbose": netlab("verify", lab, "--no-hints", "-v"),
            "json": netlab("verify", lab, "--no-hints", "--json", "-v"),
            "via pytest": netlab("verify", lab, "--no-hints", "--via", "pytest", "-v"),
            "junit": netlab("verify", lab, "--no-hints", "--junit-xml", str(junit)),
            "grade": netlab("grade", lab, "--no-hints", "--json"),
            "grade table": netlab("grade", lab, "--no-hints"),
        }
        for what, proc in outputs.items():
            assert proc.returncode == 1, (what, proc.stdout, proc.stderr)
            assert revealed(proc.stdout + proc.stderr) == [], (what, revealed(proc.stdout + proc.stderr), proc.stdout)
        assert revealed(junit.read_text()) == [], junit.read_text()
        # Still useful: what fails, on which host, in words.
        text = outputs["text"].stdout
        assert "FAIL socket[boxA udp/?] on boxA" in text and "params[boxA vxlan0]" in text
        assert json.loads(outputs["json"].stdout)["failed"] > 0
    finally:
        netlab("down", lab)
    assert netlab_namespaces(lab) == []


@needs_root
@pytest.mark.root
def test_grading_a_class_prints_progress_per_lab_on_stderr() -> None:
    """Item 6: one line per lab on standard error as it is graded (today: nothing until the end)."""
    labs = ("g25pa", "g25pb")
    try:
        for lab in labs:
            assert netlab("up", "lab10", "--name", lab).returncode == 0
        assert netlab("break", "g25pb", "wrong-vni", "--host", "boxB").returncode == 0
        proc = netlab("grade", *labs, "--json")
        assert proc.returncode == 1
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith("graded ")]
        assert len(lines) == 2, proc.stderr
        assert {line.split()[1] for line in lines} == set(labs)
        assert any("(2/2)" in line for line in lines) and "g25pa (" in proc.stderr
        assert [row["lab"] for row in json.loads(proc.stdout)] == list(labs)  # stdout: only the JSON
    finally:
        for lab in labs:
            netlab("down", lab)


def test_labs_are_graded_side_by_side_and_reported_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 6: grade_all runs labs at once (a barrier that only several graders at the same time
    can pass), bounded by `workers`, and keeps the order given."""
    barrier = threading.Barrier(3, timeout=30)
    running = []
    lock = threading.Lock()
    peak = [0]

    def fake_grade(ref: str, lab_file: str | None = None, hints: bool = True) -> grading.Grade:
        with lock:
            running.append(ref)
            peak[0] = max(peak[0], len(running))
        if ref.startswith("wait"):
            barrier.wait()  # raises BrokenBarrierError unless three run at once
        with lock:
            running.remove(ref)
        return grading.Grade(ref, "graded", 1, 0, 1, 1, "")

    monkeypatch.setattr(grading, "grade", fake_grade)
    heard = []
    refs = ["wait1", "wait2", "wait3", "d", "e", "f"]
    grades = grading.grade_all(refs, progress=lambda done, total, g, s: heard.append((done, total, g.lab)),
                               workers=3)
    assert [g.lab for g in grades] == refs and all(g.status == "graded" for g in grades)
    assert sorted(d for d, _, _ in heard) == list(range(1, 7)) and {t for _, t, _ in heard} == {6}
    assert peak[0] <= 3


def test_points_are_shared_among_a_checks_results() -> None:
    """Item 3's rule on its own: 2 of 4 ping results and 1 of 2 params results pass."""
    from netlab.model import load_lab
    from netlab.verify.checks import Case
    from netlab.verify.context import Outcome
    from netlab.verify.runner import VerifyResult

    lab = load_lab(LAB10).model_copy(update={"points": {"ping": 4, "params": 2}})
    cases = [Case("ping", h, f"{h}->x") for h in ("a", "b", "c", "d")] + [Case("params", h, h) for h in ("a", "b")]
    result = VerifyResult(cases, {c: Outcome(c.host in ("a", "b") and (c.check == "ping" or c.host == "a"), "")
                                  for c in cases})
    assert grading.score(lab, result) == (3, 6)
    thirds = VerifyResult(cases[:3], {cases[0]: Outcome(True, "")})
    assert grading.score(lab, thirds) == (1.33, 4)
