"""`netlab ls` at 80 columns cuts nothing a teacher has to type: the name, the lab file and since
are whole (wrapped or folded, never an ellipsis) (issue 25 item 9)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netlab import catalog

from .conftest import needs_root, netlab_namespaces

NETLAB = [sys.executable, "-m", "netlab"]


def cells(table: str, column: int) -> str:
    """The text of one column of a rich table, its folded lines joined."""
    rows = [line.split("│") for line in table.splitlines() if line.startswith("│")]
    return "".join(row[column + 1].strip() for row in rows if len(row) > column + 1)


@needs_root
@pytest.mark.root
def test_ls_at_80_columns_cuts_neither_name_nor_lab_file_nor_since(tmp_path: Path) -> None:
    name = "ls25-long-name-x"  # 16 characters, the most a name may have
    folder = tmp_path / "a-course-folder-with-a-long-name" / "week-two"
    folder.mkdir(parents=True)
    path = folder / "lab10.yml"
    path.write_text(catalog.resolve("lab10").read_text())
    try:
        up = subprocess.run([*NETLAB, "up", str(path), "--name", name, "--no-overlay"], capture_output=True,
                            text=True, timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        listed = subprocess.run([*NETLAB, "ls"], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "COLUMNS": "80"})
    finally:
        subprocess.run([*NETLAB, "down", name], capture_output=True, timeout=120)
    assert netlab_namespaces(name) == []
    assert listed.returncode == 0, listed.stderr
    table = listed.stdout
    assert all(len(line) <= 80 for line in table.splitlines() if line.startswith(("│", "┃", "┏"))), table
    assert "…" not in table, table
    assert f"│ {name} " in table, "the name on one line, whole"
    assert str(path) in cells(table, 1), table
    assert re.search(r"\d{4}-\d\d-\d\d ?\d\d:\d\d", cells(table, 6)), table  # after mode
