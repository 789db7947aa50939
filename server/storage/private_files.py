"""Files that hold personal data or secrets are the service user's alone: directories 0700, files 0600.

Created so from the start (not tightened afterwards, which leaves a window), and tightened when found looser (a data
directory made by an earlier version). SQLite creates its -wal and -shm files with the database file's mode, so a
database created private stays private.
"""

from __future__ import annotations

import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    """`path` and any missing parents created 0700; `path` itself tightened to 0700 if it was looser."""
    for parent in reversed([path, *path.parents]):
        if not parent.exists():
            parent.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(DIRECTORY_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` created empty with mode 0600 if missing (its directory private too), else tightened to 0600."""
    private_directory(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(FILE_MODE)
    return path


def write_private(path: Path, text: str) -> None:
    """`text` into `path`, a file only the service user can read (made so before anything is written)."""
    private_file(path).write_text(text)
