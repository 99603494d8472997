"""The data-quality gate: checks on this run's batches and on the freshly built warehouse.

Each check has a severity from `thresholds.yml`: a failed `fatal` check stops the publish, a
failed `warn` check is published as a finding. Every result, passed or not, goes to
`ops.dq_results`, so a run can be compared with the one before it.

Measures of the built warehouse are computed in dbt (`int_quality_measures`, each limit a dbt
test) and only recorded here. The batch checks (whole files, duplicates, volumes, rejected
shares, the suites' expectations) stay in Python because they read the ingest's own records
(`ops.ingest_files`, `ops.quarantine`, `ops.ingest_findings`) of this run, which the lake keeps
and dbt does not model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import yaml

from expectations.suites import suite_rules
from ingest.lake import sql_string_literal

THRESHOLDS_FILE = Path(__file__).resolve().parent / "thresholds.yml"
SHOWN_SUBJECTS = 5


@dataclass(frozen=True)
class CheckResult:
    source: str  # gx | warehouse | dbt
    check: str
    subject: str | None  # the feed, clinic or dbt test a result is about
    severity: str  # fatal | warn
    passed: bool
    observed: float | None
    threshold: float | None
    detail: str

    def describe(self) -> str:
        about = f" [{self.subject}]" if self.subject else ""
        return f"{self.check}{about}: {self.detail}"


def load_thresholds(path: Path = THRESHOLDS_FILE) -> dict[str, dict]:
    return yaml.safe_load(path.read_text())["checks"]


def run_checks(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    dbt_run_results: Path | None,
    thresholds: dict[str, dict] | None = None,
) -> list[CheckResult]:
    """All checks. `con` is the built warehouse with the lake attached as `lake`."""
    limits = thresholds or load_thresholds()
    results: list[CheckResult] = []
    results += _suite_expectations(con, run_id, limits["suite_expectations"])
    results += _rejected_batches(con, run_id, limits)
    results += _rejected_shares(con, run_id, limits["feed_rejected_share"])
    results += _unreadable_records(con, run_id, limits["records_unreadable"])
    results += _duplicate_shares(con, run_id, limits)
    results += _feed_volumes(con, run_id, limits)
    results += _warehouse_measures(con, limits)
    if dbt_run_results and dbt_run_results.exists():
        results += _dbt_tests(dbt_run_results, limits["dbt_tests"])
    return results


def record_results(
    con: duckdb.DuckDBPyConnection, run_id: str, results: list[CheckResult]
) -> list[CheckResult]:
    """Append to ops.dq_results (`con` is the lake), each with the status it had the last time
    it was checked (a feed's suite is checked only on runs that received that feed). Returns
    the results whose status changed since then."""
    previous = dict(
        ((check, subject), status)
        for check, subject, status in con.execute(
            "select check_name, subject, status from ops.dq_results where run_id < ?"
            " qualify row_number() over (partition by check_name, subject order by run_id desc)"
            " = 1",
            [run_id],
        ).fetchall()
    )
    checked_at = datetime.now(UTC).replace(tzinfo=None)
    con.executemany(
        "insert into ops.dq_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                run_id,
                checked_at,
                r.source,
                r.check,
                r.subject,
                r.severity,
                "pass" if r.passed else "fail",
                r.observed,
                r.threshold,
                r.detail,
                previous.get((r.check, r.subject)),
            ]
            for r in results
        ],
    )
    return [
        r
        for r in results
        if (r.check, r.subject) in previous
        and previous[(r.check, r.subject)] != ("pass" if r.passed else "fail")
    ]


def _result(
    check, limit, observed, passed, detail, subject=None, threshold=None, source="warehouse"
):
    return CheckResult(
        source,
        check,
        subject,
        limit["severity"],
        passed,
        None if observed is None else float(observed),
        threshold if threshold is not None else limit.get("max"),
        detail,
    )


def _suite_expectations(con, run_id: str, limit: dict) -> list[CheckResult]:
    """Per feed received this run, each expectation of its suite: the records it quarantined,
    or (informational columns) loaded with the value it judged set to null."""
    broken = dict(
        ((feed, name), count)
        for feed, name, count in con.execute(
            """
            with broken as (
                select feed, unnest(string_split(expectation, '; ')) as name
                from lake.ops.quarantine
                where run_id = ? and expectation is not null
                union all
                select feed, expectation as name
                from lake.ops.ingest_findings
                where run_id = ?
            )
            select feed, name, count(*) from broken group by feed, name
            """,
            [run_id, run_id],
        ).fetchall()
    )
    validated = con.execute(
        "select feed, sum(rows_read) from lake.ops.ingest_files"
        " where run_id = ? and status = 'loaded' group by feed order by feed",
        [run_id],
    ).fetchall()
    results = []
    for feed, rows in validated:
        for rule in suite_rules(feed):
            count = broken.get((feed, rule.name), 0)
            outcome = "quarantined" if rule.quarantines else f"loaded with {rule.about} null"
            detail = (
                f"{count:,} of {rows:,} record(s) {outcome} ({rule.reason_code})"
                if count
                else f"all {rows:,} record(s) meet it"
            )
            results.append(
                _result(rule.name, limit, count, count <= limit["max"], detail, feed, source="gx")
            )
    return results


def _rejected_batches(con, run_id: str, limits: dict) -> list[CheckResult]:
    fully_rejected = "status = 'loaded' and rows_read > 0 and rows_loaded + rows_duplicate = 0"
    min_rows = limits["batch_fully_rejected"]["min_rows"]
    checks = {
        "batch_fully_rejected": (
            f"{fully_rejected} and rows_read >= {int(min_rows)}",
            "every row of {} failed validation",
        ),
        "small_batch_fully_rejected": (
            f"{fully_rejected} and rows_read < {int(min_rows)}",
            f"every row of {{}} (each under {min_rows} rows) failed validation",
        ),
        "files_quarantined_whole": ("status = 'quarantined'", "quarantined whole: {}"),
        "files_ignored": ("status = 'ignored'", "not loaded (see ops.ingest_files.reason): {}"),
    }
    results = []
    for check, (condition, message) in checks.items():
        paths = [
            row[0]
            for row in con.execute(
                f"select path from lake.ops.ingest_files where run_id = ? and {condition}"
                " order by path",
                [run_id],
            ).fetchall()
        ]
        limit = limits[check]
        shown = ", ".join(paths[:SHOWN_SUBJECTS]) + (" …" if len(paths) > SHOWN_SUBJECTS else "")
        detail = message.format(shown) if paths else "none this run"
        results.append(_result(check, limit, len(paths), len(paths) <= limit["max"], detail))
    return results


def _rejected_shares(con, run_id: str, limit: dict) -> list[CheckResult]:
    """Per feed, the share of this run's records that were quarantined, where enough were
    read to judge the export by."""
    rows = con.execute(
        "select feed, sum(rows_quarantined), sum(rows_read) from lake.ops.ingest_files"
        " where run_id = ? and status = 'loaded' and rows_read > 0 group by feed order by feed",
        [run_id],
    ).fetchall()
    results = []
    for feed, quarantined, read in rows:
        share = quarantined / read
        enough = read >= limit["min_rows"]
        detail = f"{quarantined:,} of {read:,} record(s) quarantined ({share:.1%})"
        if not enough:
            detail += f"; under {limit['min_rows']} records: too few to judge the export"
        passed = not enough or share <= limit["max"]
        results.append(_result("feed_rejected_share", limit, share, passed, detail, feed))
    return results


def _unreadable_records(con, run_id: str, limit: dict) -> list[CheckResult]:
    """Per feed, records quarantined by a reader before any expectation judged them."""
    rows = con.execute(
        """
        select feed, count(*), string_agg(distinct reason_code, ', ' order by reason_code)
        from lake.ops.quarantine
        where run_id = ? and expectation is null and reason_code <> 'missing_columns'
        group by feed
        order by feed
        """,
        [run_id],
    ).fetchall()
    return [
        _result(
            "records_unreadable",
            limit,
            count,
            count <= limit["max"],
            f"{count:,} record(s) could not be read ({codes})",
            feed,
        )
        for feed, count, codes in rows
    ]


def _duplicate_shares(con, run_id: str, limits: dict) -> list[CheckResult]:
    limit = limits["duplicate_rows_share"]
    rows = con.execute(
        "select feed, sum(rows_duplicate) / sum(rows_read) from lake.ops.ingest_files"
        " where run_id = ? and rows_read > 0 group by feed order by feed",
        [run_id],
    ).fetchall()
    return [
        _result(
            "duplicate_rows_share",
            limit,
            share,
            share <= limit["max"],
            f"{share:.1%} of the rows received were duplicates",
            subject=feed,
        )
        for feed, share in rows
    ]


def _feed_volumes(con, run_id: str, limits: dict) -> list[CheckResult]:
    limit = limits["feed_volume_vs_trailing_runs"]
    rows = con.execute(
        """
        with per_run as (
            select run_id, feed, sum(rows_loaded) as rows_loaded
            from lake.ops.ingest_files
            where status = 'loaded'
            group by run_id, feed
        ),
        ranked as (
            select *, row_number() over (partition by feed order by run_id desc) as recency
            from per_run
            where run_id < ?
        )
        select
            current.feed,
            current.rows_loaded,
            count(ranked.run_id),
            min(ranked.rows_loaded),
            max(ranked.rows_loaded)
        from per_run as current
        left join ranked
            on current.feed = ranked.feed and ranked.recency <= ?
        where current.run_id = ?
        group by current.feed, current.rows_loaded
        order by current.feed
        """,
        [run_id, limit["trailing_runs"], run_id],
    ).fetchall()
    results = []
    for feed, loaded, prior_runs, low, high in rows:
        if prior_runs < limit["min_prior_runs"]:
            passed, detail = True, f"{loaded:,} rows; {prior_runs} earlier run(s): too few to judge"
        else:
            floor, ceiling = low * limit["low_factor"], high * limit["high_factor"]
            passed = floor <= loaded <= ceiling
            detail = (
                f"{loaded:,} rows loaded; the last {prior_runs} runs loaded {low:,} to {high:,}"
            )
        results.append(_result("feed_volume_vs_trailing_runs", limit, loaded, passed, detail, feed))
    return results


# Measured by dbt (int_quality_measures, with a dbt test per limit); recorded here with the
# observed value, which a dbt test result does not carry.
WAREHOUSE_MEASURES = (
    "clinic_freshness_days",
    "sessions_unknown_skin_type_share",
    "orphan_sessions_share",
    "fluence_out_of_range_share",
    "timepoint_disagreement_share",
)
MEASURE_TEST = "within_quality_limit"


def dbt_quality_vars(thresholds: dict[str, dict] | None = None) -> dict[str, dict]:
    """The limits and severities of the warehouse measures, as the dbt vars their tests read."""
    limits = thresholds or load_thresholds()
    return {
        "quality_limits": {name: limits[name]["max"] for name in WAREHOUSE_MEASURES},
        "quality_severities": {
            name: "error" if limits[name]["severity"] == "fatal" else "warn"
            for name in WAREHOUSE_MEASURES
        },
    }


def _warehouse_measures(con, limits: dict) -> list[CheckResult]:
    rows = con.execute(
        "select check_name, subject, observed, measured"
        " from intermediate.int_quality_measures order by check_name, subject"
    ).fetchall()
    measured = {(check, subject): (observed, count) for check, subject, observed, count in rows}
    results = []
    for check in WAREHOUSE_MEASURES:
        limit = limits[check]
        found = [(subject, *value) for (name, subject), value in measured.items() if name == check]
        for subject, observed, count in found:
            if not count:
                results.append(_result(check, limit, None, True, "nothing to measure yet"))
                continue
            passed = observed <= limit["max"]
            if check == "clinic_freshness_days":
                detail = f"last completed session {observed:.0f} day(s) before the as-of date"
            else:
                detail = f"{observed:.2%} of {count:,}"
            results.append(_result(check, limit, observed, passed, detail, subject))
    return results


def _dbt_tests(run_results: Path, limit: dict) -> list[CheckResult]:
    results = []
    for test in json.loads(run_results.read_text())["results"]:
        if not test["unique_id"].startswith(("test.", "unit_test.")):
            continue
        if MEASURE_TEST in test["unique_id"]:  # recorded with its value by _warehouse_measures
            continue
        failures = test.get("failures") or 0
        status = test["status"]
        results.append(
            CheckResult(
                "dbt",
                "dbt_tests",
                test["unique_id"].split(".", 2)[-1],
                "fatal" if status in ("fail", "error") else limit["severity"],
                status == "pass",
                float(failures),
                None,
                f"{status}: {failures} failing row(s)" if status != "pass" else "pass",
            )
        )
    return results


# The marts a night's data can only grow or correct a little: a big fall is a broken build or
# lost data, not news for the dashboards.
KEY_MARTS = ("fct_sessions", "fct_courses", "fct_course_outcomes", "fct_side_effects")


def published_rows_drop(
    con: duckdb.DuckDBPyConnection,
    published: Path,
    thresholds: dict[str, dict] | None = None,
    accepted: bool = False,
) -> list[CheckResult]:
    """Per key mart, the share of the published warehouse's rows that the new build lost.
    `con` is the new build; `published` the warehouse in use (none yet: the first night).
    `accepted`: an operator expects this drop (`toning refresh --accept-drop`, one run): it
    passes, and its detail says so."""
    limit = (thresholds or load_thresholds())["published_rows_drop"]
    check = "published_rows_drop"
    if not published.exists():
        return [_result(check, limit, None, True, "no published warehouse yet (first night)")]
    con.execute(f"attach {sql_string_literal(str(published))} as published (read_only)")
    try:
        return [
            _mart_drop(check, limit, mart, *_mart_rows(con, mart), accepted)
            for mart in KEY_MARTS
            if _has_mart(con, "published", mart)
        ]
    finally:
        con.execute("detach published")


def _mart_drop(
    check: str, limit: dict, mart: str, new: int, old: int, accepted: bool
) -> CheckResult:
    drop = max(0.0, 1 - new / old) if old else 0.0
    detail = f"{new:,} rows, {old:,} published"
    if drop:
        detail += f": {drop:.1%} fewer"
    within = drop <= limit["max"]
    if not within and accepted:
        detail += " (accepted by the operator: refresh --accept-drop)"
    else:
        detail += "" if within else "; if this drop is expected, run refresh --accept-drop once"
    return _result(check, limit, drop, within or accepted, detail, subject=mart)


def _mart_rows(con: duckdb.DuckDBPyConnection, mart: str) -> tuple[int, int]:
    """(rows in the new build, rows in the published warehouse); a mart the build lacks has 0."""
    published = con.execute(f"select count(*) from published.marts.{mart}").fetchone()[0]
    if not _has_mart(con, _catalog(con), mart):
        return 0, published
    return con.execute(f"select count(*) from marts.{mart}").fetchone()[0], published


def _has_mart(con: duckdb.DuckDBPyConnection, catalog: str, mart: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables"
            " where table_catalog = ? and table_schema = 'marts' and table_name = ?",
            [catalog, mart],
        ).fetchone()[0]
    )


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select current_database()").fetchone()[0]
