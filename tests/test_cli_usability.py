"""What users of a CLI expect (issue 14): version, completion, JSON, a picture, progress, a log, examples."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import sys

import pytest
import typer.main
import yaml
from typer.testing import CliRunner

from netlab import __version__, catalog, labfolder
from netlab.cli import app
from netlab.cli.app import complete_host, complete_lab, complete_provider
from netlab.cli.progress import UpProgress
from netlab.cmdlog import read_log, recording
from netlab.graph import dot_source, mermaid, render_image, topology
from netlab.providers.base import MachineEvent
from netlab.state import LabState

from .conftest import REPO, needs_root

runner = CliRunner()


def invoke(*args: str) -> object:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


# -- version, help -------------------------------------------------------------------------------------
def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"netlab {__version__}"


# Commands other engineers own (their help is theirs to finish).
NOT_MINE = {"verify", "inventory", "image"}


def _commands() -> list[str]:
    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", [c for c in _commands() if c not in NOT_MINE])
def test_every_help_ends_with_real_examples(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    tail = result.stdout.rstrip().split("Examples")[-1]
    assert "Examples" in result.stdout, command
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, lines
    # Each example names this command (after an optional sudo), so it is a real one.
    for line in lines:
        words = line.removeprefix("sudo ").split()
        assert words[:2] == ["netlab", command], line


def test_up_help_says_netns_needs_root() -> None:
    result = runner.invoke(app, ["up", "--help"], env={"COLUMNS": "200"})
    assert "needs root" in result.stdout


def test_provider_option_shows_its_choices() -> None:
    result = runner.invoke(app, ["up", "--help"], env={"COLUMNS": "200"})
    assert "virtualbox|libvirt|qemu|netns|ssh" in result.stdout
    assert "see docs" not in result.stdout


def test_bad_provider_keeps_its_message() -> None:
    result = invoke("status", "lab10", "--provider", "docker")
    assert result.exit_code == 1
    assert "unknown provider 'docker'" in result.output and "use one of" in result.output


# -- completion ------------------------------------------------------------------------------------------
def test_completion_is_on() -> None:
    assert "--install-completion" in runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).stdout


def test_lab_names_complete_from_catalog_and_running_labs() -> None:
    names = [n for n, _ in complete_lab("lab1")]
    assert "lab10" in names and "lab10-routed" in names
    state = LabState("zeta")
    state.begin("netns", "/nowhere/zeta.yml")
    assert ("zeta", "up on this machine") in complete_lab("ze")
    assert any(n.endswith("lab10.yml") for n, _ in complete_lab(str(REPO / "labs") + "/lab1"))


def test_hosts_complete_for_the_lab_on_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = typer.Context(typer.main.get_command(app))
    ctx.params = {"lab": "lab10-routed"}
    assert [n for n, _ in complete_host(ctx, "")] == ["boxA", "boxB", "boxC", "gw"]
    ctx.params = {}  # completing --host: the parse stopped before the lab; the shell's words have it
    monkeypatch.setenv("COMP_WORDS", "netlab capture lab10 --host b")
    assert [n for n, _ in complete_host(ctx, "b")] == ["boxA", "boxB", "boxC"]


def test_providers_complete() -> None:
    assert [n for n, _ in complete_provider("q")] == ["qemu"]


def test_shell_completion_end_to_end() -> None:
    """As bash asks it: the installed entry point answers the completion protocol."""
    netlab = shutil.which("netlab", path=str(REPO / ".venv" / "bin")) or shutil.which("netlab")
    if netlab is None:
        pytest.skip("no netlab command installed")
    env = {"_NETLAB_COMPLETE": "complete_bash", "COMP_WORDS": "netlab ssh lab10-routed ", "COMP_CWORD": "3",
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([netlab], env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["boxA", "boxB", "boxC", "gw"], proc.stderr


# -- JSON ----------------------------------------------------------------------------------------------------
def test_list_json() -> None:
    result = invoke("list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    lab10 = next(r for r in rows if r["name"] == "lab10")
    assert lab10["hosts"] == ["boxA", "boxB", "boxC"] and lab10["valid"]
    assert lab10["tunnels"][0]["name"] == "vxlan0"


def test_explain_json() -> None:
    result = invoke("explain", "lab10-routed", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["lab"] == "lab10-routed"
    assert [h["host"] for h in data["hosts"]] == ["boxA", "boxB", "boxC"]
    assert any("group 239.255.0.1" in c for c in data["hosts"][0]["overlay"])
    assert data["routers"][0]["router"] == "gw" and data["routers"][0]["smcroute"]
    assert data["budgets"][0]["mtu"] == 1450


def test_doctor_json() -> None:
    result = invoke("doctor", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert {r["provider"] for r in rows} >= {"netns", "qemu", "virtualbox", "libvirt"}
    assert all(isinstance(r["works"], bool) for r in rows)


def test_status_json_error_leaves_stdout_empty() -> None:
    result = runner.invoke(app, ["status", "lab99", "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""


@needs_root
def test_status_json_of_a_running_lab() -> None:
    # Under a name of its own: namespaces are machine-wide, other tests use lab9.
    assert invoke("-q", "up", "lab9", "--provider", "netns", "--name", "clijson").exit_code == 0
    try:
        result = invoke("status", "clijson", "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["provider"] == "netns" and data["phase"] == "up" and data["running"]
        names = {i["name"] for h in data["hosts"] for i in h["interfaces"]}
        assert "vxlan0" in names
    finally:
        invoke("down", "clijson")


# -- the picture ------------------------------------------------------------------------------------------------
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


@needs_dot
@pytest.mark.parametrize("name", ["lab10", "lab10-routed", "leaf-spine"])
def test_svg_names_every_host_router_segment_and_tunnel(name: str, tmp_path: object) -> None:
    lab = catalog.load(name)
    out = tmp_path / f"{name}.svg"  # type: ignore[operator]
    result = invoke("graph", name, "-o", str(out))
    assert result.exit_code == 0, result.output
    svg = html.unescape(out.read_text())  # dot writes l1&#45;s1
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for host, spec in lab.hosts.items():
        assert f">{host}</text>" in svg and f">{spec.ip}</text>" in svg
    for router in lab.routers:
        assert f">{router}</text>" in svg
    for seg, net in lab.underlay.networks.items():
        assert f">{seg}</text>" in svg and f">{net}</text>" in svg
    for t in lab.tunnels:
        assert f">{t.name}</text>" in svg
        assert f"VNI {t.vni}" in svg
        if t.group:
            assert f"group {t.group}" in svg and f"TTL {t.ttl}" in svg
        for address in t.endpoints.values():
            assert f">{address}</text>" in svg


@needs_dot
def test_png(tmp_path: object) -> None:
    out = tmp_path / "lab10.png"  # type: ignore[operator]
    assert invoke("graph", "lab10", "-o", str(out)).exit_code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_text_formats_to_stdout() -> None:
    mer = invoke("graph", "lab10-routed", "--format", "mermaid")
    assert mer.exit_code == 0 and mer.stdout.splitlines()[3] == "flowchart TB"
    assert "router_gw{{" in mer.stdout and "tunnel_vxlan0 -.-" in mer.stdout
    front = yaml.safe_load(mer.stdout.split("---")[1])  # the title has a colon: quoted
    assert front == {"title": "lab10-routed: The TTL lesson - multicast VXLAN across a router"}
    dot = invoke("graph", "lab10")
    assert dot.exit_code == 0 and dot.stdout.startswith("graph lab10 {")


def test_graph_errors() -> None:
    result = invoke("graph", "lab10", "-o", "lab10.jpeg")
    assert result.exit_code == 1 and "which format" in result.output
    result = invoke("graph", "lab10", "--format", "png")
    assert result.exit_code == 1 and "needs a file" in result.output


def test_missing_dot_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    from netlab.errors import NetlabError

    with pytest.raises(NetlabError, match="dot") as info:
        render_image(catalog.load("lab10"), "svg")
    assert "apt-get install graphviz" in (info.value.hint or "")


def test_topology_of_a_routed_lab_reads_in_layers() -> None:
    topo = topology(catalog.load("leaf-spine"))
    wires = [(e.a, e.b) for e in topo.edges if not e.overlay]
    # Host -> rack -> leaf -> link -> spine: every wire points away from the hosts.
    assert ("host_h1", "seg_rack1") in wires and ("seg_rack1", "router_l1") in wires
    assert ("router_l1", "seg_l1_s1") in wires and ("seg_l1_s1", "router_s1") in wires
    assert "tunnel_vxlan10" in dot_source(catalog.load("leaf-spine"))
    assert "UDP 8472" in mermaid(catalog.load("leaf-spine"))


def test_readme_picture_is_current() -> None:
    picture = REPO / "docs" / "lab10.svg"
    assert picture.exists()
    assert "docs/lab10.svg" in (REPO / "README.md").read_text()
    svg = picture.read_text()
    for name in ("boxA", "boxB", "boxC", "vxlan0", "239.255.0.1"):
        assert name in svg


# -- the command log ------------------------------------------------------------------------------------------
def test_the_log_records_commands_input_exit_and_failed_output(tmp_path: object) -> None:
    lab_dir = tmp_path / "lab"  # type: ignore[operator]
    with recording(["up", "x"]) as log:
        subprocess.run(["cat"], input="one\ntwo\n", capture_output=True, text=True)
        log.attach(lab_dir)  # not there yet: kept, nothing created
        assert not lab_dir.exists()
        labfolder.make(lab_dir)
        subprocess.run(["sh", "-c", "echo out; echo bad >&2; exit 3"], capture_output=True)
        with pytest.raises(FileNotFoundError):
            subprocess.run(["/nonexistent/tool"])
    assert subprocess.Popen.__name__ == "Popen"  # put back
    text = read_log(lab_dir) or ""
    assert text.startswith("=== ") and "netlab up x" in text
    assert "$ cat" in text and "  < one" in text and "exit 0" in text
    assert "exit 3" in text and "  | out" in text and "  ! bad" in text
    assert "/nonexistent/tool" in text and "could not start" in text
    assert "done in" in text


def test_the_log_never_creates_the_lab_directory(tmp_path: object) -> None:
    lab_dir = tmp_path / "gone"  # type: ignore[operator]
    with recording(["down", "x"]) as log:
        log.attach(lab_dir)
        subprocess.run(["true"])
    assert not lab_dir.exists()
    # A folder netlab did not make (a user's, in the lab's place) is never written into.
    lab_dir.mkdir()
    with recording(["down", "x"]) as log:
        log.attach(lab_dir)
        subprocess.run(["true"])
    assert list(lab_dir.iterdir()) == []


@needs_root
def test_log_after_up_and_a_failed_up() -> None:
    assert invoke("up", "lab9", "--provider", "netns", "--name", "clilog").exit_code == 0
    try:
        result = invoke("log", "clilog")
        assert result.exit_code == 0
        assert "netlab up" in result.stdout and "-batch -" in result.stdout
        assert "  < " in result.stdout  # the ip commands it sent
        # An up that fails once the lab is known: the error is in the log too, and netlab says so.
        failed = invoke("up", "clilog", "--inventory", "/nonexistent/hosts.yml")
        assert failed.exit_code == 1
        assert "netlab log clilog" in failed.output
        assert "error: --inventory /nonexistent/hosts.yml: no such file" in invoke("log", "clilog").stdout
        assert invoke("log", "clilog", "--path").stdout.strip().endswith("commands.log")
    finally:
        invoke("down", "clilog")
    assert invoke("log", "clilog").exit_code == 1  # down removed the lab, and its log


@needs_root
def test_verbose_echoes_and_quiet_hides_progress() -> None:
    try:
        loud = invoke("-v", "up", "lab9", "--provider", "netns", "--name", "clivq")
        assert loud.exit_code == 0 and "$ ip " in loud.stderr
        quiet = invoke("-q", "up", "clivq")
        assert quiet.exit_code == 0 and quiet.stderr == "" and "using" not in quiet.stdout
    finally:
        invoke("down", "clivq")


def test_log_of_a_lab_that_is_not_up() -> None:
    result = invoke("log", "lab10")
    assert result.exit_code == 1 and "not up" in result.output


# -- progress ---------------------------------------------------------------------------------------------------
def test_up_progress_rows_come_from_events_not_text() -> None:
    from rich.console import Console

    console = Console(force_terminal=True, width=100, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    with UpProgress("lab9", console) as shown:
        shown.message("booting 2 VMs (tcg; boxA, boxB)")  # text: shown, never parsed
        assert shown.rows == {}
        shown.event(MachineEvent("boxA", "booting"))
        shown.event(MachineEvent("boxB", "booting"))
        shown.event(MachineEvent("boxA", "ready"))
        assert shown.display is not None
        tasks = {t.description: t for t in shown.display.tasks}
        assert tasks["lab9"].fields["stage"].startswith("booting 2 VMs")
        assert tasks["boxA"].completed == 2 and tasks["boxA"].fields["stage"].startswith("ssh ready")
        assert tasks["boxB"].completed == 1 and tasks["boxB"].fields["stage"] == "booting"
        shown.configured()
        stages = {t.description: t.fields["stage"] for t in shown.display.tasks}
        assert stages == {"lab9": "up", "boxA": "configured", "boxB": "configured"}


def test_provider_events_reach_the_callback() -> None:
    from netlab.providers.netns import NetnsProvider

    provider = NetnsProvider(catalog.load("lab9"), LabState("lab9"))
    provider.machine_event("boxA", "booting")  # nobody listening: nothing happens
    seen: list[MachineEvent] = []
    provider.on_machine = seen.append
    provider.machine_event("boxA", "ready")
    assert seen == [MachineEvent("boxA", "ready")]


def test_python_m_netlab_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "netlab", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == f"netlab {__version__}"
