"""Files under a root directory, reached without ever following a symbolic link.

A link anywhere in a managed path (``R/etc/swanctl -> /elsewhere``, ``ca -> a 1777 directory``, a lock
file pointing at another file) would make a run as root write, chmod or read outside the root. So:

- ``Tree`` walks from the root with directory descriptors (``openat`` with ``O_NOFOLLOW``): everything
  apply writes, chmods, chowns, unlinks, backs up and locks goes through it;
- ``check_no_links`` is the cheap check ``Root`` makes for every other read (planner, doctor): a link
  below the root is refused with an error naming it.

The root path itself may be a link: ``Root.of`` resolves it once.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import re
import stat
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from wizard.problems import WizardError

TOP = PurePosixPath("/")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Directory descriptors kept open per tree: enough for an apply's working set, far below any fd limit.
_MAX_OPEN = 64
_STATE_DIR = PurePosixPath("/var/lib/swan-wizard")  # paths.WIZARD_STATE (paths imports this module)
# `write` names its temporary file so; a run killed mid-write leaves one, the next run removes it.
TEMP_RE = re.compile(r"^\.(?P<name>.+)\.swan-wizard-(?P<pid>\d+)\.tmp$")


class LinkRefused(WizardError):
    """A symbolic link (or a non-directory) where a managed path needs a real directory or file."""


def temp_name(name: str, pid: int | None = None) -> str:
    """The temporary name beside ``name`` of the process ``pid`` (this one by default)."""
    return f".{name}.swan-wizard-{os.getpid() if pid is None else pid}.tmp"


def is_private(mode: int) -> bool:
    """Private material (keys, secrets) and its directories: no access for group or others."""
    return mode & 0o077 == 0


def _refusal(root: Path, logical: PurePosixPath, target: str | None) -> LinkRefused:
    to = f" (to {target})" if target is not None else ""
    return LinkRefused(f"{logical} under {root} is a symbolic link{to}: swan-wizard does not follow links in the "
                       "paths it manages; replace it with the real directory or file")


def check_no_links(base: Path, logical: str, verified: set[str]) -> str:
    """Refuse a symbolic link at absolute ``logical`` or any directory above it (below ``base``);
    returns the real path as text.

    ``verified`` caches directories already found real (strings: this runs 100,000 times for a plan
    of 10,000 clients), so a lookup costs one lstat.
    """
    prefix = "" if str(base) == "/" else str(base)
    parent = logical.rpartition("/")[0]
    if parent and parent not in verified:
        check_no_links(base, parent, verified)
    real = prefix + logical
    if logical == "/":
        return real
    try:
        st = os.lstat(real)
    except OSError:
        return real  # missing (or under a missing or non-directory parent): nothing to follow
    if stat.S_ISLNK(st.st_mode):
        try:
            target: str | None = os.readlink(real)
        except OSError:
            target = None
        raise _refusal(base, PurePosixPath(logical), target)
    if stat.S_ISDIR(st.st_mode):
        verified.add(logical)
    return real


@dataclass(frozen=True)
class Found:
    content: bytes
    mode: int
    uid: int


def within(logical: PurePosixPath | str, folder: PurePosixPath | str) -> bool:
    """Whether ``logical`` is ``folder`` or below it, compared as text (``PurePosixPath.parents`` builds every
    parent: this runs for each of a hundred thousand paths)."""
    text, top = str(logical), str(folder)
    return text == top or text.startswith(top.rstrip("/") + "/")


def default_dir_mode(logical: PurePosixPath, state_dir: PurePosixPath) -> int:
    """Directories the wizard creates without a mode in the plan: its state is private, the rest 0755."""
    return 0o700 if within(logical, state_dir) else 0o755


@dataclass(frozen=True)
class Staged:
    """A file written to its temporary name, waiting to be renamed into place."""

    logical: PurePosixPath
    tmp: str
    no_replace: bool
    device: int


def _syncfs(fd: int) -> bool:
    """syncfs(2) on the filesystem holding ``fd``; False where the C library has no syncfs."""
    libc = _libc()
    if libc is None:
        return False
    if libc.syncfs(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return True


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syncfs.argtypes = [ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None


class Tree:
    """Directory descriptors under a root, each opened with O_NOFOLLOW from its parent's descriptor."""

    def __init__(self, base: Path, state_dir: PurePosixPath = _STATE_DIR) -> None:
        self.base = base
        self.state_dir = state_dir
        self._top = -1  # opened on first use: a root that does not exist yet reads as empty
        # Keyed by the path's text: a PurePosixPath hashes its parts anew at every lookup, and an apply of ten
        # thousand clients looks up half a million times.
        self._fds: OrderedDict[str, int] = OrderedDict()
        self._ensured: set[PurePosixPath] = set()  # named directories whose mode and owner are set already
        self._dirty: set[str] = set()  # directories (their text) with renames or removals not yet fsynced

    def __enter__(self) -> Tree:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._top >= 0:
            os.close(self._top)
            self._top = -1

    # ------------------------------------------------------------------------------------ directories

    def _refuse(self, logical: PurePosixPath, parent_fd: int) -> LinkRefused:
        try:
            st = os.lstat(logical.name, dir_fd=parent_fd)
        except OSError:
            return LinkRefused(f"{logical} under {self.base} cannot be opened")
        if stat.S_ISLNK(st.st_mode):
            try:
                target: str | None = os.readlink(logical.name, dir_fd=parent_fd)
            except OSError:
                target = None
            return _refusal(self.base, logical, target)
        return LinkRefused(f"{logical} under {self.base} is not a directory")

    def _remember(self, logical: PurePosixPath, fd: int) -> None:
        self._fds[str(logical)] = fd
        while len(self._fds) > _MAX_OPEN:
            _, old = self._fds.popitem(last=False)
            os.close(old)

    def dir(self, logical: PurePosixPath, modes: Mapping[PurePosixPath, int] | None = None,
            create: bool = False) -> int | None:
        """The descriptor of directory ``logical`` (None when missing and not ``create``).

        Created directories get ``modes[d]`` (or the default) whatever the umask; private ones are
        owned by the running user (root). Valid until the next call on this tree.
        """
        key = str(logical)
        fd = self._fds.get(key)  # first: the hit of nearly every call (TOP is never cached here)
        if fd is not None:
            self._fds.move_to_end(key)
            return fd
        if logical == TOP:
            if self._top < 0:
                if create:
                    os.makedirs(self.base, 0o755, exist_ok=True)  # the root itself: --root DIR may not exist yet
                try:
                    self._top = os.open(self.base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                except FileNotFoundError:
                    return None
            return self._top
        parent_fd = self.dir(logical.parent, modes, create)
        if parent_fd is None:
            return None
        name = logical.name
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                return None
            mode = (modes or {}).get(logical, default_dir_mode(logical, self.state_dir))
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, mode, dir_fd=parent_fd)
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise self._refuse(logical, parent_fd) from None
                raise
            set_mode(fd, mode)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self._refuse(logical, parent_fd) from None
            raise
        self._remember(logical, fd)
        return fd

    def ensure_dir(self, logical: PurePosixPath, modes: Mapping[PurePosixPath, int]) -> int:
        """Create ``logical`` and its parents; a directory the plan names gets its mode (and owner)."""
        fd = self.dir(logical, modes, create=True)
        assert fd is not None
        if logical in modes and logical not in self._ensured:
            set_mode(fd, modes[logical])
            self._ensured.add(logical)
        return fd

    # ------------------------------------------------------------------------------------------ files

    def _open_file(self, logical: PurePosixPath, flags: int) -> int | None:
        dir_fd = self.dir(logical.parent)
        if dir_fd is None:
            return None
        try:
            return os.open(logical.name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._refuse(logical, dir_fd) from None
            if exc.errno in (errno.EISDIR, errno.ENXIO):
                return None
            raise

    def read(self, logical: PurePosixPath) -> Found | None:
        """A regular file's content, mode and owner; None when it is missing or not a regular file."""
        fd = self._open_file(logical, os.O_RDONLY)
        if fd is None:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return Found(b"".join(chunks), stat.S_IMODE(st.st_mode), st.st_uid)
        finally:
            os.close(fd)

    def write(self, logical: PurePosixPath, content: bytes, mode: int,
              modes: Mapping[PurePosixPath, int] | None = None, no_replace: bool = False) -> None:
        """Write through a temporary file in the same directory, fsynced, renamed over the old one.

        The rename replaces a link at the target instead of following it. ``no_replace``: fail if a
        file appeared at the target meanwhile (a key is never put over another one).
        """
        self.publish(self.stage(logical, content, mode, modes, no_replace, durable=True))

    def stage(self, logical: PurePosixPath, content: bytes, mode: int,
              modes: Mapping[PurePosixPath, int] | None = None, no_replace: bool = False, durable: bool = False
              ) -> Staged:
        """The first half of a write: the content in a temporary file beside ``logical``, with its mode; durable
        at once with ``durable``, else ``flush`` makes many at a time. ``publish`` renames each into place."""
        dir_fd = self.dir(logical.parent, modes, create=True)
        assert dir_fd is not None
        tmp = temp_name(logical.name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
        try:
            set_mode(fd, mode)  # the mode asked, whatever the umask
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
            device = os.fstat(fd).st_dev
        except BaseException:
            os.close(fd)
            os.unlink(tmp, dir_fd=dir_fd)
            raise
        os.close(fd)
        return Staged(logical, tmp, no_replace, device)

    def flush(self, staged: list[Staged]) -> None:
        """Make the content of every staged file durable: one syncfs per filesystem they are on, where the
        system has it (a fsync per file costs a quarter of a millisecond or more each), else a fsync each."""
        devices: dict[int, PurePosixPath] = {}
        for s in staged:
            devices.setdefault(s.device, s.logical.parent)
        for directory in devices.values():
            fd = self.dir(directory)
            if fd is None or not _syncfs(fd):
                break
        else:
            return
        for s in staged:
            dir_fd = self.dir(s.logical.parent)
            assert dir_fd is not None
            fd = os.open(s.tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def publish(self, staged: Staged) -> None:
        """The second half of a write: the temporary file renamed over ``logical`` (or, ``no_replace``,
        linked to it only if nothing is there)."""
        logical, tmp = staged.logical, staged.tmp
        parent = logical.parent
        dir_fd = self.dir(parent)
        assert dir_fd is not None
        try:
            if staged.no_replace:
                os.link(tmp, logical.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                os.unlink(tmp, dir_fd=dir_fd)
            else:
                os.replace(tmp, logical.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            self._dirty.add(str(parent))
        except FileExistsError:
            os.unlink(tmp, dir_fd=dir_fd)
            raise WizardError(f"{logical} appeared under {self.base} while this run was writing; nothing was "
                              "put over it (run apply again to see the new plan)") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise

    def discard(self, staged: Staged) -> None:
        """Remove a staged file that will not be published (a failure before its turn)."""
        dir_fd = self.dir(staged.logical.parent)
        if dir_fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staged.tmp, dir_fd=dir_fd)

    def fix_mode(self, logical: PurePosixPath, mode: int) -> None:
        """chmod (and chown, for private material) an existing file, without following a link."""
        fd = self._open_file(logical, os.O_RDONLY)
        if fd is None:
            raise WizardError(f"{logical} disappeared under {self.base} before its mode could be set")
        try:
            set_mode(fd, mode)
        finally:
            os.close(fd)

    def unlink(self, logical: PurePosixPath) -> None:
        dir_fd = self.dir(logical.parent)
        if dir_fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(logical.name, dir_fd=dir_fd)
            self._dirty.add(str(logical.parent))

    def rmdir(self, logical: PurePosixPath) -> bool:
        """Remove directory ``logical`` if it is empty (a link in its place is not followed nor removed);
        False when it is not empty or not a directory. Missing counts as removed."""
        dir_fd = self.dir(logical.parent)
        if dir_fd is None:
            return True
        try:
            os.rmdir(logical.name, dir_fd=dir_fd)
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                return False
            raise
        for cached in [p for p in self._fds if within(p, logical)]:
            os.close(self._fds.pop(cached))
        self._ensured.discard(logical)
        self._dirty.add(str(logical.parent))
        return True

    def sync(self) -> None:
        """Make every rename and removal so far durable: one fsync per directory touched."""
        for text in sorted(self._dirty):
            fd = self.dir(PurePosixPath(text))
            if fd is not None:
                os.fsync(fd)
        self._dirty.clear()

    # ------------------------------------------------------------------------------ dead runs' leftovers

    def remove_dead_temp_files(self, folders: list[PurePosixPath], recursive: list[PurePosixPath]) -> list[str]:
        """Remove ``.NAME.swan-wizard-PID.tmp`` files of runs no longer alive; returns their logical paths."""
        removed: list[str] = []
        for folder, deep in [(f, False) for f in folders] + [(f, True) for f in recursive]:
            fd = self.dir(folder)
            if fd is None:
                continue
            for rel, dir_fd, names in _walk(os.dup(fd), deep):
                for name in names:
                    match = TEMP_RE.match(name)
                    if match and not pid_alive(int(match["pid"])):
                        try:
                            os.unlink(name, dir_fd=dir_fd)
                        except OSError:
                            continue
                        removed.append(str(folder.joinpath(*rel, name)))
        return removed


def _walk(fd: int, deep: bool, rel: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], int, list[str]]]:
    """Regular files per directory, descending (when ``deep``) without following links; closes ``fd``."""
    try:
        files, subdirs = [], []
        with os.scandir(fd) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    files.append(entry.name)
                elif deep and entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.name)
        yield rel, fd, files
        for sub in subdirs:
            try:
                child = os.open(sub, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                continue
            yield from _walk(child, deep, (*rel, sub))
    finally:
        os.close(fd)


def write_all(fd: int, content: bytes) -> None:
    """Write every byte (os.write may write fewer) and make them durable."""
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs. A zombie (dead, its exit not yet collected: a killed run's forked
    child until init reaps it) is not: it holds no file and writes nothing again."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[:1]  # after the command name, which may hold spaces
    except OSError:
        return True  # no /proc: as the signal said
    return state not in ([b"Z"], [b"X"])


def set_mode(fd: int, mode: int) -> None:
    """fchmod, and for private material fchown to the running user (root): a key owned by `nobody`
    is readable by `nobody` whatever its mode."""
    os.fchmod(fd, mode)
    if is_private(mode):
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            os.fchown(fd, os.geteuid(), os.getegid())
