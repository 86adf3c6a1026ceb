"""Options that take one value are given once: click keeps the last of `--host A --host B` without
a word, and `netlab break` then broke B. Every command refuses a repeated one instead."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup


def _takes_one_value(param: Any) -> bool:
    # Typer carries its own copy of click: its classes are matched by what they say, not by type.
    return (getattr(param, "param_type_name", "") == "option"
            and not (param.is_flag or param.multiple or param.count))


def repeated(command: Any, args: list[str]) -> str | None:
    """The first option of `command` that takes one value and that `args` give twice (before a
    `--`), or None."""
    options = {opt: param for param in command.params if _takes_one_value(param) for opt in param.opts}
    seen: dict[str, str] = {}
    words = iter(args)
    for word in words:
        if word == "--":
            break
        opt, eq, _ = word.partition("=") if word.startswith("--") else (word, "", "")
        param = options.get(opt)
        if param is None:
            continue
        if param.name in seen:
            return seen[param.name] if seen[param.name] == opt else f"{seen[param.name]} / {opt}"
        seen[param.name] = opt
        if not eq:
            for _ in range(param.nargs):  # its values are not options
                next(words, None)
    return None


class OnceGroup(TyperGroup):
    """The root group: checks each command's arguments for a repeated option before click parses them."""

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not hasattr(command, "commands"):  # a command, not a group
            option = repeated(command, rest)
            if option is not None:
                raise typer.BadParameter(f"given twice: netlab {name} takes one, give it once", ctx=ctx,
                                         param_hint=f"'{option}'")
        return name, command, rest
