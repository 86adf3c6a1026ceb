"""netlab's environment variables, in one place: NETLAB_* read into one validated object.

Read fresh on each call: tests and the CLI set them at run time. (A plain pydantic model fed
from os.environ: pydantic-settings did the same and cost every command ~25 ms to import.)
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

PREFIX = "NETLAB_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Where labs' state lives (default: the user's state directory, see netlab.state).
    state_dir: Path | None = None
    # The provider to use when none is asked for and the lab is not up.
    provider: str | None = None
    # tcg | kvm: skip the probe that finds out whether KVM really runs guests here.
    qemu_accel: str | None = None
    # libvirt's domain type for Vagrant labs (kvm | qemu); default: the KVM probe's answer.
    libvirt_driver: str | None = None


def settings() -> Settings:
    """NETLAB_STATE_DIR -> state_dir, ...; a variable set to the empty string counts as unset."""
    return Settings.model_validate({key[len(PREFIX):].lower(): value for key, value in os.environ.items()
                                    if key.upper().startswith(PREFIX) and value})
