"""Previously published warehouses, kept for `toning rollback`.

At each publish the warehouse about to be replaced is hard-linked (same inode, no copy) into
`versions/<its run id>/`, with its dbt manifest, *before* the atomic rename: the published path
always exists and is always a complete warehouse. Each kept folder is assembled under a dot name
and renamed into place, so a crash never leaves a half-kept version that looks whole. The oldest
folders beyond the configured number are then removed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from ingest import lake
from toning.config import DataDir

Progress = Callable[[str], None]
VERSION_FILE = "version.json"


@dataclass(frozen=True)
class PublishedRun:
    """Which refresh built a warehouse file, read from the file's own `ops.refresh_runs`."""

    run_id: str
    published_at: datetime | None


@dataclass(frozen=True)
class KeptVersion:
    run_id: str
    folder: Path
    published_at: str | None
    size_bytes: int

    @property
    def warehouse(self) -> Path:
        return self.folder / "warehouse.duckdb"

    @property
    def manifest(self) -> Path:
        return self.folder / "dbt_manifest.json"


def published_run(warehouse: Path) -> PublishedRun | None:
    """The run that built this warehouse (the newest run it records as published), or None
    when there is no such file or it cannot be read."""
    if not warehouse.is_file():
        return None
    try:
        with lake.connect(warehouse, read_only=True) as con:
            found = con.execute(
                "select run_id, finished_at from ops.refresh_runs where status = 'published'"
                " order by started_at desc limit 1"
            ).fetchone()
    except duckdb.Error:
        return None
    return PublishedRun(found[0], found[1]) if found else None


def kept_versions(data: DataDir) -> list[KeptVersion]:
    """Every complete kept version, oldest first (run ids sort by time)."""
    if not data.versions.is_dir():
        return []
    found = []
    for folder in sorted(data.versions.iterdir()):
        warehouse = folder / "warehouse.duckdb"
        if folder.name.startswith(".") or not warehouse.is_file():
            continue
        about = _read_version_file(folder)
        found.append(
            KeptVersion(folder.name, folder, about.get("published_at"), warehouse.stat().st_size)
        )
    return found


def keep_published(data: DataDir, keep: int, progress: Progress = lambda _: None) -> str | None:
    """Keep the warehouse now published (before it is replaced); returns its run id, or None
    when there was nothing to keep. Call before the atomic rename, never after."""
    if keep <= 0 or not data.warehouse.is_file():
        return None
    run = published_run(data.warehouse)
    if run is None:
        progress(f"versions: cannot tell which run built {data.warehouse}; it is not kept")
        return None
    target = data.versions / run.run_id
    if target.exists():
        return run.run_id  # a version put back by `toning rollback` is already kept
    scratch = data.versions / f".{run.run_id}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    _link_or_copy(data.warehouse, scratch / "warehouse.duckdb")
    if data.dbt_manifest.is_file():
        _link_or_copy(data.dbt_manifest, scratch / "dbt_manifest.json")
    published_at = None if run.published_at is None else run.published_at.isoformat()
    about = {"run_id": run.run_id, "published_at": published_at}
    (scratch / VERSION_FILE).write_text(json.dumps(about))
    os.rename(scratch, target)
    progress(f"versions: kept the previous warehouse as {target}")
    return run.run_id


def prune(data: DataDir, keep: int, progress: Progress = lambda _: None) -> list[str]:
    """Remove the oldest kept versions beyond `keep`, and leftovers of a killed keep."""
    if not data.versions.is_dir():
        return []
    for leftover in data.versions.glob(".*.partial"):
        shutil.rmtree(leftover, ignore_errors=True)
    kept = kept_versions(data)
    removed = kept[: max(len(kept) - keep, 0)]
    for version in removed:
        shutil.rmtree(version.folder)
    if removed:
        progress(f"versions: removed {', '.join(v.run_id for v in removed)} (keeping {keep})")
    return [v.run_id for v in removed]


def _link_or_copy(source: Path, target: Path) -> None:
    # A hard link costs no time and no disk until the published file is replaced; a file system
    # without hard links gets a copy.
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _read_version_file(folder: Path) -> dict:
    try:
        return json.loads((folder / VERSION_FILE).read_text())
    except (OSError, ValueError):
        return {}
