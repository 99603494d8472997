"""Which key a lake's pseudonyms were made with, so that a lost or replaced key stops the refresh
instead of silently giving every patient a second pseudonym (their history orphaned under the
first one).

The lake keeps a fingerprint of its key in `ops.key_check`: an HMAC of a fixed label under the
key. It tells the lake's key from any other and gives nothing away about it (never the key,
never a plain hash of it). It stays in the lake: the published warehouse does not carry it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from contract.feeds import FEEDS, raw_columns
from ingest import lake
from ingest.pseudonymise import SECRET_ENV, PatientKeyer, read_keyer

TABLE = "ops.key_check"
LABEL = b"toning: the pseudonymisation key of this lake"
LOST_KEY_ADVICE = (
    "if it is lost for good, `toning rotate-key` rebuilds the lake and the identity store from"
    " the raw archive under a new key"
)

Progress = Callable[[str], None]


class KeyCheckFailed(Exception):
    """The key at hand is missing, or is not the one the lake was built with."""


def fingerprint(keyer: PatientKeyer) -> str:
    return hmac.new(keyer.secret, LABEL, hashlib.sha256).hexdigest()


def record(con: duckdb.DuckDBPyConnection, keyer: PatientKeyer) -> None:
    """Called by the ingest before it keys records into the lake of `con`: the first key is
    recorded as the lake's; any other stops the ingest."""
    found = recorded(con)
    if found is None:
        _record(con, keyer)
    elif found != fingerprint(keyer):
        raise KeyCheckFailed(
            "the pseudonymisation key does not match the one this lake was built with"
        )


def check(lake_path: Path, identity_path: Path, key_file: Path, progress: Progress) -> None:
    """Before a refresh keys anything: stop when the lake was built with a key that is now
    missing or has been replaced. A lake made before key checks (no fingerprint) has the key
    tried on its identity store where it can be, then recorded as the lake's."""
    keyer = read_keyer(key_file)
    with lake.connect(lake_path) as con:
        found = recorded(con)
        if keyer is None:
            if found is not None or _patients(con):
                raise KeyCheckFailed(
                    f"the pseudonymisation key is missing: restore it from your backup to"
                    f" {key_file} (chmod 600), or set ${SECRET_ENV} to it; a new key would"
                    f" orphan the history of the {_patients(con):,} patient(s) in {lake_path};"
                    f" {LOST_KEY_ADVICE}"
                )
            return  # a new lake: the ingest makes the key and records it
        if found is None:
            found = _first_fingerprint(con, keyer, identity_path, progress)
        if found != fingerprint(keyer):
            source = f"${SECRET_ENV}" if os.environ.get(SECRET_ENV) else str(key_file)
            raise KeyCheckFailed(
                f"the pseudonymisation key ({source}) does not match the one the lake"
                f" {lake_path} was built with: restore that key to {key_file} (or"
                f" ${SECRET_ENV}); refreshing with this one would orphan the history of the"
                f" {_patients(con):,} patient(s) in it; {LOST_KEY_ADVICE}"
            )


def _first_fingerprint(
    con: duckdb.DuckDBPyConnection, keyer: PatientKeyer, identity_path: Path, progress: Progress
) -> str | None:
    """A lake without a fingerprint: the key's is recorded, unless the identity store shows it
    is not the key the lake's patients were keyed with (then None)."""
    patients = _patients(con)
    if patients:
        known = _one_identity(identity_path)
        if known is None:
            progress(
                f"key check: the lake holds {patients:,} patient(s) but no key fingerprint (made"
                " before key checks) and no identity record to try the key on; the key at hand"
                " is recorded as the lake's, unverified"
            )
        elif keyer.key(known[1], known[2]) != known[0]:
            return None
        else:
            progress(
                "key check: the lake had no key fingerprint (made before key checks); the key"
                " matches its identity store and is now recorded as the lake's"
            )
    _record(con, keyer)
    return fingerprint(keyer)


def recorded(con: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint of the key the lake of `con` was built with; None when none is recorded
    yet (a new lake, or one made before key checks)."""
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'ops'"
        " and table_name = 'key_check' and database_name = current_database()"
    ).fetchone()[0]
    if not exists:
        return None
    found = con.execute(f"select fingerprint from {TABLE} order by recorded_at limit 1").fetchone()
    return found[0] if found else None


def _record(con: duckdb.DuckDBPyConnection, keyer: PatientKeyer) -> None:
    con.execute(f"create table if not exists {TABLE} (fingerprint varchar, recorded_at timestamp)")
    con.execute(
        f"insert into {TABLE} values (?, ?)",
        [fingerprint(keyer), datetime.now(UTC).replace(tzinfo=None)],
    )


def _patients(con: duckdb.DuckDBPyConnection) -> int:
    """How many patients the lake's records name (their pseudonyms, in every keyed feed)."""
    keyed = [feed.name for feed in FEEDS.values() if "patient_key" in raw_columns(feed)]
    every = " union ".join(f"select patient_key from raw.{name}" for name in keyed)
    return con.execute(f"select count(distinct patient_key) from ({every})").fetchone()[0]


def _one_identity(identity_path: Path) -> tuple[str, str, str] | None:
    """One (patient_key, clinic_id, patient_ref) of the identity store, if it holds any."""
    if not identity_path.exists():
        return None
    with lake.connect(identity_path, read_only=True) as con:
        try:
            return con.execute(
                "select patient_key, clinic_id, patient_ref from patient_identity"
                " order by patient_key limit 1"
            ).fetchone()
        except duckdb.CatalogException:  # a store created but never written
            return None
