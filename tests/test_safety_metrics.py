"""Safety metrics: the warehouse recovers the side-effect rates the generator planted.

Reads the shared demo warehouse (seed 42) and its `.truth/`; compiles the Wilson macro with dbt
and checks it against statsmodels.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from statsmodels.stats.proportion import proportion_confint

from toning.config import DataDir
from toning.dbt import run_dbt

SKIN = ("I", "II", "III", "IV", "V", "VI")
MIN_SESSIONS = 200  # compare a skin type's rate only where the mart has this many sessions


def _rows(warehouse: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def pigmentary_by_skin_type(demo_warehouse: tuple[Path, DataDir]) -> dict[str, dict]:
    """All clinics, all concerns: the mart's pigmentary rate and interval per skin type."""
    _, data = demo_warehouse
    rows = _rows(
        data.warehouse,
        """
        select skin_type, sessions, sessions_with_pigmentary_ae, pigmentary_rate,
            pigmentary_rate_ci_low, pigmentary_rate_ci_high
        from marts.safety_by_skin_type
        where clinic_id = 'ALL' and primary_concern = 'ALL'
        """,
    )
    return {row["skin_type"]: row for row in rows}


def test_pigmentary_rate_interval_contains_the_realised_rate(
    demo_warehouse: tuple[Path, DataDir], pigmentary_by_skin_type: dict[str, dict]
) -> None:
    landing, _ = demo_warehouse
    truth = json.loads((landing / ".truth" / "truth.json").read_text())
    realised = truth["realised"]["pigmentary_by_skin_type"]
    compared = []
    for skin in SKIN:
        mart = pigmentary_by_skin_type.get(skin)
        if mart is None or mart["sessions"] < MIN_SESSIONS or skin not in realised:
            continue
        rate = realised[skin]["pigmentary_rate"]
        assert mart["pigmentary_rate_ci_low"] <= rate <= mart["pigmentary_rate_ci_high"], (
            f"type {skin}: realised pigmentary rate {rate} outside the mart's 95 % interval "
            f"[{mart['pigmentary_rate_ci_low']:.5f}, {mart['pigmentary_rate_ci_high']:.5f}] "
            f"({mart['sessions_with_pigmentary_ae']} of {mart['sessions']} sessions)"
        )
        compared.append(skin)
    assert len(compared) >= 5, f"too few skin types with {MIN_SESSIONS}+ sessions: {compared}"


def test_pigmentary_rates_are_higher_for_types_iv_to_vi(
    pigmentary_by_skin_type: dict[str, dict],
) -> None:
    lighter = [pigmentary_by_skin_type[s] for s in ("I", "II", "III")]
    darker = [pigmentary_by_skin_type[s] for s in ("IV", "V", "VI")]
    assert min(r["pigmentary_rate"] for r in darker) > max(r["pigmentary_rate"] for r in lighter)

    def pooled(rows: list[dict]) -> tuple[float, float]:
        events = sum(r["sessions_with_pigmentary_ae"] for r in rows)
        sessions = sum(r["sessions"] for r in rows)
        return proportion_confint(events, sessions, alpha=0.05, method="wilson")

    # Not only the point estimates: the pooled intervals do not overlap.
    assert pooled(darker)[0] > pooled(lighter)[1]


ROLLUP_KEYS = ["clinic_id", "fitzpatrick", "primary_concern"]


