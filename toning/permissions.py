"""The private parts of a data folder, readable by the service's user only, whatever the umask.

Restricted files (0600): the identity store (patient record numbers, dates of birth), the lake,
the pseudonymisation key, and the dashboards' users file, cookie key and audit log. Private
folders (0700): `state/`, which holds them and the refresh's copies of them (a `--full`'s new
stores, decompressed landing files, dbt's spill), and `archive/`, every received file as it
came, identifiers included. The published warehouse is not among them: the dashboards and the
analysts read it, and it holds no identifier.

DuckDB creates its files as the umask says (0644 under the usual 022), so the refresh makes
them private as soon as it has created them; and it refuses to run on a data folder where one
of them is open to others, since that is no state the refresh leaves behind.
"""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

from toning.config import DataDir

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700
OTHERS = 0o077  # the group's and everyone else's permission bits


def restricted_files(data: DataDir) -> list[Path]:
    """The restricted files of `data`, in use or being rebuilt (a `--full`, `rotate-key`)."""
    in_use = [
        data.identity,
        data.lake,
        data.key_file,
        data.users_file,
        data.cookie_key_file,
        data.audit_log,
    ]
    rebuilt = [data.rebuild_dir / path.name for path in (data.identity, data.lake, data.key_file)]
    return in_use + rebuilt


def private_folders(data: DataDir) -> list[Path]:
    return [data.state, data.archive, data.rebuild_dir, data.ingest_paths().work]


def create_private_folder(folder: Path) -> None:
    """`folder` (its parents as the umask says), 0700 when this creates it."""
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)


def make_private(data: DataDir) -> None:
    """Every restricted file and private folder that exists, private; DuckDB's log beside a
    restricted file too (it holds the latest changes)."""
    for folder in private_folders(data):
        if folder.is_dir():
            folder.chmod(PRIVATE_FOLDER)
    for path in restricted_files(data):
        for file in (path, path.with_name(path.name + ".wal")):
            if file.is_file():
                file.chmod(PRIVATE_FILE)


def open_to_others(data: DataDir) -> list[Path]:
    """The restricted files and private folders that users other than their owner may open.
    DuckDB's logs are left out: a killed refresh leaves one as the umask made it, in a
    private folder, and the next refresh makes it private."""
    return [
        path
        for path in [*private_folders(data), *restricted_files(data)]
        if path.exists() and _mode(path) & OTHERS
    ]


def refusal(data: DataDir) -> str | None:
    """Why a refresh must not run on `data`, with the commands that fix it; None when the
    private parts are private."""
    opened = open_to_others(data)
    if not opened:
        return None
    listed = "; ".join(f"{_name(data, path)} is {_access(path)}" for path in opened)
    files = [shlex.quote(str(path)) for path in opened if not path.is_dir()]
    folders = [shlex.quote(str(path)) for path in opened if path.is_dir()]
    fixes = [f"chmod 600 {' '.join(files)}"] if files else []
    fixes += [f"chmod 700 {' '.join(folders)}"] if folders else []
    return (
        f"{listed}: only the service's user may read them. Run {' && '.join(fixes)} and refresh"
        " again (the refresh keeps them private from then on)"
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _access(path: Path) -> str:
    mode = _mode(path)
    if mode & 0o044:
        what = "readable"
    elif mode & 0o022:
        what = "writable"
    else:
        what = "open"
    return f"{what} by others (mode {mode:04o})"


def _name(data: DataDir, path: Path) -> str:
    """`state/identity.duckdb`, `state/`: as the data folder's layout names it."""
    name = str(path.relative_to(data.root))
    return name + "/" if path.is_dir() else name
