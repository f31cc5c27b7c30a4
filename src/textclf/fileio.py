"""Safe outputs: atomic writes, one writer per output, no silent replacement, the umask honoured.

* `atomic_file` / `write_json` / `atomic_directory` write under a unique temporary name beside the
  target and rename it into place only when the block succeeds, so a reader never sees a
  half-written file or model directory. The result gets the mode an ordinary `open` would give
  (0644 files and 0755 directories under umask 022), not mkstemp's private 0600 / 0700.
* `output_lock(path)` is an advisory lock (flock on a sidecar `.NAME.lock` beside the output): a
  second textclf process writing the same output fails at once with one line.
* `check_output` refuses to replace a finished output unless asked to; `check_writable` finds an
  output that cannot be written before any work starts.
* Operating-system failures on an output (read-only directory, disk full, a directory where a file
  should be) become a `DataError` naming the path: one line on the CLI, exit code 2.
* A file rewritten in place keeps its mode (a policy.json made group-writable stays so); a new
  one gets the umask's. `atomic_file_set` writes several files as a set: all appear, or none.
* `remove_stale_staging` removes the temporary names a killed writer left beside an output.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import DataError

_UMASK_LOCK = threading.Lock()
# errno values of a write that failed because of the disk, not because of the code writing
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}


# -- modes ---------------------------------------------------------------------------------------
def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux: /proc)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _UMASK_LOCK:  # elsewhere: set and restore (process-wide, so briefly racy across threads)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode `open(path, "w")` would give a new file: 0o666 less the umask."""
    return 0o666 & ~current_umask()


def directory_mode() -> int:
    """The mode `mkdir` would give a new directory: 0o777 less the umask."""
    return 0o777 & ~current_umask()


