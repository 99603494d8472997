"""`refresh --full`: a new lake and identity store rebuilt from the raw archive, beside the ones
in use, and swapped in only once the whole refresh has passed its quality gate.

Until then the lake and identity store in use are never touched (the run's record in their
`ops.refresh_runs` aside), so a failed, interrupted or killed `--full` leaves them exactly as
they were. The swap is two renames; a marker file written just before them turns them into one
commit: whatever a crash leaves behind, the next refresh first finishes the swap (marker
present) or throws the half-built stores away (no marker).

`toning rotate-key` is such a rebuild under a new key, made in the rebuild folder beside the
stores and swapped in after them, in the same commit: the lake in use is always keyed with the
key file in use.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from ingest import lake
from ingest.landing import LandingFile, archive_path
from ingest.paths import IngestPaths
from ingest.pseudonymise import create_key_file
from toning import permissions
from toning.config import DataDir

COMMITTED = "COMMITTED"
# History, not data the archive can give back: carried into the new lake.
CARRIED_OPS_TABLES = ("refresh_runs", "dq_results", "dq_open_fatals")


def recover(data: DataDir) -> str | None:
    """Finish or discard the rebuild a crashed run left behind; say which, or None."""
    folder = data.rebuild_dir
    if not folder.exists():
        return None
    if (folder / COMMITTED).exists():
        _swap_in(data)
        done = "finished swapping in the lake and identity store rebuilt by an interrupted --full"
    else:
        done = "discarded the half-built lake of an interrupted --full (the lake in use is intact)"
    shutil.rmtree(folder)
    return done


def archived_files(data: DataDir, records: Path) -> tuple[list[LandingFile], list[str]]:
    """Every file the lake in use received, as archived, in the order it first arrived, under its
    landing name; and the landing names of those missing from the archive. `records` is the
    lake in use, or, when it cannot be read, the published warehouse (it holds a copy of the
    lake's `ops` tables as of its publish)."""
    with lake.connect(records, read_only=records != data.lake) as con:
        received = con.execute(
            "select path, feed, sha256 from ops.ingest_files"
            # Re-deliveries and ignored files (links, files outside the feeds) have no copy.
            " where status not in ('duplicate_file', 'ignored') order by loaded_at, path"
        ).fetchall()
    files, missing = [], []
    for relpath, feed, sha256 in received:
        archived = archive_path(data.archive, sha256, relpath)
        if not archived.is_file():
            missing.append(relpath)
            continue
        stat = archived.stat()
        files.append(LandingFile(archived, relpath, feed, stat.st_size, stat.st_mtime_ns))
    return files, missing


def prepare(data: DataDir, history: Path, new_key: bool = False) -> IngestPaths:
    """Empty stores in the rebuild folder, holding the run history of `history` (the lake in
    use, or the published warehouse when that lake cannot be read), and with `new_key` a new
    key beside them to key them with; the paths the ingest, dbt and the quality gate of this run
    then use."""
    folder = data.rebuild_dir
    shutil.rmtree(folder, ignore_errors=True)
    permissions.create_private_folder(folder)
    paths = data.ingest_paths(stores=folder)
    if new_key:
        paths = replace(paths, key_file=folder / data.key_file.name)
        create_key_file(paths.key_file)
    with lake.connect(paths.lake) as con:
        lake.create_lake(con)
        lake.attach(con, history, "previous")
        for table in CARRIED_OPS_TABLES:
            con.execute(f"insert into ops.{table} by name select * from previous.ops.{table}")
    with lake.connect(paths.identity) as con:
        lake.create_identity_store(con)
    permissions.make_private(data)  # before a record reaches them
    return paths


def commit(data: DataDir, keep_in_use_as: Path | None = None) -> None:
    """Swap the rebuilt stores in. Call with every connection to them closed. `keep_in_use_as`
    keeps the lake being replaced under that name (a damaged lake, for a post-mortem)."""
    folder = data.rebuild_dir
    if keep_in_use_as is not None:
        _keep_a_copy(data.lake, keep_in_use_as)
    marker = folder / COMMITTED
    with open(marker, "w") as handle:
        handle.write("swap the lake, identity store (and new key) in this folder into state/\n")
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(folder)  # the marker must be on disk before the first rename
    _swap_in(data)
    shutil.rmtree(folder)


def discard(data: DataDir) -> None:
    """Throw away a rebuild that has not been committed (a committed one is finished instead,
    by `recover`, at the next start)."""
    if not (data.rebuild_dir / COMMITTED).exists():
        shutil.rmtree(data.rebuild_dir, ignore_errors=True)


def _swap_in(data: DataDir) -> None:
    """Rename each rebuilt store, then a new key, over the one in use; safe to repeat after a
    crash."""
    for in_use in (data.identity, data.lake):
        rebuilt = data.rebuild_dir / in_use.name
        if rebuilt.exists():
            # A log left by a killed writer of the replaced file would be replayed onto the new one.
            in_use.with_name(in_use.name + ".wal").unlink(missing_ok=True)
            os.replace(rebuilt, in_use)
    new_key = data.rebuild_dir / data.key_file.name
    if new_key.exists():
        os.replace(new_key, data.key_file)  # the old key is gone from the data folder
    _fsync_dir(data.state)


def _keep_a_copy(in_use: Path, name: Path) -> None:
    """A second name for the file (and its log), so the swap leaves it in place under `name`.
    A link, not a rename: a crash before the swap must still find the lake where it was."""
    for source, target in ((in_use, name), (_wal(in_use), _wal(name))):
        if not source.exists():
            continue
        try:
            os.link(source, target)
        except OSError:  # a file system without hard links
            shutil.copyfile(source, target)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
