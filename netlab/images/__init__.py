"""The VM image for the qemu provider: a minimal Debian bookworm built locally with mmdebstrap.

Built once into the user cache directory and rebuilt only when the recipe below changes (or on
`--force`). Beside the qcow2 base sit the kernel and initrd for QEMU's direct kernel boot, so no
boot loader is installed and the kernel command line (hostname, SSH key) comes from netlab.
"""

from __future__ import annotations

from netlab.images.build import (
    IMAGE_VERSION,
    Image,
    build_image,
    cached_image,
    image_dir,
    missing_tools,
    recipe_hash,
)

__all__ = ["IMAGE_VERSION", "Image", "build_image", "cached_image", "image_dir", "missing_tools", "recipe_hash"]
