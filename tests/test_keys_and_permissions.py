"""The private parts of a data folder stay private whatever the umask, a lost or replaced
pseudonymisation key stops the refresh instead of orphaning every patient's history, and
`toning rotate-key` re-keys every patient without losing anything."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest import key_check, lake
from ingest.landing import archive_path
from ingest.pseudonymise import SECRET_ENV, PatientKeyer
from synthetic import generate_landing
from tests.test_full_rebuild import commit_cut_after_one_rename
from toning import permissions, rebuild, versions
from toning.config import DataDir
from toning.refresh import RefreshError, run_refresh
from toning.rotate import rotate_key

TONING = Path(sys.executable).parent / "toning"
PSEUDONYM = re.compile(r"\b[0-9a-f]{32}(?:[0-9a-f]{32})?\b")  # course ids (md5), patient keys


@contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def toning(*args: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name != SECRET_ENV}
    return subprocess.run(
        [str(TONING), *args], capture_output=True, text=True, timeout=600, env=env
    )


def copy_of(data: DataDir, root: Path) -> DataDir:
    """A copy of the data folder (modes kept) that a test may spoil."""
    copy = DataDir(root)
    shutil.copytree(data.root, copy.root, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory) -> tuple[Path, DataDir]:
    """A synthetic landing zone and a data folder refreshed once from it under umask 022, as a
    shell or a scheduler without a UMask= would run it."""
    root = tmp_path_factory.mktemp("keys")
    landing = root / "landing"
    generate_landing("tiny", landing, seed=7)
    data = DataDir(root / "data")
    with pytest.MonkeyPatch.context() as env, umask(0o022):
        env.delenv(SECRET_ENV, raising=False)
        run_refresh(landing, data)
    return landing, data


@pytest.fixture(autouse=True)
def no_secret_in_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)


# --- File permissions ---------------------------------------------------------------------------


def test_a_refresh_under_umask_022_leaves_the_private_parts_private(refreshed):
    _, data = refreshed
    for restricted in (data.identity, data.lake, data.key_file):
        assert mode(restricted) == 0o600, restricted
    for folder in (data.state, data.archive, data.ingest_paths().work):
        assert mode(folder) == 0o700, folder
    assert permissions.open_to_others(data) == []
    # The published warehouse holds no identifier: the dashboards and analysts read it.
    assert mode(data.warehouse) == 0o644


def test_a_world_readable_identity_store_stops_the_refresh_with_the_fix(refreshed, tmp_path):
    landing, published = refreshed
    data = copy_of(published, tmp_path / "da'ta x")  # the fix must quote such a path
    data.identity.chmod(0o644)
    before = {path: path.read_bytes() for path in (data.warehouse, data.lake, data.identity)}

    done = toning("refresh", "--landing", str(landing), "--data-dir", str(data.root))

    assert done.returncode == 1, done.stderr
    failure = next(line for line in done.stderr.splitlines() if "refresh failed" in line)
    assert "state/identity.duckdb is readable by others (mode 0644)" in failure
    fix = f"chmod 600 {shlex.quote(str(data.identity))}"
    assert f"Run {fix} and refresh again" in failure
    assert "Traceback" not in done.stderr
    # Refused before anything was opened: nothing ingested, recorded or published.
    assert {path: path.read_bytes() for path in before} == before
    subprocess.run(fix, shell=True, check=True)  # the fix, as the operator pastes it
    assert permissions.open_to_others(data) == []


def test_an_open_state_folder_is_named_with_its_own_fix(refreshed, tmp_path):
    landing, published = refreshed
    data = copy_of(published, tmp_path / "data")
    data.state.chmod(0o755)
    with pytest.raises(RefreshError) as refused:
        run_refresh(landing, data)
    assert str(refused.value).startswith("state/ is readable by others (mode 0755): ")
    assert f"Run chmod 700 {data.state} and refresh again" in str(refused.value)


# --- A missing or another key -------------------------------------------------------------------


def published_state(data: DataDir) -> tuple[bytes, bytes]:
    return data.warehouse.read_bytes(), data.run_history.read_bytes()


def last_run(data: DataDir) -> tuple[str, str]:
    with lake.connect(data.lake, read_only=True) as con:
        return con.execute(
            "select status, error from ops.refresh_runs order by started_at desc limit 1"
        ).fetchone()


def test_a_missing_key_stops_the_refresh_and_makes_no_new_one(refreshed, tmp_path):
    landing, published = refreshed
    data = copy_of(published, tmp_path / "data")
    key = data.key_file.read_text()
    warehouse = data.warehouse.read_bytes()
    data.key_file.unlink()  # as an operator cleaning up might

    with pytest.raises(RefreshError) as stopped:
        run_refresh(landing, data)

    message = str(stopped.value)
    assert message.startswith(
        f"the pseudonymisation key is missing: restore it from your backup to {data.key_file}"
    )
    assert re.search(r"would orphan the history of the [1-9][\d,]* patient\(s\)", message)
    assert key not in message
    assert not data.key_file.exists()  # no new key was made
    assert data.warehouse.read_bytes() == warehouse
    status, error = last_run(data)  # the failed run is on record, for `toning status`
    assert status == "failed" and error.startswith("the pseudonymisation key is missing")


def test_another_key_stops_the_refresh(refreshed, tmp_path, monkeypatch):
    landing, published = refreshed
    data = copy_of(published, tmp_path / "data")
    key = data.key_file.read_text()
    warehouse = data.warehouse.read_bytes()
    monkeypatch.setenv(SECRET_ENV, "a secret from another chain")

    with pytest.raises(RefreshError) as stopped:
        run_refresh(landing, data)

    message = str(stopped.value)
    assert message.startswith(
        f"the pseudonymisation key (${SECRET_ENV}) does not match the one the lake {data.lake}"
        " was built with"
    )
    assert "a secret from another chain" not in message and key not in message
    assert data.warehouse.read_bytes() == warehouse
    assert data.key_file.read_text() == key


def test_a_lake_made_before_key_checks_has_its_key_tried_on_its_identity_store(
    refreshed, tmp_path, monkeypatch
):
    _, published = refreshed
    data = copy_of(published, tmp_path / "data")
    keyer = PatientKeyer(data.key_file.read_text().strip().encode())

    def made_before_key_checks() -> None:
        with lake.connect(data.lake) as con:
            con.execute(f"drop table {key_check.TABLE}")

    made_before_key_checks()
    monkeypatch.setenv(SECRET_ENV, "a secret from another chain")
    with pytest.raises(key_check.KeyCheckFailed, match="does not match"):
        key_check.check(data.lake, data.identity, data.key_file, print)

    monkeypatch.delenv(SECRET_ENV)
    said: list[str] = []
    key_check.check(data.lake, data.identity, data.key_file, said.append)
    assert said == [
        "key check: the lake had no key fingerprint (made before key checks); the key matches"
        " its identity store and is now recorded as the lake's"
    ]
    with lake.connect(data.lake, read_only=True) as con:
        assert key_check.recorded(con) == key_check.fingerprint(keyer)


# --- Rotation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotated:
    landing: Path
    data: DataDir
    old_key: str
    old_pseudonyms: set[str]
    marts_before: dict
    worklist_before: set
    said: str


def pseudonyms(data: DataDir) -> set[str]:
    """Every patient key and course id (an md5 of the patient key) the data folder holds."""
    found: set[str] = set()
    for path in (data.lake, data.identity, data.warehouse):
        with lake.connect(path, read_only=True) as con:
            columns = con.execute(
                "select schema_name, table_name, column_name from duckdb_columns()"
                " where column_name in ('patient_key', 'course_id')"
                " and database_name = current_database()"
            ).fetchall()
            for schema, table, column in columns:
                rows = con.execute(f"select distinct {column} from {schema}.{table}").fetchall()
                found |= {value for (value,) in rows if value}
            if path == data.lake:  # a quarantined record keeps its patient's key in its JSON
                rows = con.execute("select record->>'patient_key' from ops.quarantine").fetchall()
                found |= {value for (value,) in rows if value}
    return found


def pseudonyms_in_every_table(path: Path) -> set[str]:
    """Every value shaped like a patient key or a course id, in any text of any table."""
    found: set[str] = set()
    with lake.connect(path, read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables()"
            " where database_name = current_database()"
        ).fetchall()
        for schema, table in tables:
            for row in con.execute(f'select * from {schema}."{table}"').fetchall():
                for value in row:
                    if isinstance(value, str):
                        found.update(PSEUDONYM.findall(value))
    return found


def marts_by_identity(data: DataDir) -> dict:
    """Every row of the staging, intermediate and mart tables, with each patient key and course
    id replaced by who and what it stands for (clinic and patient record number, and the
    course's area and first session), so that two keys give the same rows."""
    with lake.connect(data.warehouse, read_only=True) as con:
        lake.attach(con, data.identity, "identity")
        meaning = dict(
            con.execute(
                "select patient_key, clinic_id || '/' || patient_ref from identity.patient_identity"
            ).fetchall()
        )
        courses = con.execute(
            "select course_id, patient_key, treatment_area, first_session_at from marts.fct_courses"
        ).fetchall()
        for course_id, patient_key, area, first in courses:
            meaning[course_id] = (
                f"course of {meaning.get(patient_key, patient_key)}, {area}, {first}"
            )
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'warehouse'"
            " and schema_name in ('staging', 'intermediate', 'marts') order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{table}": sorted(
                (
                    tuple(
                        meaning.get(value, value) if isinstance(value, str) else value
                        for value in row
                    )
                    for row in con.execute(f"select * from {schema}.{table}").fetchall()
                ),
                key=repr,
            )
            for schema, table in tables
        }


