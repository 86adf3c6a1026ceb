"""Reaching a running lab's hosts: exec, ssh, capture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from netlab.cli.app import LabArg, ProviderOpt, app, err, fail, open_session, out
from netlab.errors import NetlabError


def _run_on_host(lab: str, host: str, provider: str | None, command: list[str],
                 interactive: bool) -> NoReturn:
    import os
    import subprocess

    try:
        session = open_session(lab, provider, must_be_up=True)
        if host not in session.lab.hosts:
            raise NetlabError(f"lab {session.lab.name} has no host {host!r}",
                              hint=f"hosts: {', '.join(session.lab.hosts)}")
        argv = session.provider.host_argv(host, command, interactive=interactive)
    except NetlabError as exc:
        fail(exc)
    if interactive:
        os.execvp(argv[0], argv)
    raise typer.Exit(subprocess.call(argv))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec(
    lab: LabArg,
    host: Annotated[str, typer.Argument(help="host name")],
    command: Annotated[list[str], typer.Argument(help="command to run (after --)")],
    provider: ProviderOpt = None,
) -> None:
    """Run a command on a host: netlab exec lab10 boxA -- ip -d link show vxlan0"""
    _run_on_host(lab, host, provider, command, interactive=False)


@app.command()
def ssh(lab: LabArg, host: Annotated[str, typer.Argument(help="host name")],
        provider: ProviderOpt = None) -> None:
    """An interactive shell on a host."""
    # bash when the host has it (every netlab image and Vagrant box does), else sh.
    shell = 'command -v bash >/dev/null && exec bash -l || exec sh -l'
    _run_on_host(lab, host, provider, ["sh", "-c", shell], interactive=True)


@app.command()
def capture(
    lab: LabArg,
    host: Annotated[str | None, typer.Option("--host", help="capture on this host's underlay NIC")] = None,
    count: Annotated[int, typer.Option("-c", "--count", help="stop after N packets")] = 20,
    write: Annotated[Path | None, typer.Option("-w", help="write a pcap file instead of printing")] = None,
    provider: ProviderOpt = None,
    filter: Annotated[list[str] | None, typer.Argument(help="tcpdump filter, e.g. udp port 4789")] = None,
) -> None:
    """tcpdump on the underlay: outer and inner headers of the overlay's packets."""
    import subprocess

    from netlab.capture import capture_argv

    try:
        session = open_session(lab, provider, must_be_up=True)
        argv = capture_argv(session.provider, host, count, write, filter or [])
    except NetlabError as exc:
        fail(exc)
    if write is None:
        err.print("  " + " ".join(argv), style="dim", highlight=False, markup=False)
        raise typer.Exit(subprocess.call(argv))
    try:
        sink = write.open("wb")
    except OSError as exc:
        fail(NetlabError(f"cannot write {write}: {exc.strerror}", hint="give -w a file in a directory you can write"))
    err.print("  " + " ".join(argv), style="dim", highlight=False, markup=False)
    with sink:
        code = subprocess.call(argv, stdout=sink)
    out.print(f"wrote {write}", highlight=False, markup=False)
    raise typer.Exit(code)


