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
from toning.config import DataDir
from toning.refresh import Progress, RefreshResult, run_refresh

SEED = 42


@dataclass
class RefreshTiming:
    seconds: float
    dbt_build: str  # "full" or "incremental"
    files_new: int
    rows_loaded: int
    stages: dict[str, float]  # seconds per stage: ingest, validation, dbt, checks, publish

    @classmethod
    def of(cls, result: RefreshResult) -> RefreshTiming:
        return cls(
            seconds=round(result.seconds, 2),
            dbt_build=result.dbt_build,
            files_new=len(result.ingest.files),
            rows_loaded=result.ingest.total("rows_loaded"),
            stages={name: round(seconds, 2) for name, seconds in result.stage_seconds.items()},
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
    peak_memory_mib: float  # the largest of this process and its children (dbt)
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
        full = RefreshTiming.of(run_refresh(landing, data, progress=progress))
        generate_landing(tier, landing, seed=SEED, days=1, progress=progress)
        progress("bench: a one-day incremental refresh")
        incremental = RefreshTiming.of(run_refresh(landing, data, progress=progress))
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
