"""Shared fixtures: a landing zone to write files into, and an ingest to run over it."""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from expectations.validate import SuiteValidator
from ingest.run import IngestSummary, ingest_landing
from toning.config import DataDir

CLINICS_CSV = (
    "clinic_id,clinic_name,region,timezone,datetime_format,opened_on,updated_at\n"
    "C01,Orchard Skin,East Asia,Asia/Singapore,iso,2019-04-01,2026-01-01T00:00:00Z\n"
    "C02,Harley Laser,Northern Europe,Europe/London,dmy,2020-09-15,2026-01-01T00:00:00Z\n"
)
SESSION_HEADER = (
    "session_id,clinic_id,patient_ref,provider_id,device_id,started_at,treatment_area,"
    "fluence_j_cm2,status,updated_at"
)


# Tokens the warehouse makes itself: keyed hashes and dbt's test-name suffixes (hex with a
# letter, or 32 long), dbt's invocation ids (UUIDs) and run ids (20261205T003705389008Z). Their
# random digits spell a postcode now and then; they identify no one, so a scan for identifiers
# leaves them out.
MACHINE_MADE = re.compile(
    r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b"
    r"|\b[0-9]{8}T[0-9]{6,}Z\b"
    r"|\b(?=[0-9a-f]*[a-f])[0-9a-f]{10,}\b|\b[0-9a-f]{32,}\b"
)


def without_machine_made(text: str) -> str:
    return MACHINE_MADE.sub("", text)


def session_row(session_id: str, **overrides: str) -> str:
    values = {
        "session_id": session_id,
        "clinic_id": "C01",
        "patient_ref": "MRN-1",
        "provider_id": "P1",
        "device_id": "D1",
        "started_at": "2026-03-02T10:00:00",
        "treatment_area": "face",
        "fluence_j_cm2": "1.8",
        "status": "completed",
        "updated_at": "2026-03-02T12:00:00",
    }
    values.update(overrides)
    return ",".join(values[name] for name in SESSION_HEADER.split(","))


@dataclass
class Warehouse:
    """The lake after an ingest, queried the way a test reader would."""

    data: DataDir

    def rows(self, sql: str, params: list | None = None) -> list[dict]:
        with duckdb.connect(str(self.data.lake), read_only=True) as con:
            cursor = con.execute(sql, params or [])
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def file(self, path: str) -> dict:
        found = self.rows("select * from ops.ingest_files where path = ?", [path])
        assert len(found) == 1, f"{path} recorded {len(found)} times in ops.ingest_files"
        return found[0]

    def quarantine(self, path: str) -> list[dict]:
        return self.rows(
            "select * from ops.quarantine where path = ? order by record_number", [path]
        )


class Landing:
    def __init__(self, root: Path):
        self.root = root
        self.write("clinics/clinics.csv", CLINICS_CSV)

    def write(self, relpath: str, text: str | bytes, gzipped: bool = False) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode() if isinstance(text, str) else text
        path.write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
        return path

    def sessions(self, relpath: str, *rows: str) -> Path:
        return self.write(relpath, "\n".join([SESSION_HEADER, *rows]) + "\n")


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return Landing(tmp_path / "landing")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataDir:
    monkeypatch.delenv("TONING_SECRET", raising=False)
    return DataDir(tmp_path / "data")


@pytest.fixture
def ingest(landing: Landing, data_dir: DataDir):
    """Run one ingest over the landing zone; returns (summary, warehouse)."""

    def run(run_id: str = "test-run") -> tuple[IngestSummary, Warehouse]:
        summary = ingest_landing(
            landing.root, data_dir.ingest_paths(), run_id, suites=SuiteValidator()
        )
        return summary, Warehouse(data_dir)

    return run


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory) -> tuple[Path, DataDir]:
    """The demo tier generated (seed 42) and refreshed once per test session: (landing, data).

    Read it only; tests that refresh again need their own landing zone.
    """
    from synthetic import generate_landing
    from toning.refresh import run_refresh

    root = tmp_path_factory.mktemp("demo_warehouse")
    landing = root / "landing"
    generate_landing("demo", landing, seed=42)
    data = DataDir(root / "data")
    run_refresh(landing, data)
    return landing, data


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes | str]:
    """What every download button hands the browser, by file id (the end of its URL): read one
    with tests.app_testing.downloaded(page, label, downloads)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    served: dict[str, bytes | str] = {}
    keep = MemoryMediaFileStorage.load_and_get_id

    def recording(self, path_or_data, mimetype, kind, filename=None):
        file_id = keep(self, path_or_data, mimetype, kind, filename)
        served[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    return served
