"""`netlab capture`: tcpdump on the underlay, printing outer and inner headers."""

from __future__ import annotations

from pathlib import Path

from netlab.errors import NetlabError
from netlab.providers.base import Provider


def capture_argv(
    provider: Provider, host: str | None, count: int, write: Path | None, filter_words: list[str]
) -> list[str]:
    lab = provider.lab
    if count < 1:
        raise NetlabError("--count must be at least 1")
    if host is not None and host not in lab.hosts:
        raise NetlabError(f"lab {lab.name} has no host {host!r}", hint=f"hosts: {', '.join(lab.hosts)}")
    # -n: numbers, not names; -e: MACs, so learned fdb entries can be matched to frames;
    # -l: line-buffered, so output appears as packets arrive.
    tcpdump = ["tcpdump", "-n", "-e", "-l", "-c", str(count)]
    tcpdump += ["-w", "-"] if write else ["-v"]
    switch_argv = getattr(provider, "switch_argv", None)
    if host is None and switch_argv is not None:
        # netns: the switch sees every host's traffic at once.
        return switch_argv([*tcpdump, "-i", "underlay", *filter_words])
    target = host or next(iter(lab.hosts))
    return provider.host_argv(target, [*tcpdump, "-i", lab.underlay.interface, *filter_words])
