"""The private lake: every loaded record version (`raw`) and the ingest's own records (`ops`).

The lake is written only by the refresh and never read by dashboards; the published warehouse
is built from it. Patient identity (record number, date of birth) lives in a separate,
restricted store and never enters the lake.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from contract.feeds import FEEDS, Feed, raw_columns
from ingest import migrations
from ingest.pseudonymise import PatientKeyer

OPS_TABLES = {
    "ingest_files": """
        path varchar, feed varchar, sha256 varchar, size_bytes bigint, mtime_ns bigint,
        file_format varchar, rows_read bigint, rows_loaded bigint, rows_quarantined bigint,
        rows_duplicate bigint, status varchar, reason varchar, warnings varchar,
        run_id varchar, loaded_at timestamp
    """,
    "quarantine": """
        file_sha256 varchar, path varchar, feed varchar, record_number bigint,
        reason_code varchar, reason varchar, record json, run_id varchar, expectation varchar
    """,
    # Informational values that could not be read: the record loaded with the column null.
    "ingest_findings": """
        file_sha256 varchar, path varchar, feed varchar, record_number bigint,
        column_name varchar, reason_code varchar, reason varchar, expectation varchar,
        run_id varchar
    """,
    "dq_results": """
        run_id varchar, checked_at timestamp, source varchar, check_name varchar,
        subject varchar, severity varchar, status varchar, observed double, threshold double,
        detail varchar, previous_status varchar
    """,
    # A failed fatal check stays open, blocking every publish, until an operator acknowledges it
    # or its cause is gone (expectations/open_findings.py).
    "dq_open_fatals": """
        check_name varchar, subject varchar, scope varchar, first_seen_run varchar,
        last_seen_run varchar, detail varchar, resolved_run varchar,
        acknowledged_at timestamp, acknowledged_by varchar, note varchar
    """,
    # Each landing file's SHA-256 as last taken, with what the file system said of the file
    # then: a file loaded before is read and hashed again only when that changed (ingest/run.py).
    "landing_hashes": """
        path varchar, sha256 varchar, size_bytes bigint, mtime_ns bigint, ctime_ns bigint,
        inode ubigint, device ubigint, run_id varchar
    """,
    "refresh_runs": """
        run_id varchar, started_at timestamp, finished_at timestamp, status varchar,
        full_rebuild boolean, files_new bigint, rows_loaded bigint, rows_quarantined bigint,
        rows_duplicate bigint, duration_s double, error varchar,
        ingest_s double, validation_s double, dbt_s double, checks_s double, publish_s double,
        rolled_back_to varchar, dbt_build varchar, dbt_fingerprint varchar,
        ingest_peak_bytes bigint, validation_peak_bytes bigint, dbt_peak_bytes bigint,
        checks_peak_bytes bigint, publish_peak_bytes bigint
    """,
}
# The ingest's own bookkeeping, kept in the lake only (never published with the others).
UNPUBLISHED_OPS_TABLES = ("landing_hashes",)
IDENTITY_TABLE = """
    patient_key varchar, clinic_id varchar, patient_ref varchar, date_of_birth date,
    updated_at timestamp, _row_hash varchar
"""
BATCH = "_batch"  # which of the files loaded together a staged row came from
DUCKDB_SETTINGS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=read_only, config=dict(DUCKDB_SETTINGS))


def attach(con: duckdb.DuckDBPyConnection, path: Path, alias: str) -> None:
    """Attach another DuckDB file read-only as `alias` (a fixed name, never user input).

    ATTACH takes no bound parameter (DuckDB 1.5: a syntax error), so the path goes in as a
    quoted string literal: a data folder named `da'ta` must not break the statement.
    """
    con.execute(f"attach {sql_string_literal(str(path))} as {alias} (read_only)")


def sql_string_literal(text: str) -> str:
    """`text` as an SQL string literal, for the few statements that take no parameters."""
    return "'" + text.replace("'", "''") + "'"


def create_lake(con: duckdb.DuckDBPyConnection) -> list[migrations.Migration]:
    """The lake's schemas and tables where missing, and the migrations it lacks (applied)."""
    new_lake = not con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'ops'"
        " and table_name = 'refresh_runs' and database_name = current_database()"
    ).fetchone()[0]
    con.execute("create schema if not exists raw")
    con.execute("create schema if not exists ops")
    for feed in FEEDS.values():
        columns = ", ".join(f"{name} {dtype}" for name, dtype in raw_columns(feed).items())
        con.execute(f"create table if not exists raw.{feed.name} ({columns})")
    con.execute(
        "create table if not exists raw.consultation_age_bands"
        " (consultation_id varchar, age_band varchar)"
    )
    for name, columns in OPS_TABLES.items():
        con.execute(f"create table if not exists ops.{name} ({columns})")
    return migrations.migrate(con, new_lake)


