"""Where the ingest reads and writes: a plain value, light enough for any module to import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IngestPaths:
    lake: Path
    identity: Path  # restricted: patient_ref and date of birth per pseudonym
    archive: Path
    work: Path
    key_file: Path
