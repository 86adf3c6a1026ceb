"""A running lab as an Ansible inventory: netlab inventory."""

from __future__ import annotations

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
    configure the same machines as another lab: netlab up LAB --provider ssh --inventory FILE
    (not a netns lab's: it reaches namespaces on this machine). For a netns lab, Ansible uses
    netlab's connection plugin from netlab's package: the file's header and netlab say how
    (ANSIBLE_CONNECTION_PLUGINS); nothing is written to ~/.ansible.

    Tenants are in a group `tenants`: on netns each is its own namespace; on VMs an entry reaches
    the tenant's host (Ansible cannot enter a namespace inside a VM) and names the namespace to
    run its commands in (`ip netns exec NAMESPACE CMD`)."""
    from pathlib import Path

    from netlab.inventory import inventory_text, use_command

    try:
        session = open_session(lab, provider, must_be_up=True)
        text = inventory_text(session.provider)
        if output:
            try:
                Path(output).write_text(text)
            except OSError as exc:
                raise NetlabError(f"cannot write {output}: {exc.strerror or exc}") from None
            err.print(f"wrote {output}; use it with: {use_command(session.provider, output)}",
                      markup=False, highlight=False)
        else:
            out.print(text, end="", markup=False, highlight=False)
    except NetlabError as exc:
        fail(exc)
