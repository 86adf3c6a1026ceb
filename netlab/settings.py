"""netlab's environment variables, in one place (pydantic-settings reads NETLAB_*).

Read fresh on each call: tests and the CLI set them at run time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NETLAB_", extra="ignore", env_ignore_empty=True)

    # Where labs' state lives (default: the user's state directory, see netlab.state).
    state_dir: Path | None = None
    # The provider to use when none is asked for and the lab is not up.
    provider: str | None = None
    # tcg | kvm: skip the probe that finds out whether KVM really runs guests here.
    qemu_accel: str | None = None
    # libvirt's domain type for Vagrant labs (kvm | qemu); default: the KVM probe's answer.
    libvirt_driver: str | None = None


def settings() -> Settings:
    return Settings()
