"""Small-cell suppression and spreadsheet-safe CSV, on hand-made tables."""

from __future__ import annotations

import csv
import io

import pandas as pd

from dashboards.disclosure import (
    COMPLEMENT,
    SMALL,
    Disclosure,
    spreadsheet_safe_csv,
    suppress,
)

RULE = Disclosure(
    counts=("patients", "sessions", "sessions_with_ae"),
    rates={"ae_rate": "sessions"},
    patients="patients",
    within=("clinic_id",),
)


def by_skin_type() -> pd.DataFrame:
    # C01: 7 patients of type VI among larger groups; C02: nothing small.
    return pd.DataFrame(
        {
            "clinic_id": ["C01", "C01", "C01", "C02", "C02"],
            "skin_type": ["IV", "V", "VI", "IV", "V"],
            "patients": [40, 15, 7, 30, 25],
            "sessions": [200, 80, 35, 150, 120],
            "sessions_with_ae": [12, 0, 3, 20, 14],
            "ae_rate": [0.06, 0.0, 3 / 35, 20 / 150, 14 / 120],
        }
    )


def test_seven_patients_show_as_under_eleven_with_no_rate_and_a_complement_hidden():
    shown = suppress(by_skin_type(), RULE).set_index(["clinic_id", "skin_type"])
    assert shown.loc[("C01", "VI"), "patients"] == SMALL
    assert pd.isna(shown.loc[("C01", "VI"), "ae_rate"])
    # C01's total patients (62) minus IV and V would give VI: the next smallest cell goes too.
    assert shown.loc[("C01", "V"), "patients"] == COMPLEMENT
    assert shown.loc[("C01", "IV"), "patients"] == "40"
    # Three AE sessions are small; the smallest other non-zero count in C01 is hidden with them.
    assert shown.loc[("C01", "VI"), "sessions_with_ae"] == SMALL
    assert shown.loc[("C01", "IV"), "sessions_with_ae"] == COMPLEMENT
    assert shown.loc[("C01", "V"), "sessions_with_ae"] == "0"  # a zero reveals nothing
    # C02 has no small cell: shown as it is.
    assert shown.loc[("C02", "IV"), ["patients", "sessions", "sessions_with_ae"]].tolist() == [
        "30",
        "150",
        "20",
    ]
    assert shown.loc[("C02", "IV"), "ae_rate"] == 20 / 150


def test_a_rate_on_fewer_than_eleven_is_hidden_even_with_many_patients():
    frame = pd.DataFrame(
        {"patients": [50], "sessions": [9], "sessions_with_ae": [0], "ae_rate": [0.0]}
    )
    shown = suppress(frame, RULE)
    assert pd.isna(shown.loc[0, "ae_rate"]) and shown.loc[0, "sessions"] == SMALL


def test_two_small_cells_in_a_group_need_no_complement():
    frame = by_skin_type()
    frame.loc[1, "patients"] = 4  # C01: V and VI both small
    shown = suppress(frame, RULE)
    assert shown["patients"].tolist()[:3] == ["40", SMALL, SMALL]


def test_formula_like_text_is_plain_text_in_the_csv():
    hostile = pd.DataFrame(
        {
            "clinic_id": ['=HYPERLINK("http://evil.example","x")', "+1", "-2", "@SUM(A1)", "C01"],
            "note": ["\tx", "\rx", "fine", None, "a=b"],
            "count": [-1, 2, 3, 4, 5],
        }
    )
    rows = list(csv.DictReader(io.StringIO(spreadsheet_safe_csv(hostile), newline="")))
    cells = {name: [row[name] for row in rows] for name in hostile.columns}
    assert cells["clinic_id"] == [
        '\'=HYPERLINK("http://evil.example","x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "C01",
    ]
    assert cells["note"] == ["'\tx", "'\rx", "fine", "", "a=b"]
    assert cells["count"] == ["-1", "2", "3", "4", "5"]  # numbers stay numbers


def test_a_rate_that_would_give_back_a_hidden_count_is_hidden():
    """3 AE sessions of 35 would come back as rate x sessions: the rate goes with the count,
    and so does that of the complement-hidden cell."""
    rule = Disclosure(
        counts=RULE.counts,
        rates=RULE.rates,
        numerators={"ae_rate": ("sessions_with_ae",)},
        patients="patients",
        within=("clinic_id",),
    )
    frame = by_skin_type()
    frame.loc[2, "patients"] = 20  # C01 VI now has enough patients and sessions for a rate
    shown = suppress(frame, rule).set_index(["clinic_id", "skin_type"])
    assert shown.loc[("C01", "VI"), "sessions_with_ae"] == SMALL
    assert pd.isna(shown.loc[("C01", "VI"), "ae_rate"])
    assert shown.loc[("C01", "IV"), "sessions_with_ae"] == COMPLEMENT
    assert pd.isna(shown.loc[("C01", "IV"), "ae_rate"])
    assert shown.loc[("C01", "V"), "ae_rate"] == 0.0  # zero events: nothing to give back
    assert shown.loc[("C02", "IV"), "ae_rate"] == 20 / 150


def test_an_analysts_column_names_are_neutralised_too_even_when_two_are_alike():
    frame = pd.DataFrame([["=1+1", "@x"]], columns=["=cmd()", "=cmd()"])
    rows = list(csv.reader(io.StringIO(spreadsheet_safe_csv(frame), newline="")))
    assert rows == [["'=cmd()", "'=cmd()"], ["'=1+1", "'@x"]]
