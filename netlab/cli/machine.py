"""What this machine can run: doctor."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from netlab.cli.app import app, out


@app.command()
def doctor() -> None:
    """Which providers work on this machine, and what each is missing."""
    from netlab.doctor import diagnose

    table = Table(title="netlab providers on this machine")
    for col in ("provider", "works", "why", "fix"):
        table.add_column(col)
    for name, avail in diagnose():
        table.add_row(name, "[green]yes[/]" if avail.ok else "[red]no[/]", escape(avail.reason), escape(avail.fix))
    out.print(table)