def test_each_rollup_level_counts_its_patients_and_courses_once(
    demo_warehouse: tuple[Path, DataDir],
) -> None:
    """Every row of the mart (a clinic or ALL x a skin type x a concern or ALL) against its
    completed sessions, recounted here. (The demo's patients keep one clinic and one concern:
    the next test has a patient in several.)"""
    _, data = demo_warehouse
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        sessions = con.sql(
            """
            select sessions.clinic_id, sessions.fitzpatrick, sessions.primary_concern,
                sessions.patient_key, sessions.course_id, sessions.has_adverse_event,
                courses.has_adverse_event as course_has_adverse_event
            from marts.fct_sessions as sessions
            inner join marts.fct_courses as courses on sessions.course_id = courses.course_id
            """
        ).pl()
        mart = con.sql(
            f"select {', '.join(ROLLUP_KEYS)}, patients, sessions, sessions_with_ae, courses,"
            " courses_with_ae from marts.safety_by_skin_type"
        ).pl()
    levels = []
    for by_clinic in (True, False):
        for by_concern in (True, False):
            keyed = sessions.with_columns(
                clinic_id=pl.col("clinic_id") if by_clinic else pl.lit("ALL"),
                primary_concern=pl.col("primary_concern") if by_concern else pl.lit("ALL"),
            )
            levels.append(
                keyed.group_by(ROLLUP_KEYS).agg(
                    patients=pl.col("patient_key").n_unique(),
                    sessions=pl.len(),
                    sessions_with_ae=pl.col("has_adverse_event").sum(),
                    courses=pl.col("course_id").n_unique(),
                    courses_with_ae=pl.col("course_id")
                    .filter(pl.col("course_has_adverse_event"))
                    .n_unique(),
                )
            )
    recounted = pl.concat(levels)
    assert mart.height == recounted.height
    order = [pl.col(key).sort_by(ROLLUP_KEYS) for key in mart.columns]
    assert_frame_equal(mart.select(order), recounted.select(order), check_dtypes=False)


def test_a_patient_at_two_clinics_and_concerns_counts_once_under_all(tmp_path: Path) -> None:
    """The model compiled by dbt, over hand-made facts: patient p1 has a course at clinic A
    (pigmentation, two sessions, one with a side effect) and one at clinic B (texture);
    patient p2 has one at clinic A (pigmentation)."""
    sessions = [
        ("A", "pigmentation", "p1", "c1", True),
        ("A", "pigmentation", "p1", "c1", False),
        ("B", "texture", "p1", "c2", False),
        ("A", "pigmentation", "p2", "c3", False),
    ]
    with duckdb.connect() as con:
        con.execute("attach ':memory:' as warehouse; create schema warehouse.marts")
        con.execute(
            "create table warehouse.marts.fct_sessions (clinic_id varchar, fitzpatrick integer,"
            " primary_concern varchar, patient_key varchar, course_id varchar,"
            " has_adverse_event boolean, has_pigmentary_event boolean,"
            " has_serious_event boolean, fluence_out_of_range boolean)"
        )
        con.executemany(
            "insert into warehouse.marts.fct_sessions"
            " values (?, 3, ?, ?, ?, ?, false, false, false)",
            sessions,
        )
        con.execute(
            "create table warehouse.marts.fct_courses as select distinct course_id,"
            " bool_or(has_adverse_event) over (partition by course_id) as has_adverse_event"
            " from warehouse.marts.fct_sessions"
        )
        rows = con.execute(
            f"select clinic_id, primary_concern, patients, courses, courses_with_ae, sessions"
            f" from ({_compiled_model('safety_by_skin_type', tmp_path)})"
        ).fetchall()
    got = {(clinic, concern): counts for clinic, concern, *counts in rows}
    assert got == {
        ("A", "pigmentation"): [2, 2, 1, 3],
        ("A", "ALL"): [2, 2, 1, 3],
        ("B", "texture"): [1, 1, 0, 1],
        ("B", "ALL"): [1, 1, 0, 1],
        ("ALL", "pigmentation"): [2, 2, 1, 3],
        ("ALL", "texture"): [1, 1, 0, 1],
        ("ALL", "ALL"): [2, 3, 1, 4],
    }


def _compiled_model(model: str, tmp_path: Path) -> str:
    """A model's SQL as dbt compiles it for a build file named warehouse.duckdb."""
    work = _dbt_compile(tmp_path, ["--select", model])
    return next((work / "target" / "compiled").rglob(f"{model}.sql")).read_text()


