"""A picture of a lab: graph."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from netlab.cli.app import LabArg, app, examples, fail, load_lab_ref, out, quiet
from netlab.errors import NetlabError


def _complete_format(incomplete: str) -> list[str]:
    from netlab.graph import FORMATS

    return [f for f in FORMATS if f.startswith(incomplete)]


@app.command(epilog=examples("netlab graph lab10 -o lab10.svg",
                             "netlab graph leaf-spine --format mermaid > leaf-spine.mmd"))
def graph(
    lab: LabArg,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write the picture to this file; its "
                                                "suffix picks the format (.svg .png .dot .mmd)")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", metavar="svg|png|dot|mermaid",
                                            autocompletion=_complete_format,
                                            help="the format (default: from -o's suffix; dot without -o)")] = None,
) -> None:
    """Draw the lab: hosts, routers, underlay segments with their subnets, and every tunnel with its
    type, VNI or key, group and TTL.

    SVG and PNG are drawn by Graphviz's dot (Debian package graphviz); DOT and Mermaid are text, to
    standard output without -o (Mermaid renders in GitHub's Markdown)."""
    from netlab.graph import FORMATS, IMAGE_FORMATS, SUFFIXES, graph_text, render_image

    try:
        to_stdout = output is not None and str(output) == "-"  # -o -: standard output, as --format dot alone
        if to_stdout:
            output = None
        if fmt is None:
            if output is None:
                fmt = "dot"
            elif output.suffix.lower() in SUFFIXES:
                fmt = SUFFIXES[output.suffix.lower()]
            else:
                raise NetlabError(f"-o {output}: which format is {output.suffix or 'a file without a suffix'}?",
                                  hint=f"name the file .svg, .png, .dot or .mmd, or give --format {'|'.join(FORMATS)}")
        if fmt not in FORMATS:
            raise NetlabError(f"--format {fmt} is not known", hint=f"use one of: {', '.join(FORMATS)}")
        named = SUFFIXES.get(output.suffix.lower()) if output is not None else None
        if named is not None and named != fmt:  # mermaid text in x.png: no program opens it
            suffixes = ", ".join(s for s, f in SUFFIXES.items() if f == fmt)
            raise NetlabError(f"-o {output} names a {named} file, --format is {fmt}",
                              hint=f"name the file for {fmt} ({suffixes}), or drop --format")
        if output is None and fmt in IMAGE_FORMATS and not to_stdout:
            raise NetlabError(f"--format {fmt} is a picture: it needs a file",
                              hint=f"add -o {shlex.quote(Path(lab).stem + '.' + fmt)}")
        model = load_lab_ref(lab)
        data = render_image(model, fmt) if fmt in IMAGE_FORMATS else graph_text(model, fmt).encode()
    except NetlabError as exc:
        fail(exc)
    if output is None:
        if fmt in IMAGE_FORMATS:  # -o - --format png: the bytes, for a pipe
            sys.stdout.flush()
            try:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            except BrokenPipeError:
                pass  # the reader had enough (| head -c): its choice
            except OSError as exc:
                fail(NetlabError(f"cannot write standard output: {exc.strerror or exc}",
                                 hint="send the picture to a file (-o lab.png) on a disk with free space"))
        else:
            sys.stdout.write(data.decode())
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        fail(NetlabError(f"cannot write {output}: {exc.strerror}", hint="give -o a file in a directory you can write"))
    if not quiet():
        out.print(f"wrote {output} ({fmt}, lab {model.name})", highlight=False, markup=False)
    raise typer.Exit(0)
