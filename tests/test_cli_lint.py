"""`netlab lint` and `netlab render` on the real command line: clean errors, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netlab.model import load_lab

REPO = Path(__file__).resolve().parent.parent
NETLAB = Path(sys.executable).parent / "netlab"
LABS = sorted((REPO / "labs").glob("*.yml"))
GOOD = sorted((REPO / "tests" / "data" / "good").glob("*.yml"))
BAD = sorted((REPO / "tests" / "data" / "bad").glob("*.yml"))
PROVIDERS = ("virtualbox", "libvirt", "qemu", "netns")


def netlab(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so that Rich does not fold a long error line in the middle of a path.
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1"}
    return subprocess.run(
        [str(NETLAB), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
    )


def assert_clean_failure(run: subprocess.CompletedProcess[str], source: str, field: str) -> None:
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert "Traceback" not in output and "Error:" not in output.replace("error:", ""), output
    line = next((x for x in run.stderr.splitlines() if f": {field}: " in x), None)
    assert line is not None, f"no error names {field!r}:\n{output}"
    assert source in line


def expected_field(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# "), f"{path.name}: first line must name the expected field"
    return first[2:].strip()


def test_data_files_exist() -> None:
    assert len(GOOD) >= 4 and len(BAD) >= 10 and len(LABS) >= 9


# --- valid labs --------------------------------------------------------------------------------


@pytest.mark.parametrize("lab", LABS + GOOD, ids=lambda p: p.name)
def test_valid_lab_lints_clean(lab: Path) -> None:
    run = netlab("lint", lab)
    assert run.returncode == 0, run.stderr
    assert ": ok — lab " in run.stdout and run.stderr == ""


@pytest.mark.parametrize("name", [p.stem for p in LABS])
def test_catalog_names_lint_clean(name: str) -> None:
    run = netlab("lint", name)
    assert run.returncode == 0, run.stderr
    assert f"ok — lab {name}," in run.stdout


RENDER_CASES = [
    *[(REPO / "labs" / "lab10.yml", p) for p in PROVIDERS],
    *[(REPO / "tests" / "data" / "good" / "mixed-types.yml", p) for p in PROVIDERS],
    *[(lab, "virtualbox") for lab in GOOD if lab.stem != "mixed-types"],
]


@pytest.mark.parametrize(("lab", "provider"), RENDER_CASES, ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_render_writes_every_file(tmp_path: Path, lab: Path, provider: str) -> None:
    out = tmp_path / "out"
    run = netlab("render", lab, "-o", out, "--provider", provider)
    assert run.returncode == 0, run.stderr
    model = load_lab(lab)
    assert (out / "Vagrantfile").is_file() == (provider in ("virtualbox", "libvirt"))
    for name in ("ansible.cfg", "inventory.yml", "site.yml"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "host_vars").iterdir()) == sorted(f"{h}.yml" for h in model.hosts)
    assert (out / "roles").is_dir() and any((out / "roles").iterdir())
    if provider in ("virtualbox", "libvirt"):
        vagrantfile = (out / "Vagrantfile").read_text()
        for host in model.hosts:
            assert f'config.vm.define "{host}" do |node|' in vagrantfile
    # Nothing but the output directory appears next to it (no staging left behind).
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# --- malformed labs ----------------------------------------------------------------------------


@pytest.mark.parametrize("lab", BAD, ids=lambda p: p.name)
def test_bad_lab_lint_names_the_field(lab: Path) -> None:
    field = expected_field(lab)
    run = netlab("lint", lab)
    assert_clean_failure(run, str(lab), field)
    assert run.stdout == ""


@pytest.mark.parametrize("lab", BAD, ids=lambda p: p.name)
def test_bad_lab_render_writes_nothing(tmp_path: Path, lab: Path) -> None:
    out = tmp_path / "parent" / "out"
    run = netlab("render", lab, "-o", out, "--provider", "virtualbox")
    assert_clean_failure(run, str(lab), expected_field(lab))
    assert not out.exists() and not out.parent.exists()


CONTENTS: dict[str, bytes] = {
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "list": b"- name: lab\n- hosts: {}\n",
    "scalar": b"lab10\n",
    "broken": b"name: [\n  - x\n: y\n",
    "latin1": "name: lab\ntitle: caf\xe9\n".encode("latin-1"),
    "tabs": b"name:\tlab\n",
    "two-docs": b"name: a\n---\nname: b\n",
    "tag": b"name: !!python/object/apply:os.system [id]\n",
    "bomb": b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + b"".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n".encode()
                       for p, c in zip("abcdefgh", "bcdefghi", strict=True))
            + b"name: *i\n",
    "deep": b"name: " + b"[" * 20_000 + b"]" * 20_000 + b"\n",
    "huge": b"# " + b"x" * 2_000_000 + b"\n",
    "int-keys": b"100: x\nyes: y\n",
    "null-key": b"? \n: x\n",
}


@pytest.mark.parametrize("kind", sorted(CONTENTS))
def test_any_file_content_gives_a_clean_error(tmp_path: Path, kind: str) -> None:
    lab = tmp_path / f"{kind}.yml"
    lab.write_bytes(CONTENTS[kind])
    run = netlab("lint", lab)
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert "Traceback" not in output
    assert str(lab) in run.stderr and "error" in run.stderr
    out = tmp_path / "rendered"
    run = netlab("render", lab, "-o", out)
    assert run.returncode == 2 and "Traceback" not in run.stdout + run.stderr
    assert not out.exists()


def test_lint_reports_every_error_with_lines(tmp_path: Path) -> None:
    lab = tmp_path / "many.yml"
    lab.write_text(
        "name: Many\n"                                   # 1: name
        "underlay: {name: n, subnet: 192.168.50.0/24}\n"
        "hosts:\n"
        "  a: {ip: 192.168.51.2}\n"                      # 4: hosts.a.ip
        "  b: {ip: 192.168.50.3, bxo: x}\n"              # 5: hosts.b.bxo
        "tunnels:\n"
        "  - {name: gre1, type: gre, key: 99999999999,\n"  # 7: tunnels[0].key
        "     endpoints: {a: 10.0.0.1/24, b: 10.0.0.2/24}}\n"
        "  - {name: vx0, type: vxlan, vni: 5, group: 10.0.0.9,\n"  # 9: tunnels[1].group
        "     endpoints: {a: 10.1.0.1/24, b: 10.1.0.2/24}}\n"
    )
    run = netlab("lint", lab)
    assert run.returncode == 2
    lines = run.stderr.splitlines()
    assert lines[0] == f"{lab}: 5 errors"
    for where, field in [(1, "name"), (4, "hosts.a.ip"), (5, "hosts.b.bxo"), (7, "tunnels[0].key"),
                         (9, "tunnels[1].group")]:
        assert any(x.strip().startswith(f"{lab}:{where}: {field}: ") for x in lines), (field, run.stderr)


def test_lint_of_a_missing_file(tmp_path: Path) -> None:
    run = netlab("lint", tmp_path / "nope.yml")
    assert run.returncode != 0 and "no such lab file" in run.stderr and "Traceback" not in run.stderr


def test_render_does_not_touch_an_existing_directory_on_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    run = netlab("render", BAD[0], "-o", out)
    assert run.returncode == 2
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


# --- the shipped JSON Schema -------------------------------------------------------------------


def test_shipped_schema_is_current() -> None:
    run = netlab("schema")
    assert run.returncode == 0
    shipped = (REPO / "labs" / "lab.schema.json").read_text()
    assert run.stdout == shipped, "regenerate: netlab schema > labs/lab.schema.json"


@pytest.mark.parametrize("lab", LABS + GOOD, ids=lambda p: p.name)
def test_labs_validate_against_the_json_schema(lab: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from ruamel.yaml import YAML

    schema = json.loads((REPO / "labs" / "lab.schema.json").read_text())
    data = json.loads(json.dumps(YAML(typ="safe").load(lab.read_text())))
    jsonschema.validate(data, schema)


def test_json_schema_refuses_what_the_model_refuses() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((REPO / "labs" / "lab.schema.json").read_text())
    lab = {"name": "x", "underlay": {"name": "n", "subnet": "10.0.0.0/24"}, "hosts": {"a": {"ip": "10.0.0.1"}},
           "tunnels": [{"name": "t", "type": "vxlan", "vni": 0, "endpoints": {}}], "extra": 1}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(lab, schema)
