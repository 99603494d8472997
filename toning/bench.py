"""`toning bench`: time a tier end to end and report numbers.

In a scratch folder: generate the tier (untimed), a first full refresh, then the next day's
extracts and a one-day incremental refresh on top, then each dashboard page's data load.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from synthetic import generate_landing
from toning.config import RUN_STAGES, DataDir
from toning.refresh import Progress

SEED = 42


@dataclass
class RefreshTiming:
    seconds: float  # the `toning refresh` process, start to exit, as a scheduler sees it
    dbt_build: str  # "full" or "incremental"
    files_new: int
    rows_loaded: int
    stages: dict[str, float]  # seconds per stage: ingest, validation, dbt, checks, publish


def timed_refresh(landing: Path, data: DataDir) -> RefreshTiming:
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
    )


@dataclass
class BenchReport:
    tier: str
    sessions: int  # sessions landed for the first refresh
    generate_s: float
    full_refresh_s: float
    incremental_refresh_s: float  # the next day's extracts on top of the full refresh
    incremental_over_full: float
    full: RefreshTiming
    incremental: RefreshTiming
    warehouse_bytes: int
    peak_memory_mib: float  # the largest process: this one, a refresh or dbt
    # per page: its data-load time on the first visit and warm (p50, p95), in ms
    dashboard_pages: dict[str, dict[str, float]]


def run_bench(tier: str, progress: Progress = lambda _: None) -> BenchReport:
    with tempfile.TemporaryDirectory(prefix=f"toning-bench-{tier}-") as scratch:
        landing = Path(scratch) / "landing"
        data = DataDir(Path(scratch) / "data")
        started = time.monotonic()
        generated = generate_landing(tier, landing, seed=SEED, progress=progress)
        generate_s = time.monotonic() - started
        progress("bench: the full refresh")
        full = timed_refresh(landing, data)
        generate_landing(tier, landing, seed=SEED, days=1, progress=progress)
        progress("bench: a one-day incremental refresh")
        incremental = timed_refresh(landing, data)
        progress("dashboards: timing each page's data load")
        pages = time_dashboard_pages(data)
        warehouse_bytes = data.warehouse.stat().st_size
    peak_kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return BenchReport(
        tier=tier,
        sessions=generated.rows.get("sessions", 0),
        generate_s=round(generate_s, 2),
        full_refresh_s=full.seconds,
        incremental_refresh_s=incremental.seconds,
        incremental_over_full=round(incremental.seconds / full.seconds, 3),
        full=full,
        incremental=incremental,
        warehouse_bytes=warehouse_bytes,
        peak_memory_mib=round(peak_kib / 1024, 1),
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