def record_landing_hashes(
    con: duckdb.DuckDBPyConnection, hashes: list[tuple[str, str, tuple[int, ...]]], run_id: str
) -> None:
    """Keep, per landing path, the SHA-256 taken this run with the file's (size, modification
    time, change time, inode, device) then, replacing what was kept for the path."""
    if not hashes:
        return
    fields = ("size_bytes", "mtime_ns", "ctime_ns", "inode", "device")
    rows = pa.table(
        {
            "path": [path for path, _, _ in hashes],
            "sha256": [sha256 for _, sha256, _ in hashes],
            **{name: [stat[i] for _, _, stat in hashes] for i, name in enumerate(fields)},
        }
    )
    con.register("hashed", rows)
    try:
        con.execute("begin transaction")
        con.execute("delete from ops.landing_hashes where path in (select path from hashed)")
        con.execute(
            f"insert into ops.landing_hashes select path, sha256, {', '.join(fields)}, ?"
            " from hashed",
            [run_id],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("hashed")


def create_identity_store(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create table if not exists patient_identity ({IDENTITY_TABLE})")


def row_hash_sql(columns: list[str]) -> str:
    """A content hash of the stored values: two rows that would store alike are duplicates."""
    fields = ", ".join(f"{name} := {name}" for name in columns)
    return f"md5(to_json(struct_pack({fields})))"


def load_records(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    batches: list[tuple[pa.Table, str]],
    keyer: PatientKeyer,
) -> list[tuple[int, int]]:
    """Append conformed batches of one feed (each a file's records and its sha256) to
    `raw.<feed>`, minus rows already stored or repeated earlier in these batches: per batch, in
    order, (loaded, duplicate). One statement for many files searches the stored rows once, not
    once per file. Must run inside the caller's transaction."""
    columns = raw_columns(feed)
    keyer.bind(con)
    select, source, hashed = _stored_values(columns, keyer)
    con.register("incoming", _numbered_batches(batches))
    try:
        con.execute(
            f"""
            create or replace temp table staged as
            with typed as (
                select {BATCH}, _record_number, _file_sha256, {select} from {source}
            ),
            hashed as (select *, {row_hash_sql(hashed)} as _row_hash from typed)
            select *,
                row_number() over (
                    partition by _row_hash order by {BATCH}, _record_number
                ) > 1
                or _row_hash in (
                    -- Only the stored hashes these batches could match: DuckDB then builds
                    -- its hash table over the batches, not over every row of the feed.
                    select stored._row_hash from raw.{feed.name} as stored
                    where stored._row_hash in (select _row_hash from hashed)
                ) as is_duplicate
            from hashed
            """
        )
    finally:
        con.unregister("incoming")
    target = ", ".join(columns)
    con.execute(
        f"insert into raw.{feed.name} ({target}) select {target} from staged"
        f" where not is_duplicate order by {BATCH}, _record_number"
    )
    counted = {
        number: (loaded, duplicate)
        for number, loaded, duplicate in con.execute(
            f"select {BATCH}, count(*) filter (not is_duplicate),"
            f" count(*) filter (is_duplicate) from staged group by {BATCH}"
        ).fetchall()
    }
    con.execute("drop table staged")
    return [counted.get(number, (0, 0)) for number in range(len(batches))]


def _stored_values(columns: dict[str, str], keyer: PatientKeyer) -> tuple[str, str, list[str]]:
    """The select list typing a feed's stored columns (and keying its patients), what it
    selects from, and the columns its row hash covers."""
    content = [name for name in columns if not name.startswith("_") and name != "patient_key"]
    typed = [f"cast(incoming.{name} as {columns[name]}) as {name}" for name in content]
    if "patient_key" not in columns:
        return ", ".join(typed), "incoming", content
    # Each patient keyed once, not each record (a key is two SHA-256s): 3 s of the 1m tier.
    keyed = f"""incoming left join (
        select clinic_id, patient_ref, {keyer.sql("clinic_id", "patient_ref")} as patient_key
        from (select distinct clinic_id, patient_ref from incoming)
    ) as keys
        on incoming.clinic_id is not distinct from keys.clinic_id
        and incoming.patient_ref is not distinct from keys.patient_ref"""
    return ", ".join([*typed, "keys.patient_key"]), keyed, [*content, "patient_key"]


def _numbered_batches(batches: list[tuple[pa.Table, str]]) -> pa.Table:
    """The batches as one table, each row with its batch's number and its file's sha256."""
    return pa.concat_tables(
        [
            records.append_column(
                BATCH, pa.array([number] * records.num_rows, pa.int32())
            ).append_column("_file_sha256", pa.array([sha256] * records.num_rows, pa.string()))
            for number, (records, sha256) in enumerate(batches)
        ],
        promote_options="permissive",
    )


def load_quarantine(
    con: duckdb.DuckDBPyConnection,
    rows: pa.Table,
    keyer: PatientKeyer,
    file_sha256: str,
    path: str,
    feed: str,
    run_id: str,
) -> int:
    """Append rejected rows with their reasons and non-identifying fields (patient_ref hashed).

    `rows` has `_record_number`, `reason_code`, `reason`, optionally `expectation` (the
    suite's rules the row broke) and the raw text of the feed's non-identifying columns; it
    may be empty.
    """
    if rows.num_rows == 0:
        return 0
    keyer.bind(con)
    fields = [
        name
        for name in rows.column_names
        if name not in ("_record_number", "reason_code", "reason", "expectation")
    ]
    expectation = "expectation" if "expectation" in rows.column_names else "null"
    parts = []
    for name in fields:
        if name == "patient_ref":
            has_clinic = "clinic_id" in fields
            clinic = "coalesce(clinic_id, '')" if has_clinic else "''"
            parts.append(
                f"patient_key := case when patient_ref is not null"
                f" then {keyer.sql(clinic, 'patient_ref')} end"
            )
        else:
            parts.append(f"{name} := {name}")
    record = f"to_json(struct_pack({', '.join(parts)}))" if parts else "null::json"
    con.register("rejected", rows)
    try:
        con.execute(
            f"""
            insert into ops.quarantine by name
            select ? as file_sha256, ? as path, ? as feed, _record_number as record_number,
                reason_code, reason, {record} as record, ? as run_id,
                {expectation} as expectation
            from rejected order by _record_number
            """,
            [file_sha256, path, feed, run_id],
        )
    finally:
        con.unregister("rejected")
    return rows.num_rows


def load_findings(
    con: duckdb.DuckDBPyConnection,
    findings: pa.Table,
    file_sha256: str,
    path: str,
    feed: str,
    run_id: str,
) -> None:
    """Append the suite's findings on a file's loaded records (`ingest.validation`'s
    FINDING_COLUMNS); the reasons quote informational values only, never an identifier."""
    if findings.num_rows == 0:
        return
    con.register("findings", findings)
    try:
        con.execute(
            """
            insert into ops.ingest_findings by name
            select ? as file_sha256, ? as path, ? as feed, _record_number as record_number,
                column_name, reason_code, reason, expectation, ? as run_id
            from findings order by _record_number, column_name
            """,
            [file_sha256, path, feed, run_id],
        )
    finally:
        con.unregister("findings")


def load_identities(
    con: duckdb.DuckDBPyConnection, batches: list[pa.Table], keyer: PatientKeyer
) -> None:
    """Record patient_ref and date of birth per pseudonym in the restricted identity store,
    for the records of many patients files at once."""
    keyer.bind(con)
    con.register("incoming", pa.concat_tables(batches, promote_options="permissive"))
    try:
        con.execute(
            f"""
            insert into patient_identity
            with identities as (
                select
                    {keyer.sql("clinic_id", "patient_ref")} as patient_key,
                    clinic_id, patient_ref,
                    cast(date_of_birth as date) as date_of_birth,
                    cast(updated_at as timestamp) as updated_at
                from incoming
            ),
            hashed as (
                select *, {
                row_hash_sql(["patient_key", "clinic_id", "date_of_birth", "updated_at"])
            } as _row_hash
                from identities
            )
            select distinct * from hashed
            where _row_hash not in (
                -- As in load_records: only the stored hashes these records could match, so
                -- the cost follows the night's records, not the whole store.
                select stored._row_hash from patient_identity as stored
                where stored._row_hash in (select _row_hash from hashed)
            )
            """
        )
    finally:
        con.unregister("incoming")


def refresh_age_bands(con: duckdb.DuckDBPyConnection, identity_path: Path) -> None:
    """Age in 5-year bands at each consultation, from the restricted store's dates of birth.

    Only the band leaves the identity store; it is rebuilt whole each time, so a late or
    corrected date of birth reaches every consultation.
    """
    attach(con, identity_path, "identity")
    try:
        con.execute(
            """
            create or replace table raw.consultation_age_bands as
            with consultations as (
                select consultation_id, patient_key, cast(consulted_at_local as date) as day
                from raw.consultations
                qualify row_number() over (
                    partition by consultation_id order by updated_at desc, _row_hash desc
                ) = 1
            ),
            births as (
                select patient_key, date_of_birth
                from identity.patient_identity
                qualify row_number() over (
                    partition by patient_key order by updated_at desc, _row_hash desc
                ) = 1
            ),
            ages as (
                select
                    consultation_id,
                    date_diff('year', date_of_birth, day)
                        - case when strftime(day, '%m%d') < strftime(date_of_birth, '%m%d')
                            then 1 else 0 end as age
                from consultations
                join births using (patient_key)
                where date_of_birth is not null and date_of_birth <= day
            )
            select
                consultation_id,
                cast(age // 5 * 5 as varchar) || '-' || cast(age // 5 * 5 + 4 as varchar)
                    as age_band
            from ages
            order by consultation_id
            """
        )
    finally:
        con.execute("detach identity")
