"""Owner-only files: anything holding a full account number (NACHA and return files, the
ACH archive, captured messages) is created 0600 in folders made 0700, by `os.open` with the
mode, so no other user can read it even for the moment between creating and writing."""
from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) 0700; a folder that exists is narrowed to 0700."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, DIR_MODE)
    return path


def open_private(path: Path, mode: str = "wb", **kwargs: Any) -> IO[Any]:
    """`open()` for writing ("w", "wb", "a", "ab"), creating the file 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o077:  # an older file made before this rule
            os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def write_private(path: Path, data: bytes) -> None:
    """Write `data` whole to `path`, 0600."""
    with open_private(path, "wb") as f:
        f.write(data)


def write_private_atomic(path: Path, data: bytes) -> None:
    """Write to `<path>.part` (0600) and rename, so a reader never sees half of it."""
    part = path.with_name(path.name + ".part")
    write_private(part, data)
    os.replace(part, path)
