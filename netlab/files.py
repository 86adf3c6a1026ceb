"""Files and folders netlab writes are its own: 0600 and 0700, whatever the umask (a lab's log and
hosts/ were 0666 and 0777 under umask 000). Every writer here sets the mode itself, so a caller
that never went through the command line (the library, the tests) gets the same modes.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
EXEC_MODE = 0o700  # a file with an execute bit (a role's script) keeps it, for its owner only


def private_umask() -> int:
    """Add group and other to the process's umask (the commands netlab starts inherit it: the
    files Ansible's roles write on netns hosts too). Returns the umask before."""
    before = os.umask(0o077)
    os.umask(before | 0o077)
    return before


def private_dir(path: Path) -> Path:
    """`path` and its missing parents, made 0700 (an existing parent is left as it is)."""
    missing = []
    for parent in (path, *path.parents):
        if parent.is_dir():
            break
        missing.append(parent)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def _open(path: Path, flags: int, mode: int) -> int:
    fd = os.open(path, flags | os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # never a device's mode (a path that is /dev/null)
            os.fchmod(fd, mode)  # an existing file keeps its mode through os.open: set it
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, data: str | bytes, mode: int = FILE_MODE) -> None:
    """Write `path` (0600), replacing what it held; never through a symlink."""
    fd = _open(path, os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def append_private(path: Path, text: str) -> None:
    """Add `text` to the end of `path` (made 0600 if new)."""
    fd = _open(path, os.O_APPEND, FILE_MODE)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(text)


def copy_private(source: Path, target: Path) -> None:
    """A copy of a file, 0600 (0700 if it was executable)."""
    mode = EXEC_MODE if os.stat(source).st_mode & 0o111 else FILE_MODE
    write_private(target, Path(source).read_bytes(), mode)


def copy_tree_private(source: Path, target: Path, ignore: tuple[str, ...] = ()) -> None:
    """A copy of a folder tree, folders 0700 and files 0600 (0700 if executable)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*ignore),
                    copy_function=lambda s, t: copy_private(Path(s), Path(t)))
    for folder, _dirs, _files in os.walk(target):
        os.chmod(folder, DIR_MODE)