def worklist(data: DataDir) -> set[tuple]:
    """The maintenance worklist as a clinic's manager sees it, each patient key looked up in the
    identity store as the dashboards do; a key the store does not know shows as None."""
    with lake.connect(data.warehouse, read_only=True) as con:
        due = con.execute(
            "select clinic_id, patient_key, treatment_area, last_session_on_local"
            " from marts.maintenance_due"
        ).fetchall()
    seen = set()
    with lake.connect(data.identity, read_only=True) as con:
        for clinic, patient_key, area, last in due:
            found = con.execute(
                "select any_value(patient_ref) from patient_identity"
                " where clinic_id = ? and patient_key = ?",
                [clinic, patient_key],
            ).fetchone()
            seen.add((clinic, found[0], area, last))
    return seen


@pytest.fixture(scope="module")
def rotated(refreshed, tmp_path_factory) -> Rotated:
    """The refreshed data folder, copied, with its published warehouse kept as a version (as
    the next publish would keep it), then `toning rotate-key` run on it under umask 022."""
    landing, published = refreshed
    data = copy_of(published, tmp_path_factory.mktemp("rotated") / "data")
    assert versions.keep_published(data, keep=3)
    old_key = data.key_file.read_text()
    old_pseudonyms = pseudonyms(data)
    marts_before = marts_by_identity(data)
    worklist_before = worklist(data)
    with umask(0o022):
        done = toning("rotate-key", "--landing", str(landing), "--data-dir", str(data.root))
    assert done.returncode == 0, done.stderr
    return Rotated(
        landing, data, old_key, old_pseudonyms, marts_before, worklist_before, done.stderr
    )


