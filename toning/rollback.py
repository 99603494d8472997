"""`toning rollback`: put a kept version back as the published warehouse.

It runs under the refresh lock (never beside a refresh), keeps the warehouse it replaces (so a
rollback can itself be undone with `--to`), copies the kept file beside the published one and
renames it over it: readers see the old or the restored file, never a missing or partial one,
and the kept copy stays. The rollback is a row of `ops.refresh_runs` (status `rolled_back`,
`rolled_back_to` naming the version) and of refresh_history.json. The next refresh publishes
a warehouse built from the lake again, as usual.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest import lake
from toning import versions
from toning.config import DataDir
from toning.refresh import (
    Progress,
    RefreshError,
    new_run_id,
    refresh_lock,
    write_run_history,
)
from toning.versions import KeptVersion

RESTORING = ".rollback"  # the data-dir folder a kept file is copied into before the rename


class RollbackError(RefreshError):
    """Nothing to roll back to, or an unknown version; the published warehouse is unchanged."""


@dataclass(frozen=True)
class RollbackResult:
    run_id: str
    restored: str  # the run id of the version now published
    replaced: str | None  # the run id of the warehouse it replaced, when known
    seconds: float


def rollback(
    data: DataDir, to: str | None = None, progress: Progress = lambda _: None
) -> RollbackResult:
    """Publish kept version `to` (default: the newest one older than what is published)."""
    started = time.monotonic()
    with refresh_lock(data):
        published = versions.published_run(data.warehouse)
        replaced = None if published is None else published.run_id
        target = choose_version(versions.kept_versions(data), to, replaced)
        run_id = new_run_id()
        started_at = _utc_now()
        try:
            _restore(data, target, progress)
        except BaseException as error:
            _record(data, run_id, started_at, started, target.run_id, error=error)
            raise
        _record(data, run_id, started_at, started, target.run_id)
    progress(f"rollback: {target.run_id} is published again (it replaced {replaced})")
    return RollbackResult(run_id, target.run_id, replaced, time.monotonic() - started)


def choose_version(kept: list[KeptVersion], to: str | None, published: str | None) -> KeptVersion:
    if not kept:
        raise RollbackError(
            "no kept versions to roll back to (a publish keeps the one it replaces)"
        )
    available = ", ".join(version.run_id for version in kept)
    if to is not None:
        for version in kept:
            if version.run_id == to:
                if to == published:
                    raise RollbackError(f"{to} is already the published warehouse")
                return version
        raise RollbackError(f"no kept version {to}; available: {available}")
    older = [v for v in kept if published is None or v.run_id < published]
    if not older:
        raise RollbackError(
            f"no kept version older than the published one ({published}); available: {available}"
        )
    return older[-1]


def _restore(data: DataDir, target: KeptVersion, progress: Progress) -> None:
    # Same file name in the scratch folder: DuckDB names a database's catalog after its file.
    scratch = data.root / RESTORING
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        shutil.copyfile(target.warehouse, scratch / data.warehouse.name)
        if target.manifest.is_file():
            shutil.copyfile(target.manifest, scratch / data.dbt_manifest.name)
        # What is published now is kept too, before it is replaced: `--to` can undo this.
        versions.keep_published(data, keep=1, progress=progress)
        if (scratch / data.dbt_manifest.name).is_file():
            os.replace(scratch / data.dbt_manifest.name, data.dbt_manifest)
        os.replace(scratch / data.warehouse.name, data.warehouse)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _record(
    data: DataDir,
    run_id: str,
    started_at: datetime,
    started: float,
    restored: str,
    error: BaseException | None = None,
) -> None:
    status = "rolled_back" if error is None else "failed"
    message = None if error is None else (str(error).strip() or type(error).__name__)[:500]
    with lake.connect(data.lake) as con:
        lake.create_lake(con)
        con.execute(
            "insert into ops.refresh_runs (run_id, started_at, finished_at, status, duration_s,"
            " error, rolled_back_to) values (?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                started_at,
                _utc_now(),
                status,
                round(time.monotonic() - started, 3),
                message,
                restored,
            ],
        )
        write_run_history(con, data.run_history)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
