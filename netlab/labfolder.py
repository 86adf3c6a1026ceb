"""The state root and the lab folders in it: made by netlab, marked as netlab's, never adopted.

`down` deletes a lab folder, and root runs it: a folder netlab did not make (a user's notes, a
symlink to /etc) must never be taken for a lab's. So the state root must be a real directory of
the user's own that no one else can write, and a lab folder is made whole under a temporary name
with a marker file holding a random token, then renamed into place. A folder without the marker
is refused, never written into or removed. The token also names the lab's claim on what it makes
outside the folder (network namespaces): another state's lab of the same name has another token.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
from pathlib import Path

from netlab.errors import NetlabError

MARKER = ".netlab-lab"  # in every lab folder netlab made; holds the lab's token


def check_root(root: Path, create: bool = True) -> None:
    """Refuse a state root that is a symlink, not a directory, another user's, or writable by others.

    A missing root is made (0700) when `create`; its parents are made as `mkdir -p` would."""
    try:
        info = os.lstat(root)
    except FileNotFoundError:
        if not create:
            return
        try:
            root.mkdir(mode=0o700, parents=True)
        except FileExistsError:
            pass
        except OSError as exc:
            raise NetlabError(f"cannot create the state directory {root}: {exc.strerror}",
                              hint="set NETLAB_STATE_DIR to a directory you can write") from None
        info = os.lstat(root)
    except OSError as exc:
        raise NetlabError(f"cannot read the state directory {root}: {exc.strerror}",
                          hint="set NETLAB_STATE_DIR to a directory you own") from None
    if stat.S_ISLNK(info.st_mode):
        raise NetlabError(f"the state directory {root} is a symbolic link (to {os.readlink(root)})",
                          hint="netlab never follows a link out of its state: set NETLAB_STATE_DIR to "
                               "the real directory, or to a new one")
    if not stat.S_ISDIR(info.st_mode):
        raise NetlabError(f"the state directory {root} is not a directory",
                          hint="set NETLAB_STATE_DIR to a directory")
    if info.st_uid != os.geteuid():
        raise NetlabError(f"the state directory {root} belongs to another user (uid {info.st_uid})",
                          hint="set NETLAB_STATE_DIR to a directory of your own")
    if info.st_mode & 0o022:
        raise NetlabError(f"the state directory {root} can be written by others "
                          f"(mode {stat.S_IMODE(info.st_mode):o})",
                          hint=f"chmod 700 {root}, or set NETLAB_STATE_DIR to a private directory")


def token(folder: Path) -> str | None:
    """The token of a lab folder netlab made; None for anything else (missing, a link, unmarked)."""
    try:
        if stat.S_ISLNK(os.lstat(folder).st_mode):
            return None
        text = (folder / MARKER).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if text.isalnum() and len(text) == 32 else None


def is_lab_folder(folder: Path) -> bool:
    return token(folder) is not None


def refuse_unmarked(folder: Path) -> None:
    """The error for a folder in the lab's place that netlab did not make."""
    try:
        kind = "symbolic link" if stat.S_ISLNK(os.lstat(folder).st_mode) else "folder"
    except OSError:
        return
    if token(folder) is None:
        raise NetlabError(f"{folder} is a {kind} netlab did not make: it is never used or removed as a lab's",
                          hint="move it away, or give the lab another name (--name), or set NETLAB_STATE_DIR "
                               "to another directory")


def is_legacy(folder: Path) -> bool:
    """A lab folder an older netlab made (no marker yet): its state.json names the lab by the
    folder's name."""
    if token(folder) is not None or not folder.is_dir() or folder.is_symlink():
        return False
    try:
        record = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(record, dict) and record.get("lab") == folder.name


def adopt_legacy(folder: Path) -> None:
    """Mark an older netlab's lab folder now, so an upgrade never strands a running lab."""
    if is_legacy(folder):
        _write_marker(folder, secrets.token_hex(16))


def _write_marker(folder: Path, value: str) -> None:
    fd = os.open(folder / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")


def make(folder: Path) -> str:
    """Make the lab folder (0700, marked) unless netlab's own is there; returns its token.

    Made under a temporary name and renamed: a crash never leaves a folder without its marker."""
    refuse_unmarked(folder)
    existing = token(folder)
    if existing is not None:
        return existing
    check_root(folder.parent)
    value = secrets.token_hex(16)
    tmp = folder.with_name(f".{folder.name}.new-{secrets.token_hex(4)}")
    tmp.mkdir(mode=0o700)
    try:
        tmp.chmod(0o700)
        _write_marker(tmp, value)
        os.rename(tmp, folder)  # fails if something appeared there meanwhile
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        refuse_unmarked(folder)
        raise NetlabError(f"cannot create the lab folder {folder}: {exc.strerror}",
                          hint="check the state directory's permissions and free space") from None
    return value


def remove(folder: Path) -> bool:
    """Delete a lab folder netlab made (with everything in it); anything else is left. True if removed."""
    if token(folder) is None:
        return False
    # Renamed first: a crash half way leaves a hidden folder, never a half-deleted lab folder.
    doomed = folder.with_name(f".{folder.name}.gone-{secrets.token_hex(4)}")
    try:
        os.rename(folder, doomed)
    except OSError:
        return False
    shutil.rmtree(doomed, ignore_errors=True)
    return True


def sweep(root: Path) -> None:
    """Remove what a crash left of folders being made or deleted (`.NAME.new-*`, `.NAME.gone-*`)."""
    with contextlib.suppress(OSError):
        for entry in root.iterdir():
            if entry.name.startswith(".") and (".new-" in entry.name or ".gone-" in entry.name) \
                    and entry.is_dir() and not entry.is_symlink() and (entry / MARKER).is_file():
                shutil.rmtree(entry, ignore_errors=True)