def kept_mode(path: str | os.PathLike) -> int:
    """The mode a rewrite of `path` should have: its current mode when it exists (a rewrite is not a
    new file, so a chmod the user made stays), else the umask's `file_mode()`."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return file_mode()


# -- errors --------------------------------------------------------------------------------------
def os_error(path: str | os.PathLike, err: OSError, action: str = "write") -> DataError:
    """A one-line DataError for an OSError on `path` (the reason, without a traceback)."""
    reason = err.strerror or type(err).__name__
    if isinstance(err, IsADirectoryError):
        return DataError(f"{path}: is a directory; give a file name")
    return DataError(f"{path}: cannot {action} ({reason})")


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_run_directory(run_dir: Path, overwrite: bool, flags: tuple[str, str]) -> None:
    """A run directory holding anything is an existing run: refused unless `overwrite`. `flags`:
    how the caller spells overwrite and resume (`--overwrite`, or Python's `overwrite=True`)."""
    check_writable(run_dir, directory=True)
    if run_dir.is_dir() and any(run_dir.iterdir()) and not overwrite:
        raise DataError(f"{run_dir} exists; pass {flags[0]} to replace its model, or {flags[1]} to continue its run")


def check_writable(path: str | os.PathLike, directory: bool = False) -> Path:
    """Check, before any work, that `path` can be written: it is not a directory (or, with
    `directory`, not a file), and its parent exists or can be created, in a writable place.
    Creates nothing; raises a one-line DataError naming the path."""
    path = Path(path)
    if path.is_dir() and not directory:
        raise DataError(f"{path}: is a directory; give a file name")
    if path.exists() and not path.is_dir() and directory:
        raise DataError(f"{path}: exists and is not a directory")
    ancestor = _nearest_existing(path.parent if str(path.parent) else Path("."))
    if not ancestor.is_dir():
        raise DataError(f"{path}: cannot create it, {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise DataError(f"{path}: cannot write in {ancestor} (permission denied or read-only)")
    return path


def check_output(path: str | os.PathLike, overwrite: bool = False, directory: bool = False) -> Path:
    """`check_writable`, and refuse to replace a finished output unless `overwrite`."""
    path = check_writable(path, directory=directory)
    if path.exists() and not overwrite:
        raise DataError(f"{path} exists; pass --overwrite to replace it")
    return path


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataError(f"{path}: cannot create it, {path.parent} is not a directory") from None
    except OSError as err:
        raise os_error(path.parent, err, "create directory") from None


# -- the lock ------------------------------------------------------------------------------------
def lock_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an advisory lock on the output `path` (a file or a run directory) for the block.

    The lock is `flock` on a sidecar `.NAME.lock` beside `path`, removed again on release. Another
    holder, in this process or another, makes it raise at once: DataError "PATH: another textclf
    process is writing this output". The lock dies with its process, so a crash never leaves a
    stale lock behind (the sidecar file may stay; it is ignored until someone holds it).

    Kept rather than `filelock.FileLock`: that one leaves its lock file behind after every release
    (tested with filelock 4.2), and a user's output folder should not collect `.lock` files."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): outputs are still atomic, just not exclusive
        yield Path(path)
        return
    path = Path(path)
    _make_parent(path)
    sidecar = lock_path(path)
    while True:
        try:
            fd = os.open(sidecar, os.O_RDWR | os.O_CREAT, file_mode())
        except OSError as err:
            raise os_error(path, err, "lock the output") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DataError(f"{path}: another textclf process is writing this output") from None
            raise os_error(path, err, "lock the output") from None
        # The holder before us may have removed the file after we opened it: then we hold a lock
        # on a name nobody else can see, so try again on the current file.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(sidecar))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(sidecar)  # still holding the lock: nobody can be between open and flock on it
        os.close(fd)


# -- atomic writes -------------------------------------------------------------------------------
def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", *, overwrite: bool = True, lock: bool = False,
                **open_kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside `path`; it replaces `path` only if the block succeeds.

    `overwrite=False` refuses (DataError) when `path` already exists; `lock=True` holds
    `output_lock(path)` for the block. The file gets the umask's mode, like a plain `open`."""
    path = Path(path)
    with output_lock(path) if lock else contextlib.nullcontext():
        check_output(path, overwrite=overwrite)
        _make_parent(path)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        except OSError as err:
            raise os_error(path, err) from None
        try:
            os.fchmod(fd, kept_mode(path))
        finally:
            os.close(fd)
        if "b" not in mode:
            open_kwargs.setdefault("encoding", "utf-8")
        try:
            try:
                with open(tmp, mode, **open_kwargs) as handle:
                    yield handle
                    handle.flush()
                    os.fsync(handle.fileno())
                if overwrite:
                    os.replace(tmp, path)
                else:  # a link never replaces: someone who finished first keeps their file
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        raise DataError(f"{path} exists; pass --overwrite to replace it") from None
                    os.unlink(tmp)
            except OSError as err:
                if err.errno in DISK_ERRORS or isinstance(err, IsADirectoryError) or err.filename in (tmp, str(path)):
                    raise os_error(path, err) from None
                raise
            _fsync_directory(path.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def write_json(path: str | os.PathLike, obj: Any, *, overwrite: bool = True, lock: bool = False) -> None:
    with atomic_file(path, overwrite=overwrite, lock=lock) as handle:
        json.dump(obj, handle, indent=2, ensure_ascii=False, default=jsonable)
        handle.write("\n")


def jsonable(value: Any) -> Any:
    """json's `default=` for numpy values and paths, the types textclf's records hold."""
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _apply_umask(root: Path) -> None:
    """Give everything under `root` the umask's modes: some writers (safetensors) create 0600 files
    whatever the umask. Executable files keep their execute bits (less the umask)."""
    files, directories = file_mode(), directory_mode()
    for entry in root.rglob("*"):
        if entry.is_symlink():
            continue
        try:
            if entry.is_dir():
                os.chmod(entry, directories)
            else:
                executable = os.stat(entry).st_mode & 0o100
                os.chmod(entry, files | (directories & 0o111 if executable else 0))
        except OSError as err:
            raise os_error(entry, err, "set the mode of") from None


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, *, overwrite: bool = True, lock: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces `path` (and whatever it held) on success.

    `overwrite=False` refuses (DataError) when `path` already exists; `lock=True` holds
    `output_lock(path)` for the block. A `path` that is a file is never replaced by a directory.
    The directory gets the umask's mode (0755 under umask 022), like a plain `mkdir`."""
    path = Path(path)
    with output_lock(path) if lock else contextlib.nullcontext():
        check_output(path, overwrite=overwrite, directory=True)
        _make_parent(path)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
            os.chmod(tmp, directory_mode())
        except OSError as err:
            raise os_error(path, err, "create directory") from None
        try:
            yield tmp
            _apply_umask(tmp)
            try:
                if path.exists() and not overwrite:  # someone finished first while we worked
                    raise DataError(f"{path} exists; pass --overwrite to replace it")
                if path.exists():
                    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
                    os.replace(path, old / path.name)
                    os.replace(tmp, path)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(tmp, path)
            except OSError as err:
                raise os_error(path, err, "replace directory") from None
            _fsync_directory(path.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


# -- several files as one output ----------------------------------------------------------------
STAGING_PREFIX = ".textclf-staging-"  # temporary directories of atomic_file_set, inside the output


@contextlib.contextmanager
def atomic_file_set(directory: str | os.PathLike, names: list[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging directory inside `directory`; write the files `names` there. When the block
    succeeds they are renamed into `directory` together; when it (or a rename) fails, the new files
    are removed and any file they were replacing is put back, so `directory` holds all of the new
    files or none. Without `overwrite`, an existing file of the set is refused before any work."""
    directory = Path(directory)
    check_writable(directory, directory=True)
    for name in names:
        check_output(directory / name, overwrite=overwrite)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory))
    except OSError as err:
        raise os_error(directory, err, "create directory") from None
    try:
        yield staging
        _commit_set(directory, staging, [n for n in names if (staging / n).exists()], overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _commit_set(directory: Path, staging: Path, names: list[str], overwrite: bool) -> None:
    backups: dict[str, Path] = {}
    moved: list[str] = []
    try:
        for name in names:
            target = directory / name
            if target.exists() and not overwrite:
                raise DataError(f"{target} exists; pass --overwrite to replace it")
            if target.exists():
                backups[name] = staging / f"{name}.old"
                os.link(target, backups[name])  # the old file stays reachable until all are in place
            os.chmod(staging / name, kept_mode(target))
            os.replace(staging / name, target)
            moved.append(name)
    except BaseException as err:
        for name in moved:  # undo: the set is all or nothing
            with contextlib.suppress(OSError):
                if name in backups:
                    os.replace(backups[name], directory / name)
                else:
                    os.unlink(directory / name)
        if isinstance(err, OSError):
            raise os_error(directory, err) from None
        raise
    _fsync_directory(directory)


def remove_stale_staging(path: str | os.PathLike, patterns: tuple[str, ...] = (".{name}.*.tmp", ".{name}.*.old")) -> int:
    """Remove the temporary files and directories an interrupted writer of `path` left beside it
    (`atomic_file`/`atomic_directory` names, plus `patterns`); call it while holding
    `output_lock(path)`, so that no live writer's staging is touched. Returns how many were removed."""
    path = Path(path)
    removed = 0
    for pattern in patterns:
        for entry in path.parent.glob(pattern.format(name=path.name)):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
            removed += 1
    return removed
