"""The data-quality gate: warnings publish and are kept, fatal findings stop the publish."""

from __future__ import annotations

import duckdb
import pytest

from tests.conftest import Landing, session_row
from toning.config import DataDir
from toning.refresh import RefreshError, run_refresh

PATIENTS = "patient_ref,clinic_id,fitzpatrick,updated_at\nMRN-1,C01,III,2026-01-01T00:00:00Z\n"


def dq_results(database, run_id: str | None = None) -> dict[str, dict]:
    """check (and subject) -> result, of the given run or the latest one."""
    with duckdb.connect(str(database), read_only=True) as con:
        run = run_id or con.execute("select max(run_id) from ops.dq_results").fetchone()[0]
        cursor = con.execute("select * from ops.dq_results where run_id = ?", [run])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {r["check_name"] + (f"[{r['subject']}]" if r["subject"] else ""): r for r in rows}


def two_sessions(landing) -> None:
    landing.sessions(
        "sessions/week1.csv",
        session_row("S1"),
        session_row("S2", started_at="2026-03-16T10:00:00"),
    )


@pytest.fixture(scope="module")
def orphans_published(tmp_path_factory) -> DataDir:
    """Two sessions whose patient never arrived (every session an orphan), and a one-row
    addendum whose only row has an unknown treatment area, refreshed once."""
    root = tmp_path_factory.mktemp("orphans")
    landing = Landing(root / "landing")
    two_sessions(landing)
    landing.sessions("sessions/addendum.csv", session_row("S9", treatment_area="scalp"))
    data_dir = DataDir(root / "data")
    run_refresh(landing.root, data_dir)
    return data_dir


def test_a_warning_publishes_and_is_recorded(orphans_published):
    data_dir = orphans_published
    orphans = dq_results(data_dir.warehouse)["orphan_sessions_share"]
    assert (orphans["severity"], orphans["status"], orphans["observed"]) == ("warn", "fail", 1.0)
    assert orphans["threshold"] == 0.02
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_sessions").fetchone()[0] == 2


def test_a_sessions_file_whose_every_row_fails_blocks_the_publish(landing, data_dir):
    landing.write("patients/p.csv", PATIENTS)
    two_sessions(landing)
    run_refresh(landing.root, data_dir)
    published = data_dir.warehouse.read_bytes()

    # A broken export: 200 rows, every one with an impossible fluence or an unknown area.
    landing.sessions(
        "sessions/week2.csv",
        *(
            session_row(f"B{i}", **({"fluence_j_cm2": "40"} if i % 2 else {"treatment_area": "x"}))
            for i in range(200)
        ),
    )
    with pytest.raises(RefreshError, match="batch_fully_rejected.*sessions/week2.csv"):
        run_refresh(landing.root, data_dir)

    assert data_dir.warehouse.read_bytes() == published
    with duckdb.connect(str(data_dir.lake), read_only=True) as con:
        run_id, status, error = con.execute(
            "select run_id, status, error from ops.refresh_runs order by started_at desc limit 1"
        ).fetchone()
    assert status == "failed"
    assert "every row of sessions/week2.csv failed validation" in error
    fatal = dq_results(data_dir.lake, run_id)["batch_fully_rejected"]
    assert (fatal["severity"], fatal["status"], fatal["observed"]) == ("fatal", "fail", 1.0)


def test_a_one_row_file_whose_row_fails_publishes_with_a_warning(orphans_published):
    """One bad row in a one-row addendum must not stop the chain's publish night after night."""
    data_dir = orphans_published
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_sessions").fetchone()[0] == 2
        [(reason,)] = con.execute(
            "select reason from ops.quarantine where path = 'sessions/addendum.csv'"
        ).fetchall()
    assert reason == "unknown_code: treatment_area 'scalp'"
    results = dq_results(data_dir.warehouse)
    small = results["small_batch_fully_rejected"]
    assert (small["severity"], small["status"], small["observed"]) == ("warn", "fail", 1.0)
    assert "sessions/addendum.csv" in small["detail"]
    assert results["batch_fully_rejected"]["status"] == "pass"


def test_a_second_refresh_shows_which_checks_changed(landing, data_dir):
    two_sessions(landing)
    run_refresh(landing.root, data_dir)
    landing.write("patients/p.csv", PATIENTS)  # the late patient arrives
    run_refresh(landing.root, data_dir)
    orphans = dq_results(data_dir.warehouse)["orphan_sessions_share"]
    assert (orphans["status"], orphans["previous_status"]) == ("pass", "fail")


def test_dbt_test_results_are_recorded_beside_the_checks(orphans_published):
    dbt = [r for r in dq_results(orphans_published.warehouse).values() if r["source"] == "dbt"]
    assert len(dbt) > 50
    # Orphan sessions break a relationship test that is declared `warn`: recorded, published.
    warned = [r for r in dbt if r["status"] == "fail"]
    assert warned and all(r["severity"] == "warn" for r in warned)
    assert any("relationships" in r["subject"] and "dim_patients" in r["subject"] for r in warned)


def test_a_check_skipped_by_a_run_is_compared_with_the_last_run_that_made_it(tmp_path):
    """A feed's suite runs only when that feed arrives: its next result is compared with the
    last run that checked it, not with a run that did not."""
    from expectations.checks import CheckResult, record_results
    from ingest import lake

    def result(check: str, passed: bool) -> CheckResult:
        return CheckResult("gx", check, "sessions", "warn", passed, 0.0 if passed else 1.0, 0, "")

    with lake.connect(tmp_path / "lake.duckdb") as con:
        lake.create_lake(con)
        record_results(con, "run-1", [result("in_set", False), result("freshness", True)])
        record_results(con, "run-2", [result("freshness", True)])  # no sessions arrived
        changed = record_results(con, "run-3", [result("in_set", True), result("freshness", True)])
        previous = dict(
            con.execute(
                "select check_name, previous_status from ops.dq_results where run_id = 'run-3'"
            ).fetchall()
        )
    assert [r.check for r in changed] == ["in_set"]
    assert previous == {"in_set": "fail", "freshness": "pass"}


def test_the_warehouse_measures_are_dbt_tests_with_the_thresholds_limits(orphans_published):
    """Each share is a dbt test on int_quality_measures whose limit and severity come from
    thresholds.yml: the orphan share (1.0 > 0.02) warns in dbt as in ops.dq_results."""
    import json

    run_results = orphans_published.state / "dbt" / "target" / "run_results.json"
    measures = {
        result["unique_id"].split(".")[2]: result["status"]
        for result in json.loads(run_results.read_text())["results"]
        if "within_quality_limit" in result["unique_id"]
    }
    assert measures == {
        "within_quality_limit_int_quality_measures_orphan_sessions_share": "warn",
        "within_quality_limit_int_quality_measures_sessions_unknown_skin_type_share": "warn",
        "within_quality_limit_int_quality_measures_fluence_out_of_range_share": "pass",
        "within_quality_limit_int_quality_measures_timepoint_disagreement_share": "pass",
        "within_quality_limit_int_quality_measures_clinic_freshness_days": "pass",
    }
    results = dq_results(orphans_published.warehouse)
    assert results["sessions_unknown_skin_type_share"]["status"] == "fail"
    assert not [name for name in results if "within_quality_limit" in name]
