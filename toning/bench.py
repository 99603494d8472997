"""`toning bench`: time a tier end to end and report numbers.

In a scratch folder: the tier's landing zone (generated once into a cache, untimed), DuckDB's
own read of the landing files (the floor the ingest is measured against), a first full
refresh, then the next day's extracts and a one-day incremental refresh on top, then each
dashboard page's data load.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from ingest import lake
from ingest.readers import file_format
from synthetic import generate_landing
from toning.config import ENGINES, REPO_ROOT, RUN_STAGES, DataDir
from toning.refresh import Progress

SEED = 42


@dataclass
class RefreshTiming:
    seconds: float  # the `toning refresh` process, start to exit, as a scheduler sees it
    dbt_build: str  # "full" or "incremental"
    files_new: int
    rows_loaded: int
    stages: dict[str, float]  # seconds per stage: ingest, validation, dbt, checks, publish
    # peak resident memory per stage (the ingest's includes the suites run inside it; dbt's
    # is the refresh's plus the dbt process's, resident together)
    stage_peak_bytes: dict[str, int]


def timed_refresh(landing: Path, data: DataDir, engine: str = ENGINES[0]) -> RefreshTiming:
    """One `toning refresh` in a process of its own (each night's refresh is one), timed from
    outside; its stages as its run history records them."""
    started = time.monotonic()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "toning"),
            "refresh",
            "--landing",
            str(landing),
            "--data-dir",
            str(data.root),
            "--engine",
            engine,
        ],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    seconds = time.monotonic() - started
    run = json.loads(data.run_history.read_text())[0]
    return RefreshTiming(
        seconds=round(seconds, 2),
        dbt_build=run["dbt_build"],
        files_new=run["files_new"],
        rows_loaded=run["rows_loaded"],
        stages={name: round(run[f"{name}_s"], 2) for name in RUN_STAGES},
        stage_peak_bytes={name: run[f"{name}_peak_bytes"] for name in RUN_STAGES},
    )


# DuckDB's own reader of each landing format: the floor an ingest is measured against.
RAW_READERS = {
    "csv": "read_csv({path}, all_varchar = true, ignore_errors = true, strict_mode = false)",
    "jsonl": "read_json({path}, format = 'newline_delimited', ignore_errors = true)",
    "parquet": "read_parquet({path})",
}


@dataclass
class RawRead:
    seconds: float
    files: int  # read by DuckDB into tables
    skipped: list[str]  # not a format DuckDB reads here (workbooks), or it failed on them


def raw_read_floor(landing: Path, scratch: Path) -> RawRead:
    """DuckDB alone reading every landing file of a feed into a table of a database file, one
    file after another: what loading the bytes costs with nothing else done."""
    files = sorted(
        path
        for path in landing.rglob("*")
        if path.is_file() and not path.relative_to(landing).parts[0].startswith(".")
    )
    skipped, read = [], 0
    database = scratch / "raw-read.duckdb"
    started = time.monotonic()
    with lake.connect(database) as con:
        for number, path in enumerate(files):
            fmt = file_format(path)
            reader = RAW_READERS.get(fmt[0]) if fmt else None
            if reader is None:
                skipped.append(str(path.relative_to(landing)))
                continue
            try:
                con.execute(
                    f"create table file_{number} as select * from "
                    + reader.format(path=lake.sql_string_literal(str(path)))
                )
                read += 1
            except duckdb.Error:
                skipped.append(str(path.relative_to(landing)))
    seconds = time.monotonic() - started
    database.unlink()
    return RawRead(round(seconds, 2), read, skipped)


@dataclass
class BenchReport:
    tier: str
    engine: str  # what built the marts: duckdb or spark
    sessions: int  # sessions landed for the first refresh
    generate_s: float  # getting the landing zone: generating it, or linking the cached one
    full_refresh_s: float
    incremental_refresh_s: float  # the next day's extracts on top of the full refresh
    incremental_over_full: float
    ingest_s: float  # the full refresh's ingest stage (its expectation suites excluded)
    raw_read_s: float  # DuckDB alone reading the same landing files into tables
    ingest_over_raw: float
    raw_read: RawRead
    full: RefreshTiming
    incremental: RefreshTiming
    warehouse_bytes: int
    peak_rss_bytes: int  # the most resident at once: a refresh stage (dbt's with dbt), or this
    dashboard_p50_ms: float  # the slowest page's warm data load, median
    dashboard_p95_ms: float  # the slowest page's warm data load, 95th percentile
    # per page: its data-load time on the first visit and warm (p50, p95), in ms
    dashboard_pages: dict[str, dict[str, float]]


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "toning" / "bench"


@dataclass(frozen=True)
class CachedLanding:
    """A tier's landing zone as generated (`day0`) and one day later (`day1`)."""

    day0: Path
    day1: Path
    sessions: int  # landed in day0


def cached_landing(tier: str, cache: Path, progress: Progress = lambda _: None) -> CachedLanding:
    """The tier's landing zones, generated once per generator version and seed into `cache`
    (the 10m tier takes minutes to generate) and reused by every later bench. Files of day1
    with the same bytes as day0's are the same file (a hard link): half the disk."""
    folder = cache / f"{tier}-seed{SEED}-{_generator_version()}"
    if not (folder / "sessions.json").exists():
        progress(f"bench: generating the {tier} landing zones into {folder} (once)")
        building = folder.with_name(folder.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        generated = generate_landing(tier, building / "day0", seed=SEED, progress=progress)
        generate_landing(tier, building / "day1", seed=SEED, days=1, progress=progress)
        _share_identical_files(building / "day0", building / "day1")
        (building / "sessions.json").write_text(json.dumps(generated.rows.get("sessions", 0)))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(building, folder)
    sessions = json.loads((folder / "sessions.json").read_text())
    return CachedLanding(folder / "day0", folder / "day1", sessions)


def _generator_version() -> str:
    """A digest of the code that generates a landing zone: a change to it makes a new cache."""
    digest = hashlib.sha256()
    for package in ("synthetic", "contract"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            digest.update(path.relative_to(REPO_ROOT).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def _files(root: Path) -> dict[str, Path]:
    return {path.relative_to(root).as_posix(): path for path in root.rglob("*") if path.is_file()}


def _share_identical_files(day0: Path, day1: Path) -> None:
    earlier = _files(day0)
    for name, path in _files(day1).items():
        same = earlier.get(name)
        if same and filecmp.cmp(same, path, shallow=False):
            path.unlink()
            os.link(same, path)


def link_landing(source: Path, landing: Path) -> None:
    """Make `landing` hold `source`'s files as hard links: new and changed files linked in,
    files that are already the same file left as they are (a refresh never writes into a
    landing zone, so the cache cannot be changed through them)."""
    for name, path in _files(source).items():
        target = landing / name
        if target.exists() and os.path.samefile(target, path):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        os.link(path, target)


def run_bench(
    tier: str,
    progress: Progress = lambda _: None,
    cache: Path | None = None,
    engine: str = ENGINES[0],
) -> BenchReport:
    with tempfile.TemporaryDirectory(prefix=f"toning-bench-{tier}-") as scratch:
        landing = Path(scratch) / "landing"
        data = DataDir(Path(scratch) / "data")
        started = time.monotonic()
        zones = cached_landing(tier, cache or default_cache(), progress)
        link_landing(zones.day0, landing)
        generate_s = time.monotonic() - started
        progress("bench: DuckDB's own read of the landing files (the floor)")
        raw = raw_read_floor(landing, Path(scratch))
        progress("bench: the full refresh")
        full = timed_refresh(landing, data, engine)
        link_landing(zones.day1, landing)
        progress("bench: a one-day incremental refresh")
        incremental = timed_refresh(landing, data, engine)
        progress("dashboards: timing each page's data load")
        pages = time_dashboard_pages(data)
        warehouse_bytes = data.warehouse.stat().st_size
    # A refresh stage's peak counts the refresh and its dbt together; the bench's own process
    # (generating the landing, reading the floor) counts alone.
    peak_bytes = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        *(peak for run in (full, incremental) for peak in run.stage_peak_bytes.values() if peak),
    )
    ingest_s = full.stages["ingest"]
    warm = [page for page in pages.values() if page["warm_p95_ms"]]  # the console has none
    return BenchReport(
        tier=tier,
        engine=engine,
        sessions=zones.sessions,
        generate_s=round(generate_s, 2),
        full_refresh_s=full.seconds,
        incremental_refresh_s=incremental.seconds,
        incremental_over_full=round(incremental.seconds / full.seconds, 3),
        ingest_s=ingest_s,
        raw_read_s=raw.seconds,
        ingest_over_raw=round(ingest_s / raw.seconds, 2),
        raw_read=raw,
        full=full,
        incremental=incremental,
        warehouse_bytes=warehouse_bytes,
        peak_rss_bytes=peak_bytes,
        dashboard_p50_ms=max(page["warm_p50_ms"] for page in warm),
        dashboard_p95_ms=max(page["warm_p95_ms"] for page in warm),
        dashboard_pages=pages,
    )


def time_dashboard_pages(data: DataDir) -> dict[str, dict[str, float]]:
    """Each dashboard page's data-load time over the bench's warehouse, measured in a process
    of its own (dashboards/timing.py runs the real pages)."""
    finished = subprocess.run(
        [sys.executable, "-m", "dashboards.timing", str(data.root)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])


def write_report(report: BenchReport, out: Path | None) -> str:
    text = json.dumps(asdict(report), indent=2)
    if out:
        out.write_text(text + "\n")
    return text
