"""What this machine can run: doctor."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netlab.cli.app import app, examples, out, print_json


@app.command(epilog=examples("netlab doctor", "netlab doctor --json | jq -r '.[] | select(.works) | .provider'"))
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON array: provider, works, why, fix")]
    = False,
) -> None:
    """Which providers work on this machine, and what each is missing."""
    from netlab.doctor import diagnose

    found = diagnose()
    if as_json:
        print_json([{"provider": name, "works": avail.ok, "why": avail.reason, "fix": avail.fix}
                    for name, avail in found])
        return
    table = Table(title="netlab providers on this machine")
    for col in ("provider", "works", "why", "fix"):
        table.add_column(col)
    for name, avail in found:
        table.add_row(name, "[green]yes[/]" if avail.ok else "[red]no[/]", escape(avail.reason), escape(avail.fix))
    out.print(table)
    from netlab.leftovers import orphans

    for orphan in orphans():
        out.print(f"left behind by lab {orphan.lab} (no state owns it): {orphan.what}; remove with: {orphan.fix}",
                  highlight=False, markup=False)
