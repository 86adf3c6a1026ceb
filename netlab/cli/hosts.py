"""Reaching a running lab's hosts: exec, ssh, capture."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, BinaryIO, NoReturn

import typer

from netlab.cli.app import (
    HostArg,
    LabArg,
    ProviderOpt,
    app,
    complete_host,
    examples,
    fail,
    info,
    open_session,
    out,
    quiet,
)
from netlab.errors import NetlabError


def _run_on_host(lab: str, host: str, provider: str | None, command: list[str],
                 interactive: bool) -> NoReturn:
    try:
        session = open_session(lab, provider, must_be_up=True)
        if host not in session.lab.nodes:  # routers and tenants too
            raise NetlabError(f"lab {session.lab.name} has no host {host!r}",
                              hint=f"hosts: {', '.join(session.lab.nodes)}")
        argv = session.provider.host_argv(host, command, interactive=interactive)
    except NetlabError as exc:
        fail(exc)
    if interactive:
        os.execvp(argv[0], argv)
    raise typer.Exit(subprocess.call(argv))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             epilog=examples("sudo netlab exec lab10 boxA -- ip -d link show vxlan0",
                             "sudo netlab exec tenants web1 -- ping -c 3 10.100.0.2"))
def exec(
    lab: LabArg,
    host: HostArg,
    command: Annotated[list[str], typer.Argument(help="command to run (after --)")],
    provider: ProviderOpt = None,
) -> None:
    """Run a command on a host (a router, a tenant) and exit with its exit code."""
    _run_on_host(lab, host, provider, command, interactive=False)


@app.command(epilog=examples("sudo netlab ssh lab10 boxA", "sudo netlab ssh tenants web1"))
def ssh(lab: LabArg, host: HostArg, provider: ProviderOpt = None) -> None:
    """An interactive shell on a host (a router or a tenant too: inside its namespace, named after it)."""
    # bash when the host has it (every netlab image and Vagrant box does), else sh.
    shell = 'command -v bash >/dev/null && exec bash -l || exec sh -l'
    _run_on_host(lab, host, provider, ["sh", "-c", shell], interactive=True)


class _Copier(threading.Thread):
    """tcpdump's pcap, from its pipe to the sink, each packet as it comes (| wireshark -k -i -);
    the first write that fails stops tcpdump and is kept in `lost`."""

    def __init__(self, proc: subprocess.Popen[bytes], sink: BinaryIO) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.sink = sink
        self.lost: OSError | None = None

    def run(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 65536):
            if self.lost is not None:
                continue  # drain, so tcpdump is never blocked on a full pipe
            try:
                self.sink.write(chunk)
                self.sink.flush()
            except OSError as exc:
                self.lost = exc
                self.proc.terminate()


@app.command(epilog=examples("sudo netlab capture lab10 --ping boxA boxC -c 4",
                             "sudo netlab capture lab10 -w - | wireshark -k -i -"))
def capture(
    lab: LabArg,
    host: Annotated[str | None, typer.Option("--host", help="capture on this host's (or router's) NIC; a "
                                             "tenant's: on its eth0, inside its namespace (inner frames)",
                                             autocompletion=complete_host)] = None,
    segment: Annotated[str | None, typer.Option("--segment", help="capture on this underlay segment "
                                                "(routed labs: compare the TTL on both sides of a router)")] = None,
    count: Annotated[int | None, typer.Option("-c", "--count", help="stop after N packets "
                                              "[default: 20; with -w: until stopped]")] = None,
    write: Annotated[str | None, typer.Option("-w", help="write a pcap file instead of printing; - for "
                                              "standard output (| wireshark -k -i -)")] = None,
    ping: Annotated[tuple[str, str] | None, typer.Option("--ping", metavar="SRC DST",
                    help="make traffic: SRC pings DST (a host: its tunnel address; a tenant: its address; or an IP) "
                    "while capturing")] = None,
    provider: ProviderOpt = None,
    filter: Annotated[list[str] | None, typer.Argument(help="tcpdump filter, e.g. udp port 4789 "
                                                       "(default: everything but IPv6 noise)")] = None,
) -> None:
    """tcpdump on the underlay: outer and inner headers of the overlay's packets."""
    import sys

    from netlab.capture import capture_argv, nothing_captured, ping_target, run_capture

    try:
        session = open_session(lab, provider, must_be_up=True)
        if count is None and write is None:
            count = 20
        argv = capture_argv(session.provider, host, count, write is not None, filter or [], segment)
        pinger = None
        if ping is not None:
            source, target = ping
            address = ping_target(session.lab, source, target)
            pinger = session.provider.host_argv(source, ["ping", "-c", "3", "-i", "0.2", "-w", "5", address])
    except NetlabError as exc:
        fail(exc)
    sink = None
    if write == "-":
        sink = sys.stdout.buffer
    elif write is not None:
        try:
            sink = Path(write).open("wb")  # noqa: SIM115 (closed below, after the capture)
        except OSError as exc:
            fail(NetlabError(f"cannot write {write}: {exc.strerror}",
                             hint="give -w a file in a directory you can write, or - for standard output"))
    info(" ".join(argv))
    # tcpdump writes into a pipe and netlab copies it on: tcpdump does not notice a full disk
    # (-w /dev/full "succeeded"), netlab does, and says so.
    copiers: list[_Copier] = []

    def copy_on(proc: subprocess.Popen[bytes]) -> Callable[[], None]:
        copiers.append(_Copier(proc, sink))  # type: ignore[arg-type]
        copiers[0].start()
        return copiers[0].join

    captured = run_capture(argv, subprocess.PIPE if sink is not None else None, pinger, info,
                           copy_on if sink is not None else None)
    lost = copiers[0].lost if copiers else None
    if sink is not None and write != "-":
        try:
            sink.close()
        except OSError as exc:
            lost = lost or exc
    if lost is not None and not (write == "-" and lost.errno == errno.EPIPE):  # a reader that left: its choice
        fail(NetlabError(f"cannot write {'standard output' if write == '-' else write}: {lost.strerror or lost}",
                         hint="give -w a file on a disk with free space, or - for standard output"))
    if sink is not None and write != "-" and not quiet():
        out.print(f"wrote {write}", highlight=False, markup=False)
    if captured.code == 0 and captured.packets == 0:
        fail(nothing_captured(session.lab.name, filter or [], ping))
    raise typer.Exit(captured.code)
