"""`netlab image ...`: build the VM image the qemu provider boots."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from netlab.errors import NetlabError

image_app = typer.Typer(no_args_is_help=True, help="The VM image for the qemu provider.")
_out = Console(soft_wrap=True, emoji=False)
_err = Console(stderr=True, soft_wrap=True, emoji=False)


@image_app.command()
def build(
    force: Annotated[bool, typer.Option("--force", help="rebuild even if the cached image is current")] = False,
    mirror: Annotated[str | None, typer.Option("--mirror", help="Debian mirror URL")] = None,
    vagrant_box: Annotated[bool, typer.Option("--vagrant-box", help="also make it a local libvirt box for "
                                              "Vagrant (netlab/debian12)")] = False,
) -> None:
    """Build the minimal Debian image with mmdebstrap (cached; rebuilt when its recipe changes)."""
    from netlab.images import build_image
    from netlab.images.box import BOX_NAME, build_box
    from netlab.providers.qemu import labs_using_image  # which labs boot from an image: the provider's record

    def progress(message: str) -> None:
        _err.print(f"  {message}", style="dim", highlight=False, markup=False)

    try:
        image = build_image(force=force, mirror=mirror, progress=progress, in_use=labs_using_image)
        box = build_box(force=force, progress=progress, in_use=labs_using_image) if vagrant_box else None
    except NetlabError as exc:
        _err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            _err.print(f"  [bold]fix:[/] {escape(exc.hint)}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    sizes = image.manifest.get("sizes", {})
    mb = sizes.get("base.qcow2", 0) / 1e6
    _out.print(f"image {image.dir} (built {image.manifest.get('built')}, base.qcow2 {mb:.0f} MB)",
               highlight=False, markup=False)
    if box is not None:
        _out.print(f"vagrant box {BOX_NAME} from {box}", highlight=False, markup=False)
