"""`netlab up`'s progress: what netlab does now, and one row per VM (booting, ssh ready, configured).

The provider's free-text messages are shown as they come (the top line, and a dim line each);
the rows per machine come from the provider's typed events (`Provider.on_machine`), never from
parsing the text. On a terminal this is a Rich progress display; elsewhere (a pipe, a CI log)
plain lines; with -q nothing.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from netlab.providers.base import MachineEvent

# Stage -> (steps done of STEPS, what the row says).
STEPS = 3
STAGES = {"booting": (1, "booting"), "ready": (2, "ssh ready"), "configured": (3, "configured")}


class UpProgress:
    def __init__(self, lab: str, console: Console, quiet: bool = False) -> None:
        self.lab = lab
        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.started = time.monotonic()
        self.display: Progress | None = None
        self.top: TaskID | None = None
        self.rows: dict[str, TaskID] = {}
        self.booted: dict[str, float] = {}

    def __enter__(self) -> UpProgress:
        if self.live:
            # The stage (for the lab: what netlab does now) is the last column: a long message
            # there does not push the others.
            self.display = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=12), TimeElapsedColumn(),
                TextColumn("{task.fields[stage]}"), console=self.console,
            )
            self.display.start()
            self.top = self.display.add_task(self.lab, total=None, stage="starting")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.display is not None:
            self.display.stop()

    # -- what the provider and the configuration stage report -----------------------------------------
    def message(self, text: str) -> None:
        if self.quiet:
            return
        if self.display is not None and self.top is not None:
            self.display.update(self.top, stage=text)
        self.console.print(f"  {text}", style="dim", highlight=False, markup=False)

    def event(self, event: MachineEvent) -> None:
        if event.stage not in STAGES:
            return
        step, words = STAGES[event.stage]
        if event.stage == "booting":
            self.booted[event.machine] = time.monotonic()
        elif event.stage == "ready" and event.machine in self.booted:
            words += f" after {time.monotonic() - self.booted[event.machine]:.0f} s"
            if not self.quiet:
                self.console.print(f"  {event.machine}: {words}", style="dim", highlight=False, markup=False)
        if self.display is None:
            return
        row = self.rows.get(event.machine)
        if row is None:
            row = self.rows[event.machine] = self.display.add_task(event.machine, total=STEPS, stage=words)
        self.display.update(row, completed=step, stage=words)

    def configured(self) -> None:
        """The lab is up: every machine shown is configured."""
        if self.display is None:
            return
        if self.top is not None:
            self.display.update(self.top, stage="up", total=1, completed=1)
        for row in self.rows.values():
            self.display.update(row, completed=STEPS, stage=STAGES["configured"][1])
