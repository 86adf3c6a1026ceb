"""A running lab as an Ansible inventory: netlab inventory."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from netlab.cli.app import LabArg, ProviderOpt, app, err, fail, open_session, out
from netlab.errors import NetlabError


@app.command()
def inventory(
    lab: LabArg,
    provider: ProviderOpt = None,
    output: Annotated[str | None, typer.Option("-o", "--output", help="write it to this file "
                                               "(default: standard output)")] = None,
) -> None:
    """An Ansible inventory (YAML) of a running lab: how to reach each host, with absolute paths.

    Use it with your own playbooks (ansible-playbook -i FILE, from any directory), or to
    configure the same machines as another lab: netlab up LAB --provider ssh --inventory FILE.
    For netns labs, netlab's connection plugin is copied to ~/.ansible/plugins/connection/."""
    from pathlib import Path

    from netlab.inventory import install_connection_plugin, inventory_text

    try:
        session = open_session(lab, provider, must_be_up=True)
        text = inventory_text(session.provider)
        if session.provider.needs_connection_plugin:
            where, changed = install_connection_plugin()
            err.print(f"{'installed' if changed else 'using'} netlab's Ansible connection plugin "
                      f"{session.provider.name} at {where} (Ansible looks there from any directory)",
                      markup=False, highlight=False)
        if output:
            try:
                Path(output).write_text(text)
            except OSError as exc:
                raise NetlabError(f"cannot write {output}: {exc.strerror or exc}") from None
            use = shlex.join(["ansible-playbook", "-i", output])
            err.print(f"wrote {output}: {use} PLAYBOOK", markup=False, highlight=False)
        else:
            out.print(text, end="", markup=False, highlight=False)
    except NetlabError as exc:
        fail(exc)