def test_rotation_leaves_the_old_key_nowhere_and_the_new_one_private(rotated):
    data = rotated.data
    new_key = data.key_file.read_text()
    assert new_key != rotated.old_key and len(new_key) == 64
    assert mode(data.key_file) == 0o600
    assert permissions.open_to_others(data) == []
    old = rotated.old_key.encode()
    holding = [path for path in data.root.rglob("*") if path.is_file() and old in path.read_bytes()]
    assert holding == []
    assert old.decode() not in rotated.said and new_key not in rotated.said
    assert "back it up now, and destroy the backups of the old one" in rotated.said


def test_rotation_leaves_no_pseudonym_of_the_old_key(rotated):
    data = rotated.data
    assert len(rotated.old_pseudonyms) > 100  # patient keys and course ids, as a check
    for path in (data.lake, data.identity, data.warehouse):
        assert pseudonyms_in_every_table(path) & rotated.old_pseudonyms == set(), path
    # Not even in the bytes of a file: the stores were rebuilt, not edited in place, and the
    # kept versions (built under the old key) are gone.
    old = [pseudonym.encode() for pseudonym in rotated.old_pseudonyms]
    for path in data.root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(pseudonym in content for pseudonym in old), path
    assert versions.kept_versions(data) == []


def test_rotation_changes_no_mart_but_for_the_pseudonyms(rotated):
    after = marts_by_identity(rotated.data)
    assert after.keys() == rotated.marts_before.keys()
    assert len(after) > 30
    for table, rows in rotated.marts_before.items():
        assert after[table] == rows, table


