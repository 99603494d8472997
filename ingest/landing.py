"""The landing zone: which files are there to load, and the byte-for-byte raw archive."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ingest.feeds import FEED_ORDER
from ingest.readers import file_format

IN_FLIGHT_SUFFIXES = (".tmp", ".part")


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relpath: str  # relative to the landing root, with `/`: what ops tables show
    feed: str
    size: int
    mtime_ns: int


@dataclass
class Discovery:
    files: list[LandingFile]
    in_flight: list[str]  # still being written: ignored this time
    unknown_folders: list[str]


def _hidden_or_in_flight(name: str) -> bool:
    return name.startswith(".") or name.endswith(IN_FLIGHT_SUFFIXES)


def discover(landing: Path) -> Discovery:
    """Every landed file of every feed, clinics first (their timezones apply to the rest)."""
    files: list[LandingFile] = []
    in_flight: list[str] = []
    unknown = (
        sorted(
            entry.name
            for entry in landing.iterdir()
            if entry.is_dir() and not entry.name.startswith(".") and entry.name not in FEED_ORDER
        )
        if landing.is_dir()
        else []
    )
    for feed in FEED_ORDER:
        folder = landing / feed
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(landing)
            if not path.is_file() or any(part.startswith(".") for part in relative.parts[1:-1]):
                continue
            if _hidden_or_in_flight(path.name):
                if not path.name.startswith("."):
                    in_flight.append(relative.as_posix())
                continue
            stat = path.stat()
            files.append(
                LandingFile(path, relative.as_posix(), feed, stat.st_size, stat.st_mtime_ns)
            )
    return Discovery(files, in_flight, unknown)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive_path(archive: Path, sha256: str, name: str) -> Path:
    """Content-addressed, keeping the file's suffixes so the archive alone can be re-read."""
    fmt = file_format(Path(name))
    suffix = "" if fmt is None else f".{fmt[0]}" + (".gz" if fmt[1] else "")
    return archive / sha256[:2] / f"{sha256}{suffix}"


def archive_file(source: Path, archive: Path, sha256: str) -> Path:
    """Copy a received file into the archive (once; the copy is atomic)."""
    target = archive_path(archive, sha256, source.name)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
    return target
