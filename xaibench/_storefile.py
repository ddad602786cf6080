"""The file of a run's store (``results.sqlite``), beside the SQL (``xaibench.store``): the lock
that keeps one writer per run directory, and how a reader opens the store without creating any
file beside it."""

from __future__ import annotations

import os
from pathlib import Path


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def store_files(path: str | Path) -> list[Path]:
    """Every file a store at ``path`` consists of while it is open: the database, SQLite's
    write-ahead log and shared memory, and the lock file of its run directory."""
    path = Path(path)
    wal, shm = (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))
    return [path, wal, shm, _lock_path(path)]


def writer_lock(path: Path):
    """An exclusive lock on ``path``'s run directory for one writing process (the open lock file,
    released when closed or when the process dies); ValueError when another process holds it."""
    import fcntl

    try:
        handle = open(_lock_path(path), "a+")  # noqa: SIM115 - held open
    except OSError as err:
        raise ValueError(f"cannot write to {path.parent}: {err.strerror or err}") from err
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ValueError(
            f"another xaibench run is writing to {path.parent} (or a report is reading its "
            "store): wait for it to finish, or use another --out"
        ) from None
    return handle


def reader_lock(path: Path):
    """A shared lock on ``path``'s run directory (the lock file opened read-only: nothing is
    created), which keeps a writer from starting while it is held; None when there is no lock
    file (no writer ever ran here) or a writer holds it."""
    import fcntl

    try:
        handle = open(_lock_path(path))  # noqa: SIM115 - held open
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _wal_header(path: Path) -> bool:
    """Whether the SQLite file at ``path`` is in WAL mode (bytes 18-19 of its header are 2)."""
    with open(path, "rb") as f:
        header = f.read(20)
    return header[18:20] == b"\x02\x02"


def reading_uri(path: Path) -> tuple[str, object]:
    """The URI that opens the store at ``path`` to read it without creating any file beside
    it, and the lock to hold while reading through it (None: none is needed).

    A store a writer closed is a rollback-journal file (``xaibench.store.Store.close``):
    ``mode=ro`` reads it and creates nothing, while a writer may start and commit (SQLite's
    locks keep every read whole). A store in WAL mode with its ``-wal`` and ``-shm`` files (a
    writer at work, or killed) is read through them, also with ``mode=ro``. A store in WAL mode
    without them (closed by an earlier xaibench) holds everything in its file, but ``mode=ro``
    would create both files to read it: it is opened ``immutable=1`` instead, which is safe only
    while no writer can start: the run directory's shared lock is held (``reader_lock``) or
    nobody can write in its folder (a read-only file system or folder). Else (no lock file, a
    writable folder) ``mode=ro`` it is, and SQLite's -wal and -shm files are left beside it."""
    uri = path.resolve().as_uri()
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    index = wal.is_file() and (shm.is_file() or wal.stat().st_size > 0)
    if _wal_header(path) and not index:
        lock = reader_lock(path)
        if lock is not None or not os.access(path.parent, os.W_OK):
            return f"{uri}?immutable=1", lock
    return f"{uri}?mode=ro", None
