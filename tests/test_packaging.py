"""The wheel carries the catalog, roles, playbooks and Vagrantfile.j2, and works from anywhere."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0 and "hatchling" in proc.stderr:
        pytest.skip("hatchling is not installed (pip install .[test])")
    assert proc.returncode == 0, proc.stderr
    return next(out.glob("overlay_netlab-*.whl"))


def test_wheel_ships_the_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "netlab/_data/labs/lab9.yml", "netlab/_data/labs/lab10.yml", "netlab/_data/labs/lab.schema.json",
        "netlab/_data/roles/overlay/templates/tunnels/vxlan.j2", "netlab/_data/roles/overlay/tasks/main.yml",
        "netlab/_data/playbooks/site.yml", "netlab/_data/Vagrantfile.j2",
        "netlab/ansible_plugins/connection/netns.py", "netlab/verify/suite.py",
    ):
        assert required in names, required
    metadata = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Name: overlay-netlab" in text and "Requires-Python: >=3.11" in text
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "netlab = netlab.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_installed_wheel_lists_the_catalog_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Only the unpacked wheel (not this checkout) provides the netlab package.
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-c", "import netlab.package_data as r; print(r.data_root())"],
                          cwd=elsewhere, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == site / "netlab" / "_data"
    proc = subprocess.run([sys.executable, "-m", "netlab", "list"], cwd=elsewhere, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for lab in ("lab9", "lab10", "gre", "gretap", "geneve", "ipip", "sit"):
        assert f" {lab} " in proc.stdout, lab


@pytest.mark.skipif(shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff is not installed (pip install .[test])")
def test_code_is_ruff_clean() -> None:
    ruff = str(Path(sys.executable).parent / "ruff") if (Path(sys.executable).parent / "ruff").exists() else "ruff"
    proc = subprocess.run([ruff, "check", "netlab", "tests", "bench"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
