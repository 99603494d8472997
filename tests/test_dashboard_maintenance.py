"""The Maintenance and Definitions pages over the demo warehouse: what a clinic manager and an
analyst see, checked against the marts and the dbt manifest they come from."""

from __future__ import annotations

import io
import json
import shutil

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_testing import downloaded, open_page, published_frame, shown_table
from toning.config import DataDir

SKIN_TYPE_NAMES = {"unknown": "Unknown", "ALL": "All skin types"}
NEED_BY = ["need_by_3m", "need_by_6m", "need_by_12m"]


@pytest.fixture
def warehouse(demo_warehouse, monkeypatch) -> DataDir:
    _, data = demo_warehouse
    monkeypatch.setenv("TONING_DATA_DIR", str(data.root))
    return data


def drawn_skin_types(page: AppTest) -> list[str]:
    spec = json.loads(page.get("plotly_chart")[0].proto.spec)
    return [trace["name"] for trace in spec["data"] if trace.get("showlegend") is not False]


def concern_with_small_cohorts(data: DataDir) -> str:
    """A concern with cohorts both large enough to draw and too small to show."""
    return published_frame(
        data,
        "select primary_concern from marts.maintenance_need_summary group by 1"
        " having min(courses) < 11 and max(courses) >= 11 order by 1 limit 1",
    )["primary_concern"].iloc[0]


def assert_need_by_as_in_the_mart(page: AppTest, data: DataDir, concern: str) -> None:
    summary = published_frame(
        data,
        "select * from marts.maintenance_need_summary where primary_concern = ?",
        [concern],
    )
    summary["skin_type"] = summary["skin_type"].map(lambda key: SKIN_TYPE_NAMES.get(key, key))
    table = shown_table(page, "need_by_3m").set_index("skin_type")
    assert sorted(table.index) == sorted(summary["skin_type"])
    for cohort in summary.itertuples():
        row = table.loc[cohort.skin_type]
        if cohort.courses >= 11:
            assert row["courses"] == str(cohort.courses)
            assert [row[column] for column in NEED_BY] == pytest.approx(
                [getattr(cohort, column) for column in NEED_BY], abs=1e-12
            )
        else:
            assert row["courses"] == "<11"
            assert all(pd.isna(row[column]) for column in NEED_BY)
    large = summary[summary["courses"] >= 11]["skin_type"]
    assert sorted(drawn_skin_types(page)) == sorted(large)


def test_need_by_and_curves_are_the_marts_for_each_concern(warehouse):
    page = open_page("app_pages/maintenance.py")
    concerns = page.selectbox(key="maintenance_concern")
    assert concerns.value == "ALL"
    assert_need_by_as_in_the_mart(page, warehouse, "ALL")

    small = concern_with_small_cohorts(warehouse)
    concerns.select(small).run()
    assert not page.exception
    assert_need_by_as_in_the_mart(page, warehouse, small)
    assert any("Not drawn, to protect patients" in caption.value for caption in page.caption)


def test_the_worklist_is_the_clinics_due_courses_most_overdue_first(warehouse, downloads):
    page = open_page("app_pages/maintenance.py")
    due = published_frame(warehouse, "select clinic_id, course_id from marts.maintenance_due")
    clinics = page.selectbox(key="maintenance_clinic")
    assert len(clinics.options) >= 2

    for clinic in [clinics.options[0], clinics.options[-1]]:
        clinic_id = clinic.split(" · ")[0]
        clinics.select(clinic_id).run()
        assert not page.exception
        worklist = shown_table(page, "course_id")
        expected = due[due["clinic_id"] == clinic_id]["course_id"]
        assert len(worklist) == len(expected) > 0
        assert sorted(worklist["course_id"]) == sorted(expected)
        assert worklist["days_overdue"].is_monotonic_decreasing
        assert worklist["reason"].str.len().gt(0).all()

        csv = downloaded(page, "Download the worklist as CSV", downloads)
        as_shown = pd.read_csv(io.StringIO(worklist.to_csv(index=False)))
        pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(csv)), as_shown)


def test_definitions_show_every_metric_and_every_mart(warehouse):
    page = open_page("app_pages/definitions.py")
    manifest = json.loads(warehouse.dbt_manifest.read_text())

    metrics = [doc for doc in manifest["docs"].values() if doc["name"].startswith("metric_")]
    texts = {markdown.value for markdown in page.markdown}
    assert metrics and all(doc["block_contents"].strip() in texts for doc in metrics)

    marts = published_frame(
        warehouse,
        "select table_name from information_schema.tables where table_schema = 'marts'",
    )["table_name"]
    models = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    }
    expanders = {expander.label: expander for expander in page.expander}
    for table in marts:
        expander = expanders[f"{table} (model)"]
        columns = expander.dataframe[0].value.set_index("column")
        documented = models[table]["columns"]
        assert documented, f"{table} has no documented columns"
        for name, column in documented.items():
            assert columns.loc[name, "description"] == column["description"]
        assert models[table]["description"].strip() == expander.markdown[0].value
    # Tests that check several columns in one scan are listed under each column they check.
    courses = expanders["fct_courses (model)"].dataframe[0].value.set_index("column")
    assert courses.loc["fitzpatrick", "tests"] == "one of: 1, 2, 3, 4, 5, 6"
    assert (
        courses.loc["status", "tests"] == "not null; one of: completed, in_progress, "
        "dropped_out, maintenance"
    )


def test_definitions_without_a_published_manifest_say_to_refresh(
    demo_warehouse, tmp_path, monkeypatch
):
    """A warehouse published before the refresh published dbt's manifest."""
    _, data = demo_warehouse
    older = DataDir(tmp_path / "data")
    older.root.mkdir()
    shutil.copy(data.warehouse, older.warehouse)
    monkeypatch.setenv("TONING_DATA_DIR", str(older.root))
    page = open_page("app_pages/definitions.py")
    assert [info.value for info in page.info] == [
        "The published warehouse has no dbt manifest beside it (it was refreshed by an older "
        "version): run `toning refresh` to publish the definitions."
    ] * 2
