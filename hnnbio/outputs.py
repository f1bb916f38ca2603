"""Output files and folders: checked before any work, written atomically, nothing left behind.

Every command that writes results goes through this module (``bind``, ``run``, ``analyze``,
``sweep``, ``train``, ``column``, ``export``):

- :class:`OutputFolder` claims a result folder *before* the work starts: it checks the folder (new,
  empty, or replaced with ``overwrite``), removes the temporary folders that dead processes left
  beside it (:func:`remove_stale`) and makes a hidden temporary folder there
  (``.hnnbio-<kind>-<host>-<pid>-<random>``, on the same file system, so making it is the check that
  the place is writable: ``/proc/x`` or ``a_file/sub`` fail at once). The work writes into
  :attr:`OutputFolder.path`; :meth:`OutputFolder.commit` moves the files into place (one rename of
  the whole folder when the target is new or empty); closing removes the temporary folder whatever
  happened, so an error, Ctrl+C or SIGTERM (the CLI raises it as an exception) leaves nothing. A
  SIGKILL leaves the temporary folder, and the next claim there removes it.
- :func:`check_file` and :func:`atomic_file` do the same for one file; :func:`write_text` writes
  a text file through a temporary name and a rename.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

from hnnbio.errors import DataError

PREFIX = ".hnnbio-"
_TMP_NAME = re.compile(r"^\.hnnbio-[a-z]+-([A-Za-z0-9]*)-(\d+)-")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16]


def _strerror(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except (OverflowError, OSError):
        return False
    return True


def remove_stale(folder) -> list[Path]:
    """Remove the temporary folders (``.hnnbio-<kind>-<host>-<pid>-*``) that processes of this host
    which no longer run left in ``folder``; returns them. Those of live processes or of other hosts
    (a shared file system) are kept."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    host = _host()
    for entry in entries:
        match = _TMP_NAME.match(entry.name)
        if match and match.group(1) == host and entry.is_dir() and not entry.is_symlink() \
                and not pid_alive(int(match.group(2))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def existing_base(path: Path) -> Path:
    """The nearest existing folder above ``path`` (where the missing folders will be made)."""
    base = path.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    return base


def check_folder(out, overwrite: bool | None = False, what: str = "out") -> Path:
    """``out`` can hold a new result: a folder that does not exist yet, is empty, or (with
    ``overwrite``) is replaced; its nearest existing parent is a folder. ``overwrite=None``: the
    caller has no such option (the message does not offer it)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{what}: {out} exists and is not a folder")
    if out.is_dir() and not overwrite:
        try:
            entries = sorted(p.name for p in out.iterdir())
        except OSError as exc:
            raise DataError(f"{what}: cannot read {out} ({_strerror(exc)})") from None
        if entries:
            more = f" and {len(entries) - 1} more" if len(entries) > 1 else ""
            offer = "" if overwrite is None else \
                " or pass --overwrite (overwrite=True) to replace its result"
            raise DataError(f"{what}: {out} is not empty (it holds {entries[0]}{more}); choose a "
                            f"new folder{offer}")
    base = existing_base(out)
    if not base.is_dir():
        raise DataError(f"{what}: {base} is not a folder")
    return out


class OutputFolder:
    """A result folder claimed before the work; see the module's docstring.

    Parameters
    ----------
    out : str or Path
        The result folder.
    overwrite : bool or None
        Replace the result in an existing non-empty folder: the files written replace those of the
        same name, the files of ``owned`` not written again are removed, other files are kept.
        None: refused, and the caller has no such option (the message does not offer it).
    what : str
        Name of the argument in messages (``out``, ``--out``).
    kind : str
        Lower-case word in the temporary folder's name (``bind``, ``report``...).
    owned : sequence of str
        Names of the files (and folders) a result consists of (removed on ``overwrite`` when not
        rewritten; an owned folder is replaced whole).
    """

    def __init__(self, out, overwrite: bool = False, what: str = "out", kind: str = "out",
                 owned=()):
        if not re.fullmatch(r"[a-z]+", kind):
            raise ValueError(f"kind must be lower-case letters, got {kind!r}")
        self.out = check_folder(out, overwrite, what)
        self.overwrite = bool(overwrite)
        self.what = what
        self.owned = tuple(owned)
        base = existing_base(self.out)
        remove_stale(base)
        try:
            self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-{_host()}-{os.getpid()}-",
                                              dir=base))
        except OSError as exc:
            raise DataError(f"{what}: cannot write into {base} ({_strerror(exc)})") from None
        self.written: list[Path] = []

    def commit(self) -> list[Path]:
        """Move the files written into :attr:`path` to the result folder; returns their paths."""
        names = sorted(p.name for p in self.path.iterdir())
        out = self.out
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            empty = out.is_dir() and not any(out.iterdir())
            if not out.is_symlink() and (not out.exists() or empty):
                os.chmod(self.path, 0o777 & ~_umask())
                os.replace(self.path, out)  # one step: the folder appears with every file in it
            elif not self.overwrite and not empty:
                raise DataError(f"{self.what}: {out} was filled by someone else during the run; "
                                "nothing written")
            else:
                for name in self.owned:
                    if name not in names and (out / name).is_file():
                        (out / name).unlink()
                    elif name not in names and (out / name).is_dir():
                        shutil.rmtree(out / name)
                for name in names:
                    target = out / name
                    if target.is_dir() and not (self.path / name).is_dir():
                        raise DataError(f"{self.what}: {target} is a folder; cannot replace it")
                    if target.is_dir() and name in self.owned:  # an owned folder: replaced whole
                        shutil.rmtree(target)
                    os.replace(self.path / name, target)
        except OSError as exc:
            raise DataError(f"{self.what}: cannot write {out} ({_strerror(exc)})") from None
        self.written = [out / name for name in names]
        return self.written

    def close(self) -> None:
        """Remove the temporary folder (and anything left in it)."""
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_file(path, overwrite: bool = False, what: str = "out", parents: bool = True) -> Path:
    """Check before the work that the file ``path`` can be written: not a folder, not an existing
    file unless ``overwrite``, in a writable folder (its nearest existing parent when
    ``parents``, the writer making the missing ones; else its parent itself)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{what}: {path} is a folder; give a file name, e.g. {path / 'name'}")
    if path.exists() and not overwrite:
        raise DataError(f"{what}: {path} exists; pass --overwrite (overwrite=True) to replace it")
    if not parents and not path.parent.is_dir():
        raise DataError(f"{what}: {path.parent} is not a folder; make it first")
    base = existing_base(path)
    if not base.is_dir():
        raise DataError(f"{what}: {base} is not a folder")
    try:
        tempfile.TemporaryFile(dir=base, prefix=f"{PREFIX}check-").close()
    except OSError as exc:
        raise DataError(f"{what}: cannot write into {base} ({_strerror(exc)})") from None
    return path


@contextlib.contextmanager
def atomic_file(path, what: str = "out", suffix: str = ""):
    """Yield a temporary path beside ``path`` to write the file into; on success it is renamed to
    ``path`` (missing folders made), on any error it is removed and ``path`` is as it was."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=suffix or path.suffix,
                                   dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise DataError(f"{what}: cannot write {path} ({_strerror(exc)})") from None
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(f"{what}: cannot write {path} ({_strerror(exc)})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_text(path, text: str, what: str = "out") -> Path:
    """Write a text file atomically (temporary name, then rename)."""
    with atomic_file(path, what) as tmp:
        tmp.write_text(text)
    return Path(path)