def _dbt_compile(
    tmp_path: Path, args: list[str], on_line: Callable[[str], None] | None = None
) -> Path:
    """`dbt compile <args>` over an empty lake, for a build file named warehouse.duckdb; its
    work directory (target/ holds what it compiled)."""
    lake = tmp_path / "empty_lake.duckdb"
    duckdb.connect(str(lake)).close()
    work = tmp_path / "dbt"
    result = run_dbt(
        ["compile", "--quiet", "--no-populate-cache", *args],
        lake_path=lake,
        build_path=tmp_path / "build" / "warehouse.duckdb",
        work_dir=work,
        on_line=on_line,
        timeout_s=120,
    )
    assert result.ok, result.output_tail
    return work


WILSON_CASES = [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (0, 424), (11, 424), (7, 1227)]


def test_wilson_macro_matches_statsmodels(tmp_path: Path) -> None:
    values = ", ".join(f"({x}, {n})" for x, n in [*WILSON_CASES, (0, 0)])
    inline = (
        "select x, n, {{ wilson_low('x', 'n') }} as ci_low, {{ wilson_high('x', 'n') }} as ci_high "
        f"from (values {values}) as cases (x, n)"
    )
    lines: list[str] = []
    _dbt_compile(tmp_path, ["--output", "json", "--inline", inline], on_line=lines.append)
    output = "\n".join(lines)
    compiled = json.loads(output[output.index("{") : output.rindex("}") + 1])["compiled"]

    with duckdb.connect() as con:
        rows = con.execute(compiled).fetchall()
    got = {(x, n): (low, high) for x, n, low, high in rows}
    assert got[(0, 0)] == (None, None)  # no trials: no interval
    for x, n in WILSON_CASES:
        low, high = proportion_confint(x, n, alpha=0.05, method="wilson")
        assert got[(x, n)][0] == pytest.approx(low, abs=1e-9), (x, n)
        assert got[(x, n)][1] == pytest.approx(high, abs=1e-9), (x, n)


def test_every_serious_event_is_listed_as_serious(demo_warehouse: tuple[Path, DataDir]) -> None:
    landing, data = demo_warehouse
    clean = pl.read_parquet(landing / ".truth" / "clean" / "side_effects.parquet")
    live = clean.filter(~pl.col("voided") & ~pl.col("truth_junk"))
    serious = set(
        live.filter((pl.col("severity") == "severe") | pl.col("serious").fill_null(False))[
            "event_id"
        ].to_list()
    )
    assert serious, "the demo tier plants serious events"
    listed = {
        row["event_id"]: row["is_serious"]
        for row in _rows(data.warehouse, "select event_id, is_serious from marts.fct_side_effects")
    }
    missing = sorted(serious - listed.keys())
    assert not missing, f"serious events missing from fct_side_effects: {missing[:10]}"
    not_flagged = sorted(e for e in serious if not listed[e])
    assert not not_flagged, f"serious events not flagged is_serious: {not_flagged[:10]}"
    flagged = {e for e, is_serious in listed.items() if is_serious}
    assert flagged == serious, f"flagged serious but not serious: {sorted(flagged - serious)[:10]}"


def test_events_without_session_are_attributed_to_the_causing_session(
    demo_warehouse: tuple[Path, DataDir],
) -> None:
    """The generator drops session_id only where the causing session is unambiguous: the
    attribution rule recovers it for every such event."""
    landing, data = demo_warehouse
    clean = pl.read_parquet(landing / ".truth" / "clean" / "side_effects.parquet")
    truth = dict(
        clean.filter(~pl.col("voided") & ~pl.col("truth_junk"))
        .select("event_id", "truth_session_id")
        .iter_rows()
    )
    rows = _rows(
        data.warehouse,
        "select event_id, session_id, attribution_method from marts.fct_side_effects",
    )
    inferred = [r for r in rows if r["attribution_method"] == "inferred"]
    assert inferred, "the demo tier plants events without a session_id"
    wrong = [r["event_id"] for r in rows if r["session_id"] != truth.get(r["event_id"])]
    assert not wrong, f"events attributed to the wrong session: {wrong[:10]}"
