"""Safe output files: check a target before the work, write it atomically, never replace a special file.

`atomic_write` writes to a short-named temporary file beside the target and renames it over the target, so
a crash, a full disk or a signal leaves the old file whole and no temporary file behind. A symlink is
followed (its target is replaced, the link stays); an existing file keeps its permission bits, a new one
follows the umask; a device, FIFO, socket or directory is refused, never replaced, and so is a file the user
could not overwrite by hand (read-only to this process: the rename would replace it all the same). A failed
write (a full disk) raises the same kind of OSError, naming the file.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .data import DataError
from .process import deferred_signals

__all__ = ["atomic_write", "check_output_path", "file_kind", "same_file"]

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def file_kind(path: str | os.PathLike) -> str | None:
    """What `path` is when it exists but is not a regular file ("a FIFO (named pipe)" …), else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return next((name for test, name in _KINDS if test(mode)), None if stat.S_ISREG(mode) else "a special file")


def _target(path: str | os.PathLike, what: str) -> Path:
    """The file that writing `path` replaces: the end of its symlink chain, checked to be replaceable."""
    text = os.fspath(path)
    if not text or text.endswith(("/", os.sep)):  # Path() would quietly make "model.npz/" into "model.npz"
        raise DataError(f"cannot write {what} to {text!r}: {'an empty name' if not text else 'a directory name'}, "
                        f"not a file name")
    path, target = Path(path), Path(path)
    try:
        os.lstat(path)
    except FileNotFoundError:
        pass
    except OSError as exc:  # a name too long, a file inside a file (ENOTDIR) …
        raise DataError(f"cannot write {what} to {path}: {exc.strerror or exc}") from None
    if path.is_symlink():
        try:
            target = Path(os.path.realpath(path, strict=True))
        except FileNotFoundError:  # a dangling link: write the file it names
            target = Path(os.path.realpath(path))
        except OSError as exc:  # a loop of links
            raise DataError(f"cannot write {what} to {path}: {exc.strerror or exc}") from None
    kind = file_kind(target)
    if kind is not None:
        shown = path if target == path else f"{path} (a link to {target})"
        raise DataError(f"cannot write {what} to {shown}: it is {kind}, not a regular file; refusing to replace it")
    if target.exists() and not os.access(target, os.W_OK):  # rename needs only the directory's permission
        shown = path if target == path else f"{path} (a link to {target})"
        raise DataError(f"cannot write {what} to {shown}: the file is read-only (not writable by this user); "
                        f"refusing to replace it")
    if not target.parent.is_dir():
        raise DataError(f"cannot write {what} to {path}: {target.parent} " + (
            "is not a directory" if target.parent.exists() else "does not exist; create the directory first"))
    return target


def check_output_path(path: str | os.PathLike, what: str = "the output") -> None:
    """Fail now, with the reason, if `atomic_write(path, …)` would fail for want of a writable place.

    Creates and removes a temporary file beside the target, which also catches read-only file systems.
    """
    target = _target(path, what)
    with deferred_signals():  # the probe never survives a signal either
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tg-", dir=target.parent)
        except OSError as exc:
            raise DataError(f"cannot write {what} to {path}: {exc.strerror or exc} in {target.parent}") from None
        os.close(fd)
        os.unlink(tmp)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (after symlinks), whether or not it exists yet."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None], what: str = "the output") -> Path:
    """Call `write(f)` on a temporary file beside `path` and rename it over `path`; return the file written.

    Signals that would end the process (SIGINT, SIGTERM, SIGHUP) wait until the rename is done, so the
    temporary file never survives; any error removes it and leaves the old file as it was.
    """
    target = _target(path, what)
    try:
        old = os.stat(target)
        mode, owner = stat.S_IMODE(old.st_mode), (old.st_uid, old.st_gid)
    except FileNotFoundError:
        mode, owner = 0o666 & ~_umask(), None
    with deferred_signals():
        fd, tmp = tempfile.mkstemp(prefix=".tg-", suffix=".tmp", dir=target.parent)  # short: any name fits
        try:
            os.fchmod(fd, mode)  # mkstemp makes the file private; keep the old file's bits or follow the umask
            if owner is not None and owner != (os.getuid(), os.getgid()):
                with contextlib.suppress(OSError):  # only root may give a file away; others own the new copy
                    os.fchown(fd, *owner)
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.errno is not None:  # a full disk: say which file, same OSError type
                raise OSError(exc.errno, f"cannot write {what}: {exc.strerror}", os.fspath(path)) from None
            raise
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
