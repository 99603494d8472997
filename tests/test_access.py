"""Who sees what: sign-in, roles, a manager's clinic scope, re-identification only for a clinic's
manager, brute-force lockout, the audit log and `toning users`, over the demo warehouse."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import access, navigation
from tests.app_testing import (
    APP,
    TEST_PASSWORD,
    WAREHOUSE_PAGES,
    open_page,
    published_frame,
    register,
    shown_table,
    signed_in,
)
from toning import audit, users
from toning.config import DataDir

TONING = Path(sys.executable).parent / "toning"
MANAGER_CLINIC = "C01"
# Each element kind whose text a person reads (alerts, tables, chart specs, widget options).
SHOWN = (
    "title",
    "header",
    "subheader",
    "markdown",
    "caption",
    "text",
    "info",
    "warning",
    "error",
    "success",
    "exception",
)
# Pages whose numbers, seen by a manager, must equal an analyst's with the manager's clinic
# chosen in the clinic filter. (Clinics & providers differs on purpose: its funnel population
# is every clinic for an analyst, the manager's clinics for a manager.)
FILTERED_PAGES = ["app_pages/overview.py", "app_pages/results.py", "app_pages/safety.py"]


@pytest.fixture
def data(demo_warehouse, monkeypatch) -> DataDir:
    _, data = demo_warehouse
    monkeypatch.setenv("TONING_DATA_DIR", str(data.root))
    monkeypatch.setattr(access, "FAILED_SIGN_IN_DELAY_S", 0)
    return data


def sign_in_through_form(name: str, password: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60).run()
    app.text_input(key="sign_in_name").input(name)
    app.text_input(key="sign_in_password").input(password)
    [submit] = app.button
    return submit.click().run()


def everything_shown(page: AppTest) -> str:
    """Every text a person reads on the page: alerts and markdown, metrics, tables, chart data
    and the options of its widgets, one big string."""
    parts = [str(element.value) for kind in SHOWN for element in page.get(kind)]
    parts += [f"{metric.label} {metric.value}" for metric in page.metric]
    parts += [frame.value.to_csv() for frame in page.dataframe]
    parts += [chart.proto.spec for chart in page.get("plotly_chart")]
    for kind in ("selectbox", "multiselect", "radio"):
        parts += [" ".join(map(str, widget.options)) for widget in page.get(kind)]
    return "\n".join(parts)


def other_clinics(data: DataDir) -> list[str]:
    clinics = published_frame(data, "select clinic_id, clinic_name from marts.dim_clinics")
    others = clinics[clinics["clinic_id"] != MANAGER_CLINIC]
    return [*others["clinic_id"], *others["clinic_name"]]


def events(data: DataDir, user: str) -> list[dict]:
    return [event for event in audit.read(data.audit_log) if event["user"] == user]


def numbers_shown(page: AppTest) -> tuple[dict[str, str], list[pd.DataFrame]]:
    return {m.label: m.value for m in page.metric}, [frame.value for frame in page.dataframe]


# --- Sign-in -----------------------------------------------------------------------------------


def test_a_visitor_who_has_not_signed_in_sees_only_the_sign_in_form(data):
    register(data, "ann", users.MANAGER, (MANAGER_CLINIC,))
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    assert [title.value for title in app.title] == ["Laser toning outcomes"]
    assert [element.value for element in app.subheader] == ["Sign in"]
    assert not (app.metric or app.dataframe or app.get("plotly_chart") or app.sidebar.button)
    for page_file in WAREHOUSE_PAGES:  # no page can be reached by its name either
        app.switch_page(page_file).run()
        assert [element.value for element in app.subheader] == ["Sign in"], page_file
        assert not (app.metric or app.dataframe)


def test_without_any_user_the_form_says_how_to_add_one(tmp_path, monkeypatch):
    monkeypatch.setenv("TONING_DATA_DIR", str(tmp_path))
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert "toning users add" in app.warning[0].value
    assert not app.text_input


def test_signing_in_with_the_right_password_opens_the_pages_and_is_recorded(data):
    register(data, "form-analyst", users.ANALYST)
    wrong = sign_in_through_form("form-analyst", "not-the-password")
    assert [error.value for error in wrong.error] == ["Wrong user name or password."]
    assert not wrong.metric
    app = sign_in_through_form("Form-Analyst ", TEST_PASSWORD)  # typed loosely
    assert not app.exception
    assert app.title[0].value == "Overview" and app.metric
    kinds = [event["event"] for event in events(data, "form-analyst")]
    assert kinds[:3] == [audit.SIGN_IN_FAILED, audit.SIGN_IN, audit.PAGE]
    assert TEST_PASSWORD not in data.audit_log.read_text()


def test_repeated_failed_sign_ins_lock_the_name_out_even_with_the_right_password(data):
    register(data, "guessed", users.ANALYST)
    for _ in range(access.FAILURES_BEFORE_LOCKOUT):
        assert sign_in_through_form("guessed", "a-wrong-guess").error
    locked = sign_in_through_form("guessed", TEST_PASSWORD)
    assert not locked.metric
    assert "Too many failed sign-ins for guessed" in locked.error[0].value
    kinds = [event["event"] for event in events(data, "guessed")]
    assert kinds == [audit.SIGN_IN_FAILED] * access.FAILURES_BEFORE_LOCKOUT + [audit.SIGN_IN_LOCKED]
    assert events(data, "guessed")[-2]["locked_out"] is True


def test_a_removed_user_is_signed_out_at_the_next_click(data):
    register(data, "leaver", users.ANALYST)
    app = signed_in(users.ANALYST, name="leaver")
    assert app.metric
    users.remove(data.users_file, "leaver")
    app.run()
    assert "no longer exists" in app.warning[0].value
    assert not app.metric and app.text_input(key="sign_in_name")


# --- What each role sees -------------------------------------------------------------------------


def test_a_manager_finds_no_other_clinic_on_any_page_or_download(data, downloads):
    app = signed_in(users.MANAGER, (MANAGER_CLINIC,), name="manager-c01")
    others = other_clinics(data)
    for page_file in [page.script for page in navigation.pages_for(users.MANAGER)]:
        app.switch_page(page_file).run()
        assert not app.exception, page_file
        shown = everything_shown(app)
        assert not [other for other in others if other in shown], page_file
    assert downloads
    for served in downloads.values():
        text = served.decode() if isinstance(served, bytes) else served
        assert not [other for other in others if other in text]


def test_a_manager_sees_what_an_analyst_sees_for_that_clinic_alone(data):
    """The clinic filter comes from the manager's account: the 'ALL' rows and totals cover
    their clinic only (recomputed), not the chain."""
    manager = signed_in(users.MANAGER, (MANAGER_CLINIC,), name="manager-c01")
    analyst = signed_in(users.ANALYST, name="analyst")
    for page_file in FILTERED_PAGES:
        manager.switch_page(page_file).run()
        analyst.switch_page(page_file).run()
        chain = numbers_shown(analyst)
        analyst.sidebar.multiselect[0].set_value([MANAGER_CLINIC]).run()
        metrics, tables = numbers_shown(manager)
        expected_metrics, expected_tables = numbers_shown(analyst)
        assert metrics == expected_metrics, page_file
        assert len(tables) == len(expected_tables), page_file
        for table, expected in zip(tables, expected_tables, strict=True):
            pd.testing.assert_frame_equal(table, expected)
        assert (metrics, [t.to_csv() for t in tables]) != (
            chain[0],
            [t.to_csv() for t in chain[1]],
        ), f"{page_file}: the chain and one clinic look alike, so this test proves nothing"
    # The manager's clinic filter offers their clinic only.
    manager.switch_page("app_pages/overview.py").run()
    assert manager.sidebar.multiselect[0].options == [MANAGER_CLINIC]


def test_a_managers_maintenance_need_is_recomputed_over_their_clinic(data):
    manager = open_page("app_pages/maintenance.py", role=users.MANAGER, clinics=(MANAGER_CLINIC,))
    analyst = open_page("app_pages/maintenance.py", role=users.ANALYST)
    need = shown_table(manager, "need_by_3m").set_index("skin_type")
    chain = shown_table(analyst, "need_by_3m").set_index("skin_type")
    [(own, everyone)] = published_frame(
        data,
        "select own.courses, chain.courses from marts.maintenance_need_summary_within(?) as own"
        " join marts.maintenance_need_summary as chain using (skin_type, primary_concern)"
        " where skin_type = 'ALL' and primary_concern = 'ALL'",
        [[MANAGER_CLINIC]],
    ).values.tolist()
    assert own < everyone
    assert need.loc["All skin types", "courses"] == str(own)
    assert chain.loc["All skin types", "courses"] == str(everyone)
    assert f"Your clinics' ({MANAGER_CLINIC})" in " ".join(c.value for c in manager.caption)


def test_a_manager_cannot_open_the_analysts_or_admins_pages(data):
    app = signed_in(users.MANAGER, (MANAGER_CLINIC,), name="manager-c01")
    for page_file in [
        "app_pages/sql_console.py",
        "app_pages/data_quality.py",
        "app_pages/admin.py",
    ]:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            app.switch_page(page_file)


def test_the_worklist_shows_a_manager_their_patients_record_numbers_and_records_it(data):
    app = signed_in(users.MANAGER, (MANAGER_CLINIC,), name="manager-c01")
    app.switch_page("app_pages/maintenance.py").run()
    worklist = next(f.value for f in app.dataframe if "course_id" in f.value.columns)
    identities = identity_rows(data, MANAGER_CLINIC)
    assert not worklist.empty
    assert worklist["patient_ref"].tolist() == [identities[key] for key in worklist["patient_key"]]
    viewed = [e for e in events(data, "manager-c01") if e["event"] == audit.REIDENTIFIED][-1]
    assert (viewed["clinic"], viewed["patients"]) == (
        MANAGER_CLINIC,
        worklist["patient_key"].nunique(),
    )
    assert not [ref for ref in identities.values() if ref in data.audit_log.read_text()]


@pytest.mark.parametrize("role", [users.ANALYST, users.ADMIN])
def test_analysts_and_admins_never_see_a_patient_record_number(data, role):
    app = signed_in(role, name=f"no-identities-{role}")
    identities = set(identity_rows(data).values())
    for page_file in WAREHOUSE_PAGES:
        app.switch_page(page_file).run()
        shown = everything_shown(app)
        assert not [ref for ref in identities if ref in shown], page_file
    app.switch_page("app_pages/maintenance.py").run()
    worklist = next(f.value for f in app.dataframe if "course_id" in f.value.columns)
    assert "patient_ref" not in worklist.columns


def identity_rows(data: DataDir, clinic: str | None = None) -> dict[str, str]:
    """patient_key -> patient_ref from the restricted identity store."""
    import duckdb

    with duckdb.connect(str(data.identity), read_only=True) as con:
        rows = con.execute(
            "select distinct patient_key, patient_ref from patient_identity"
            " where clinic_id = coalesce(?, clinic_id)",
            [clinic],
        ).fetchall()
    return dict(rows)


def test_page_views_are_recorded_with_their_filters(data):
    def page_views() -> list[dict]:
        return [e for e in events(data, "filtering-analyst") if e["event"] == audit.PAGE]

    app = signed_in(users.ANALYST, name="filtering-analyst")
    app.run()  # a rerun showing the same page with the same filters: the same view
    assert [view["filters"]["clinics"] for view in page_views()] == [[]]
    app.sidebar.multiselect[0].set_value(["C02"]).run()
    assert [view["filters"]["clinics"] for view in page_views()] == [[], ["C02"]]
    assert page_views()[-1]["page"] == "Overview"
    assert page_views()[-1]["role"] == users.ANALYST


def test_the_admin_page_lists_users_without_passwords_and_reads_the_audit_log(data):
    register(data, "ann", users.MANAGER, (MANAGER_CLINIC,))
    app = signed_in(users.ADMIN, name="the-admin")
    app.switch_page("app_pages/admin.py").run()
    assert not app.exception
    people = next(f.value for f in app.dataframe if "role" in f.value.columns)
    assert people.set_index("name").loc["ann", "clinics"] == MANAGER_CLINIC
    assert "$2b$" not in everything_shown(app)
    log = next(f.value for f in app.dataframe if "event" in f.value.columns)
    assert audit.PAGE in set(log["event"]) and "the-admin" in set(log["user"])


# --- `toning users` and the files ----------------------------------------------------------------


def toning(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(TONING), *args], input=stdin, capture_output=True, text=True, check=False
    )


def test_toning_users_adds_lists_and_removes_with_clear_refusals(tmp_path):
    root = str(tmp_path / "data")
    previous = os.umask(0o022)
    try:
        added = toning(
            "users", "add", "mia", "--role", "manager", "--clinics", "C01,C02",
            "--password-stdin", "--data-dir", root, stdin="long-enough-password\n",
        )  # fmt: skip
    finally:
        os.umask(previous)
    assert added.returncode == 0, added.stderr
    users_file = DataDir(Path(root)).users_file
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(users_file.parent.stat().st_mode) == 0o700
    assert "long-enough-password" not in users_file.read_text() + added.stdout + added.stderr
    assert users.load(users_file)["mia"].password_matches("long-enough-password")
    listed = toning("users", "list", "--data-dir", root)
    assert listed.stdout.splitlines() == ["mia\tmanager\tC01,C02"]
    refusals = {
        "a manager sees only their clinics": ["nia", "--role", "manager"],
        "the password is too short": ["nia", "--role", "analyst"],
        "is not a role": ["nia", "--role", "owner"],
        "mia already exists": ["mia", "--role", "analyst"],
        "cannot be a user name": ["Nia Smith", "--role", "analyst"],
    }
    for message, arguments in refusals.items():
        password = "short\n" if message.startswith("the password") else "long-enough-password\n"
        refused = toning(
            "users", "add", *arguments, "--password-stdin", "--data-dir", root, stdin=password
        )
        assert refused.returncode == 1 and message in refused.stderr, (message, refused.stderr)
    assert toning("users", "remove", "mia", "--data-dir", root).returncode == 0
    assert "no user 'mia'" in toning("users", "remove", "mia", "--data-dir", root).stderr
    assert json.dumps(users.load(users_file)) == "{}"


def test_demo_users_are_made_for_demo_data_only(tmp_path, data):
    users_file = tmp_path / "users.yaml"
    first = users.add_demo_users(users_file, "C01")
    again = users.add_demo_users(users_file, "C01")  # a second `make demo`: new passwords
    assert sorted(first) == ["demo-admin", "demo-analyst", "demo-manager"]
    assert all(first[name] != again[name] for name in first)
    registry = users.load(users_file)
    assert registry["demo-manager"].clinics == ("C01",)
    assert registry["demo-admin"].password_matches(again["demo-admin"])
    # A data dir whose users file holds its own people gets no demo account.
    register(data, "ann", users.MANAGER, (MANAGER_CLINIC,))
    refused = toning("users", "demo", "--data-dir", str(data.root))
    assert refused.returncode == 1 and "demo accounts are only for demo data" in refused.stderr
    assert not [name for name in users.load(data.users_file) if name.startswith("demo-")]
