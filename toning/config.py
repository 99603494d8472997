"""Where things live: one place for every path the refresh, the dashboards and the tools use.

Every path a user types (an option, an environment variable, a default relative to the current
folder) is made absolute here, once, when the command starts: the stages after it (the ingest,
Great Expectations' Data Docs, dbt, which runs in another folder) all see the same absolute paths.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.paths import IngestPaths  # a plain value: the dashboards read this module too

LANDING_ENV = "TONING_LANDING"
DATA_DIR_ENV = "TONING_DATA_DIR"
CLOCK_ENV = "TONING_CLOCK"
KEEP_VERSIONS_ENV = "TONING_KEEP_VERSIONS"
# Previously published warehouses kept for `toning rollback`: each costs one warehouse of disk.
DEFAULT_KEEP_VERSIONS = 3
# A refresh's stages, in order; ops.refresh_runs has a `<stage>_s` duration column for each.
RUN_STAGES = ("ingest", "validation", "dbt", "checks", "publish")
ALERT_COMMAND_ENV = "TONING_ALERT_COMMAND"
ALERT_WEBHOOK_ENV = "TONING_ALERT_WEBHOOK"
ALERT_TIMEOUT_ENV = "TONING_ALERT_TIMEOUT"
ALERT_TIMEOUT_DEFAULT_S = 10.0
REPO_ROOT = Path(__file__).resolve().parent.parent
ENGINE_ENV = "TONING_ENGINE"
# What builds the marts: DuckDB in one file, or Apache Spark through dbt-spark (toning/spark.py).
ENGINES = ("duckdb", "spark")
DBT_MEMORY_ENV = "TONING_DBT_MEMORY_LIMIT"
# dbt's DuckDB, left to its default (80 % of the machine's memory), held 13.8 GiB building the
# 10m tier; with a limit it spills its largest joins to disk under the data dir's state/dbt.
# Unset, the limit follows the lake it builds from: DBT_MEMORY_PER_LAKE_BYTE times the lake
# file's size, rounded up to DBT_MEMORY_STEP_MB, within [DBT_MEMORY_FLOOR_MB,
# DBT_MEMORY_CEILING_MB]. At 10m (a lake of several GB) the refresh and dbt together peaked at
# 8.1 GiB with 5 GB, over the 8 GiB that tier may use, and at 7.3 GiB with 4 GB, the ceiling.
# At 1m (a 0.32 GB lake) they peaked at 2.9 to 3.2 GiB with 4 GB, over its 3 GiB; with 1.5 GB
# dbt held 1.7 GiB instead of 2.0 to 2.3, in the same 36 s (README, "Performance").
DBT_MEMORY_PER_LAKE_BYTE = 4
DBT_MEMORY_FLOOR_MB = 1000
DBT_MEMORY_CEILING_MB = 4000
DBT_MEMORY_STEP_MB = 500
_MEMORY_SIZE = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def absolute(path: Path | str) -> Path:
    """A path as the user typed it (`~`, relative to the current folder), made absolute."""
    return Path(path).expanduser().resolve()


def landing_dir(option: Path | None = None) -> Path:
    """--landing, else $TONING_LANDING, else ./data/landing; absolute."""
    return absolute(option or os.environ.get(LANDING_ENV) or "data/landing")


def data_dir(option: Path | None = None) -> DataDir:
    """--data-dir, else $TONING_DATA_DIR, else ./data; absolute."""
    return DataDir(option or os.environ.get(DATA_DIR_ENV) or "data")


def refresh_clock() -> datetime:
    """What the refresh takes for now (UTC): records dated after it are implausible.

    `TONING_CLOCK=YYYY-MM-DD` sets it, to refresh synthetic data generated `--as-of` a
    future date; real clinics leave it unset.
    """
    setting = os.environ.get(CLOCK_ENV)
    if not setting:
        return datetime.now(UTC).replace(tzinfo=None)
    try:
        return datetime.fromisoformat(setting)
    except ValueError:
        raise ValueError(f"{CLOCK_ENV} must be YYYY-MM-DD, got {setting!r}") from None


def engine(option: str | None = None) -> str:
    """--engine, else $TONING_ENGINE, else duckdb; one of ENGINES."""
    chosen = (option or os.environ.get(ENGINE_ENV, "").strip() or ENGINES[0]).lower()
    if chosen not in ENGINES:
        where = "--engine" if option else f"${ENGINE_ENV}"
        raise ValueError(f"{where} is {chosen!r}: choose one of {', '.join(ENGINES)}")
    return chosen


def dbt_memory_limit(lake: Path | None = None) -> str:
    """How much memory dbt's DuckDB may hold before it spills to disk: $TONING_DBT_MEMORY_LIMIT
    (DuckDB's notation: 5GB, 800MB), else DBT_MEMORY_PER_LAKE_BYTE times the size of the `lake`
    it builds from, in steps, within the floor and ceiling (the floor when there is no lake)."""
    setting = os.environ.get(DBT_MEMORY_ENV, "").strip()
    if not setting:
        lake_bytes = lake.stat().st_size if lake is not None and lake.exists() else 0
        # In steps, so a lake growing night by night seldom changes the limit: dbt parses the
        # whole project again whenever its profile, which holds the limit, changes (3 s).
        steps = -(-DBT_MEMORY_PER_LAKE_BYTE * lake_bytes // (DBT_MEMORY_STEP_MB * 1_000_000))
        megabytes = steps * DBT_MEMORY_STEP_MB
        return f"{min(max(megabytes, DBT_MEMORY_FLOOR_MB), DBT_MEMORY_CEILING_MB)}MB"
    if not _MEMORY_SIZE.match(setting):
        raise ValueError(f"{DBT_MEMORY_ENV} must be a size such as 5GB or 800MB, got {setting!r}")
    return setting


def keep_versions(option: int | None = None) -> int:
    """--keep, else $TONING_KEEP_VERSIONS, else DEFAULT_KEEP_VERSIONS: how many previously
    published warehouses a publish keeps (0 keeps none)."""
    if option is None:
        setting = os.environ.get(KEEP_VERSIONS_ENV, "").strip()
        if not setting:
            return DEFAULT_KEEP_VERSIONS
        try:
            option = int(setting)
        except ValueError:
            raise ValueError(
                f"{KEEP_VERSIONS_ENV} must be a whole number, got {setting!r}"
            ) from None
    if option < 0:
        raise ValueError(f"the number of versions to keep must be 0 or more, got {option}")
    return option


@dataclass(frozen=True)
class AlertSettings:
    """Where a refresh's alerts go: a command (given the JSON summary on stdin), a webhook (the
    JSON POSTed to it), both or neither; each gets `timeout_s` before it counts as undelivered."""

    command: list[str]
    webhook: str | None
    timeout_s: float

    @property
    def configured(self) -> bool:
        return bool(self.command or self.webhook)


def alert_settings() -> AlertSettings:
    """$TONING_ALERT_COMMAND (split like a shell would, but run without one: wrap pipes in a
    script), $TONING_ALERT_WEBHOOK (an http(s) URL) and $TONING_ALERT_TIMEOUT (seconds)."""
    timeout = os.environ.get(ALERT_TIMEOUT_ENV) or str(ALERT_TIMEOUT_DEFAULT_S)
    try:
        timeout_s = float(timeout)
    except ValueError:
        raise ValueError(f"{ALERT_TIMEOUT_ENV} must be seconds, got {timeout!r}") from None
    return AlertSettings(
        command=shlex.split(os.environ.get(ALERT_COMMAND_ENV, "")),
        webhook=os.environ.get(ALERT_WEBHOOK_ENV) or None,
        timeout_s=timeout_s,
    )


@dataclass(frozen=True)
class DataDir:
    """The layout of a data directory (its root is made absolute on construction).

    `warehouse.duckdb` is the published warehouse (dashboards and analysts, read-only);
    `archive/` every received file byte for byte; `state/` is private to the refresh
    (the lake, the restricted identity store, the key file, build and work files, the lock).
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", absolute(self.root))

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def lake(self) -> Path:
        return self.state / "lake.duckdb"

    @property
    def identity(self) -> Path:
        return self.state / "identity.duckdb"

    @property
    def key_file(self) -> Path:
        return self.state / "patient_key.secret"

    @property
    def users_file(self) -> Path:
        """Who may sign in to the dashboards: names, roles, clinics and bcrypt password hashes."""
        return self.state / "users.yaml"

    @property
    def cookie_key_file(self) -> Path:
        """The secret that signs the dashboards' sign-in cookie."""
        return self.state / "cookie_key.secret"

    @property
    def audit_log(self) -> Path:
        """Every sign-in, page view, query, download and re-identification, one JSON line each
        (append-only; outside the warehouse file that each publish replaces)."""
        return self.state / "audit.jsonl"

    @property
    def build_dir(self) -> Path:
        # The build file has the published file's name, so its DuckDB catalog is the same.
        return self.state / "build"

    @property
    def rebuild_dir(self) -> Path:
        """A `--full` builds its new lake and identity store here, beside the ones in use."""
        return self.state / "rebuild"

    @property
    def data_docs(self) -> Path:
        """Great Expectations' Data Docs of the latest validated landing batches."""
        return self.root / "data_docs"

    @property
    def dbt_manifest(self) -> Path:
        """dbt's manifest of the published warehouse: model and column docs, metric definitions."""
        return self.root / "dbt_manifest.json"

    @property
    def run_history(self) -> Path:
        """The latest refreshes, failed ones included, as JSON: a failed run never reaches the
        published warehouse, yet the dashboards must show it."""
        return self.root / "refresh_history.json"

    @property
    def versions(self) -> Path:
        """Previously published warehouses (and their manifests), one folder per run id, for
        `toning rollback`."""
        return self.root / "versions"

    @property
    def open_fatals(self) -> Path:
        """The fatal data-quality findings still open, as JSON: a finding blocks the publish,
        so the published warehouse cannot carry it, yet the dashboards must show it."""
        return self.root / "open_fatal_findings.json"

    @property
    def lock_file(self) -> Path:
        return self.state / "refresh.lock"

    def ingest_paths(self, stores: Path | None = None) -> IngestPaths:
        """What the ingest writes: the lake and identity store in `stores` (default `state/`;
        a `--full` passes `rebuild_dir`), the shared archive, work folder and key."""
        stores = stores or self.state
        return IngestPaths(
            lake=stores / self.lake.name,
            identity=stores / self.identity.name,
            archive=self.archive,
            work=self.state / "work",
            key_file=self.key_file,
        )
