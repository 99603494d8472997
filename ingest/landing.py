"""The landing zone: which files are there to load, and the byte-for-byte raw archive."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from contract.feeds import FEED_ORDER
from ingest.readers import file_format

IN_FLIGHT_SUFFIXES = (".tmp", ".part")


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relpath: str  # relative to the landing root, with `/`: what ops tables show
    feed: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class IgnoredPath:
    """Something in the landing zone that is not a batch: recorded once with why, never read."""

    path: Path
    relpath: str
    reason: str  # "<code>: <why>"
    # A regular file is identified by its SHA-256 like any landed file; a link or a device
    # is never opened, so it is identified by its path alone.
    regular: bool
    size: int
    mtime_ns: int


@dataclass
class Discovery:
    files: list[LandingFile] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)  # still being written: skipped this time
    ignored: list[IgnoredPath] = field(default_factory=list)


def _hidden_or_in_flight(name: str) -> bool:
    return name.startswith(".") or name.endswith(IN_FLIGHT_SUFFIXES)


def discover(landing: Path) -> Discovery:
    """Every landed file of every feed, clinics first (their timezones apply to the rest).

    Symbolic links are never followed (one could point at any file on the machine), and
    whatever is not a feed's file is listed as ignored. Names starting with `.` are writers'
    work in progress or tools' folders, skipped silently.
    """
    found = Discovery()
    if landing.is_dir():
        _walk(landing, (), found)
    order = {feed: i for i, feed in enumerate(FEED_ORDER)}
    found.files.sort(key=lambda landed: order[landed.feed])  # stable: paths stay sorted
    return found


def _walk(folder: Path, parts: tuple[str, ...], found: Discovery) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as error:
        found.ignored.append(_ignored(folder, parts, f"unreadable_folder: {error.strerror}"))
        return
    for entry in entries:
        path, inner = Path(entry.path), (*parts, entry.name)
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            reason = f"symlink: a link (to {os.readlink(path)}) is never followed"
            found.ignored.append(_ignored(path, inner, reason))
        elif entry.is_dir(follow_symlinks=False):
            _walk(path, inner, found)
        elif not entry.is_file(follow_symlinks=False):
            found.ignored.append(_ignored(path, inner, "not_a_file: not a regular file"))
        elif _hidden_or_in_flight(entry.name):
            found.in_flight.append(_relpath(inner))
        elif len(inner) == 1:
            reason = "not_a_feed: directly in the landing root, not in a feed folder"
            found.ignored.append(_ignored(path, inner, reason, regular=True))
        elif inner[0] not in FEED_ORDER:
            reason = f"not_a_feed: folder {inner[0]!r} is not a feed ({', '.join(FEED_ORDER)})"
            found.ignored.append(_ignored(path, inner, reason, regular=True))
        else:
            status = path.stat(follow_symlinks=False)
            found.files.append(
                LandingFile(path, _relpath(inner), inner[0], status.st_size, status.st_mtime_ns)
            )


def _ignored(path: Path, parts: tuple[str, ...], reason: str, regular: bool = False):
    status = path.stat(follow_symlinks=False)
    size = status.st_size if stat.S_ISREG(status.st_mode) else 0
    return IgnoredPath(path, _relpath(parts), reason, regular, size, status.st_mtime_ns)


def _relpath(parts: tuple[str, ...]) -> str:
    """The path as ops tables show it. A name that is not UTF-8 (Linux allows any bytes) is
    written with `\\x..` escapes, so it can be stored and still names one file."""
    joined = "/".join(parts)
    return os.fsencode(joined).decode("utf-8", errors="backslashreplace")


def escape_controls(text: str) -> str:
    """`text` kept on one line: control, format and separator characters written as Python
    escapes (`\\n`, `\\x1b`, `\\u202e`), so a file name cannot split or disguise a log line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    for block in _blocks(path):
        digest.update(block)
    return digest.hexdigest()


def archive_path(archive: Path, sha256: str, name: str) -> Path:
    """Content-addressed, keeping the file's suffixes so the archive alone can be re-read."""
    fmt = file_format(Path(name))
    suffix = "" if fmt is None else f".{fmt[0]}" + (".gz" if fmt[1] else "")
    return archive / sha256[:2] / f"{sha256}{suffix}"


class UnreadableSource(OSError):
    """A landing file that could not be opened or read (its archived copy is not kept)."""


def archive_file(source: Path, archive: Path) -> tuple[Path, str]:
    """Copy a received file into the archive, hashing the bytes as they are copied: the copy
    is exactly the bytes its SHA-256 names, whatever happens to the source meanwhile, and the
    file is read once. Returns the archived copy and the hash. Content archived already is
    kept once; the copy lands by an atomic rename. Raises UnreadableSource when the source
    cannot be read (any other OSError is the archive's)."""
    archive.mkdir(parents=True, exist_ok=True)
    partial = archive / ".receiving.partial"  # one refresh at a time copies, one file at a time
    digest = hashlib.sha256()
    try:
        with open(partial, "wb") as copy:
            for block in _blocks(source):
                digest.update(block)
                copy.write(block)
        sha256 = digest.hexdigest()
        target = archive_path(archive, sha256, source.name)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target, sha256


def _blocks(source: Path) -> Iterator[bytes]:
    """The file's bytes, a MiB at a time; a failure to open or read it is UnreadableSource."""
    try:
        with open(source, "rb") as handle:
            while block := handle.read(1 << 20):
                yield block
    except OSError as error:
        raise UnreadableSource(error.errno, error.strerror, str(source)) from error
