"""`toning bench`: time a tier end to end (generate, then a first refresh) and report numbers."""

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
from toning.refresh import Progress, run_refresh


@dataclass
class BenchReport:
    tier: str
    sessions_landed: int
    generate_s: float
    refresh_s: float
    ingest_s: float
    validate_s: float  # the expectation suites, inside ingest_s (GX's import included)
    data_docs_s: float  # inside ingest_s
    dbt_s: float
    rows_loaded: int
    peak_memory_mib: float  # the largest of this process and dbt's
    # per page: its data-load time on the first visit and warm (p50, p95), in ms
    dashboard_pages: dict[str, dict[str, float]]


def run_bench(tier: str, progress: Progress = lambda _: None) -> BenchReport:
    with tempfile.TemporaryDirectory(prefix=f"toning-bench-{tier}-") as scratch:
        landing = Path(scratch) / "landing"
        started = time.monotonic()
        generated = generate_landing(tier, landing, progress=progress)
        generate_s = time.monotonic() - started
        data = DataDir(Path(scratch) / "data")
        result = run_refresh(landing, data, progress=progress)
        progress("dashboards: timing each page's data load")
        pages = time_dashboard_pages(data)
    peak_kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return BenchReport(
        tier=tier,
        sessions_landed=generated.rows.get("sessions", 0),
        generate_s=round(generate_s, 2),
        refresh_s=round(result.seconds, 2),
        ingest_s=round(result.seconds - result.dbt_seconds, 2),
        validate_s=round(result.data_docs.validate_s, 2) if result.data_docs else 0.0,
        data_docs_s=round(result.data_docs.build_s, 2) if result.data_docs else 0.0,
        dbt_s=round(result.dbt_seconds, 2),
        rows_loaded=result.ingest.total("rows_loaded"),
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