def test_the_worklist_still_finds_its_patients_in_the_identity_store(rotated):
    after = worklist(rotated.data)
    assert after == rotated.worklist_before
    assert after and all(patient_ref is not None for _, patient_ref, _, _ in after)


def test_the_old_key_no_longer_works(rotated, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, rotated.old_key)
    with pytest.raises(RefreshError, match="does not match the one the lake"):
        run_refresh(rotated.landing, rotated.data)


def test_rotation_refuses_a_key_from_the_environment(refreshed, tmp_path, monkeypatch):
    landing, published = refreshed
    data = copy_of(published, tmp_path / "data")
    before = {path: path.read_bytes() for path in (data.key_file, data.lake, data.warehouse)}
    monkeypatch.setenv(SECRET_ENV, "the chain's secret")
    with pytest.raises(RefreshError, match=rf"comes from \${SECRET_ENV}, which rotate-key cannot"):
        rotate_key(landing, data)
    assert {path: path.read_bytes() for path in before} == before


def test_a_rotation_that_fails_leaves_the_key_and_the_lake_as_they_were(refreshed, tmp_path):
    landing, published = refreshed
    data = copy_of(published, tmp_path / "data")
    key = data.key_file.read_bytes()
    warehouse = data.warehouse.read_bytes()
    with lake.connect(data.lake, read_only=True) as con:
        sha256, name = con.execute(
            "select sha256, path from ops.ingest_files where status = 'loaded' limit 1"
        ).fetchone()
    archive_path(data.archive, sha256, name).unlink()  # the archive lost a file

    with pytest.raises(RefreshError, match="missing from the archive"):
        rotate_key(landing, data)

    assert data.key_file.read_bytes() == key
    assert data.warehouse.read_bytes() == warehouse
    assert not data.rebuild_dir.exists()
    with lake.connect(data.lake, read_only=True) as con:
        assert key_check.recorded(con) == key_check.fingerprint(PatientKeyer(key.strip()))


def test_a_rotation_cut_short_in_its_swap_is_finished_with_its_key_at_the_next_start(
    tmp_path, monkeypatch
):
    data = DataDir(tmp_path / "data")
    permissions.create_private_folder(data.state)
    data.key_file.write_text("the old key")
    with lake.connect(data.lake) as con:
        lake.create_lake(con)
    paths = rebuild.prepare(data, data.lake, new_key=True)
    new_key = paths.key_file.read_text()
    assert paths.key_file.parent == data.rebuild_dir and mode(paths.key_file) == 0o600

    commit_cut_after_one_rename(data, monkeypatch)
    assert data.key_file.read_text() == "the old key"  # the lake in use is the old one yet

    assert rebuild.recover(data).startswith("finished swapping in")
    assert data.key_file.read_text() == new_key
    assert not data.rebuild_dir.exists()


def test_a_rotation_discarded_before_its_commit_leaves_the_old_key(tmp_path):
    data = DataDir(tmp_path / "data")
    permissions.create_private_folder(data.state)
    data.key_file.write_text("the old key")
    with lake.connect(data.lake) as con:
        lake.create_lake(con)
    rebuild.prepare(data, data.lake, new_key=True)
    rebuild.discard(data)
    assert data.key_file.read_text() == "the old key"
    assert not data.rebuild_dir.exists()


def test_the_next_night_after_a_rotation_builds_on_its_warehouse(rotated):
    """Last: it refreshes the rotated folder again."""
    said: list[str] = []
    run_refresh(rotated.landing, rotated.data, progress=said.append)
    assert "dbt build: incremental, on the published warehouse (changed patients only)" in said
    assert marts_by_identity(rotated.data) == rotated.marts_before
