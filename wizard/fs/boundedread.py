"""Reading a file the user named (an answers file, a ``{file:}`` secret) without trusting what it is.

The wizard runs as root, so a path may name anything: ``/dev/zero`` (endless), a FIFO (blocks forever),
a directory, a 300 MB log. Only a regular file of bounded size is read, opened without blocking.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class UnreadableFile(ValueError):
    """The path is not something to read: one line saying why (no path in it; the caller names the field)."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: Path, limit: int) -> bytes:
    """The whole content of ``path``, a regular file of at most ``limit`` bytes.

    Raises UnreadableFile for anything else and OSError when it cannot be opened or read.
    """
    # O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever; it is refused below anyway.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(f"is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise UnreadableFile(f"is {info.st_size} bytes, more than the {limit} allowed")
        chunks: list[bytes] = []
        size = 0
        # Read one byte past the limit: a file that grows while being read is caught too.
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise UnreadableFile(f"is more than the {limit} bytes allowed")
        return b"".join(chunks)
    finally:
        os.close(fd)
