"""The Consultation aid over the demo warehouse: what a provider reads equals the consultation
marts' cell for the patient chosen (chain-wide, or a manager's clinics through the marts'
`_within` table macros), a figure resting on too few courses says so, a planned dose in a band
of raised risk warns and one in the reference band does not; the Safety page's fluence bands
are fct_sessions' own; and the in-words helpers on hand-made values."""

from __future__ import annotations

import io
import math
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import consultation_words as words
from tests.app_testing import downloaded, open_page, published_frame, shown_table
from toning import audit, users
from toning.config import DataDir

PAGE = "app_pages/consultation.py"
MANAGER_CLINIC = "C01"
RATES = {
    "completion_rate": "courses",
    "response_rate": "courses_measured",
    "course_ae_rate": "courses",
    "course_pigmentary_rate": "courses",
}
EVENTS = {
    "completion_rate": "courses_completed",
    "response_rate": "responders",
    "course_ae_rate": "courses_with_ae",
    "course_pigmentary_rate": "courses_with_pigmentary_ae",
}
LINE = re.compile(r":material/\w+: \*\*(?P<label>.+?)\.\*\* (?P<sentence>.*)", re.DOTALL)


@pytest.fixture
def warehouse(demo_warehouse, monkeypatch) -> DataDir:
    _, data = demo_warehouse
    monkeypatch.setenv("TONING_DATA_DIR", str(data.root))
    return data


def mart(data: DataDir, sql: str, params: list | None = None) -> pd.DataFrame:
    return published_frame(data, sql, params)


def choose(page: AppTest, skin_type: str, concern: str, laser_type: str = "ALL", **planned):
    """The provider's choices, as a person makes them one widget at a time."""
    page.selectbox(key="consultation_skin_type").select(skin_type).run()
    page.selectbox(key="consultation_concern").select(concern).run()
    page.selectbox(key="consultation_laser_type").select(laser_type).run()
    for name in ("fluence", "interval"):
        if name in planned:
            page.number_input(key=f"consultation_{name}").set_value(planned[name]).run()
    assert not page.exception, page.exception
    return page


def sentences(page: AppTest) -> dict[str, str]:
    """Each expectation's sentence by its label ('Improvement', 'Comfort', ...)."""
    lines = [LINE.match(markdown.value) for markdown in page.markdown]
    return {line["label"]: line["sentence"] for line in lines if line}


def figures(page: AppTest) -> pd.Series:
    """The one row of 'The figures behind these sentences' (course figures)."""
    return shown_table(page, "course_ae_rate").iloc[0]


def cell(data: DataDir, where: str, params: list | None = None) -> pd.Series:
    found = mart(
        data,
        f"select * from marts.expected_course_outcomes where {where} order by courses desc limit 1",
        params,
    )
    assert not found.empty, f"the demo warehouse has no cell where {where}: choose another"
    return found.iloc[0]


def assert_rate_sentence(sentence: str, row: pd.Series, rate: str, based_on: str) -> None:
    share, interval = words.share_in_words(row[rate], row[f"{rate}_ci_low"], row[f"{rate}_ci_high"])
    assert sentence.startswith(share[:1].upper() + share[1:] + " similar patients"), sentence
    assert f"({interval}), based on {row[RATES[rate]]:,} {based_on}" in sentence, sentence


# --- What a provider reads ---------------------------------------------------------------------


def test_the_sentences_say_the_marts_cell_for_the_patient_chosen(warehouse, downloads):
    """Any laser type: the largest cell with every figure given and no count small (its 'ALL'
    row is never the one hidden to protect a laser type's small count)."""
    row = cell(
        warehouse,
        "laser_type = 'ALL' and response_rate is not null and responders >= 11"
        " and courses_with_ae >= 11 and courses_with_pigmentary_ae >= 11"
        " and need_by_12m is not null and courses - courses_completed >= 11",
    )
    page = choose(open_page(PAGE), row.skin_type, row.primary_concern)
    said = sentences(page)
    assert_rate_sentence(said["Finishing the course"], row, "completion_rate", "finished courses")
    assert_rate_sentence(said["Improvement"], row, "response_rate", "completed courses measured")
    assert "improved by half or more" in said["Improvement"] or row.instrument == "gais"
    assert_rate_sentence(said["Side effects"], row, "course_ae_rate", "courses")
    assert_rate_sentence(said["Pigmentary side effects"], row, "course_pigmentary_rate", "courses")
    assert said["Sessions"] == words.sessions_in_words(
        row.sessions_to_completion_median,
        row.sessions_to_completion_p25,
        row.sessions_to_completion_p75,
        row.courses,
    )
    share, _ = words.share_in_words(row.need_by_12m)
    assert said["Maintenance"].startswith(share[:1].upper() + share[1:])
    assert f"based on {row.maintenance_courses:,} completed first courses" in said["Maintenance"]
    assert "all laser types" in said["Maintenance"]

    table = shown_table(page, "course_ae_rate")
    shown = table.iloc[0]
    for rate in RATES:
        for column in (rate, f"{rate}_ci_low", f"{rate}_ci_high"):
            assert shown[column] == row[column], column
    assert (shown.courses, shown.courses_measured) == (str(row.courses), str(row.courses_measured))
    assert "courses_completed" not in shown.index  # with the finished courses: the dropped out
    csv = downloaded(page, "Download what similar patients experienced as CSV", downloads)
    pd.testing.assert_frame_equal(
        pd.read_csv(io.StringIO(csv)), pd.read_csv(io.StringIO(table.to_csv(index=False)))
    )


def small_or_complemented(group: pd.DataFrame, row: pd.Series, column: str) -> bool:
    """Whether small-cell suppression hides this count: it is 1-10, or it is the only small one
    of its skin type and concern's laser types (then the next smallest is hidden with it)."""
    small = group[column].between(1, 10)
    return 1 <= row[column] <= 10 or small.sum() == 1


def test_a_laser_types_figures_are_its_cell_or_hidden_for_a_reason(warehouse):
    row = cell(warehouse, "laser_type <> 'ALL' and response_rate is not null")
    group = mart(
        warehouse,
        "select *, courses - courses_completed as courses_dropped_out"
        " from marts.expected_course_outcomes where skin_type = ? and primary_concern = ?",
        [row.skin_type, row.primary_concern],
    )
    row = group[group["laser_type"] == row.laser_type].iloc[0]
    page = choose(open_page(PAGE), row.skin_type, row.primary_concern, row.laser_type)
    shown = figures(page)
    assert shown.courses in (str(row.courses), "hidden")
    counts = {rate: [base, EVENTS[rate]] for rate, base in RATES.items()}
    counts["completion_rate"].append("courses_dropped_out")
    for rate in RATES:
        if pd.notna(shown[rate]):
            assert shown[rate] == row[rate], rate
        elif pd.notna(row[rate]):  # given by the mart, left out to protect patients
            assert any(small_or_complemented(group, row, c) for c in counts[rate]), rate
    assert pd.notna(shown.response_rate) or shown.responders in ("<11", "hidden")


def test_a_figure_resting_on_too_few_courses_says_so_instead_of_a_number(warehouse):
    few = cell(warehouse, "laser_type = 'ALL' and courses between 11 and 19")
    page = choose(open_page(PAGE), few.skin_type, few.primary_concern)
    said = sentences(page)
    assert pd.isna(few.completion_rate)  # the mart gives none under 20 courses
    assert said["Finishing the course"] == f"Too few courses (n = {few.courses}) to say."
    assert said["Side effects"] == f"Too few courses (n = {few.courses}) to say."
    assert not re.search(r"\d+ in 10", said["Side effects"] + said["Finishing the course"])
    assert figures(page)[["completion_rate", "course_ae_rate"]].isna().all()

    fewer = cell(warehouse, "laser_type = 'ALL' and courses between 1 and 10")
    choose(page, fewer.skin_type, fewer.primary_concern)
    said = sentences(page)
    assert said["Side effects"] == "Too few courses (n < 11) to say."  # never the exact n
    assert str(fewer.courses) not in said["Side effects"]


def test_no_finished_course_of_the_cell_is_said_plainly(warehouse):
    cells = mart(warehouse, "select * from marts.expected_course_outcomes")
    lasers = sorted(set(cells["laser_type"]) - {"ALL"})
    present = set(
        zip(cells["skin_type"], cells["primary_concern"], cells["laser_type"], strict=True)
    )
    missing = next(
        (skin, concern, laser)
        for skin in ("I", "II", "III", "IV", "V", "VI")
        for concern in sorted(set(cells["primary_concern"]))
        for laser in lasers
        if (skin, concern, laser) not in present
    )
    page = choose(open_page(PAGE), *missing)
    assert any("No finished course of a patient" in info.value for info in page.info)
    assert "Improvement" not in sentences(page)


# --- The planned dose --------------------------------------------------------------------------


def value_in_band(data: DataDir, factor: str, band: str, laser_type: str, skin_type: str):
    """A planned value the published rule puts in the band (marts.fluence_band over the laser
    type and skin type's range, in steps of 0.05 J/cm²; marts.interval_band, in days)."""
    if factor == "interval":
        sql = "select d as v from range(1, 366) t(d) where marts.interval_band(d) = ? order by d"
        params = [band]
    else:
        sql = (
            "select round(x * 0.05, 2) as v from range(1, 200) t(x), reference.laser_fluence_ranges"
            " where laser_type = ? and marts.skin_type_label(fitzpatrick) = ?"
            " and marts.fluence_band(round(x * 0.05, 2), fluence_min_j_cm2, fluence_max_j_cm2) = ?"
            " order by x"
        )
        params = [laser_type, skin_type, band]
    values = mart(data, sql, params)["v"].tolist()
    assert values, f"no {factor} value falls in {band}"
    return values[len(values) // 2] if factor == "fluence" else int(values[0])


def test_a_planned_dose_in_a_band_of_raised_risk_warns_and_the_reference_band_does_not(warehouse):
    raised = mart(
        warehouse,
        "select * from marts.safety_dose_response where is_raised_risk and skin_type <> 'ALL'"
        " order by factor desc, sessions desc",
    )
    assert not raised.empty, "no band of raised risk in the demo warehouse to warn about"
    band = raised.iloc[0]
    concern = mart(warehouse, "select min(primary_concern) from marts.expected_course_outcomes")
    value = value_in_band(warehouse, band.factor, band.band, band.laser_type, band.skin_type)
    page = choose(
        open_page(PAGE),
        band.skin_type,
        concern.iloc[0, 0],
        band.laser_type,
        **{band.factor: value},
    )
    [warning] = page.warning
    assert f"**{band.band_label}**" in warning.value
    assert "pigmentary side effect more often than in the reference band" in warning.value
    shown = shown_table(page, "is_raised_risk").set_index("band").loc[band.band]
    assert shown.is_raised_risk and shown.sessions in (str(band.sessions), "<11", "hidden")
    if pd.notna(shown.odds_ratio):
        assert shown.odds_ratio == band.odds_ratio
        assert (
            words.odds_ratio_in_words(
                band.odds_ratio, band.odds_ratio_ci_low, band.odds_ratio_ci_high
            )
            in warning.value
        )
    else:  # its events (or the reference band's) are fewer than 11
        assert "the odds ratio is not shown, to protect patients" in warning.value
    sessions = words.count_in_words(shown.sessions)
    assert f"from {sessions} sessions in the band" in warning.value

    reference = value_in_band(
        warehouse, band.factor, band.reference_band, band.laser_type, band.skin_type
    )
    page.number_input(key=f"consultation_{band.factor}").set_value(reference).run()
    assert not page.exception
    assert not page.warning
    assert any("the reference band the others are compared with" in i.value for i in page.info)


def test_the_band_table_is_the_marts_bands_for_the_skin_type(warehouse):
    bands = mart(
        warehouse,
        "select * from marts.safety_dose_response where laser_type = 'qs_nd_yag'"
        " and skin_type = 'III' order by factor, band_order",
    )
    assert not bands.empty
    concern = mart(warehouse, "select min(primary_concern) from marts.expected_course_outcomes")
    page = choose(open_page(PAGE), "III", concern.iloc[0, 0], "qs_nd_yag")
    shown = shown_table(page, "is_raised_risk")
    assert shown["band_label"].tolist() == bands["band_label"].tolist()
    assert shown["is_raised_risk"].tolist() == bands["is_raised_risk"].tolist()
    for (_, mine), (_, exact) in zip(shown.iterrows(), bands.iterrows(), strict=True):
        assert mine.sessions in (str(exact.sessions), "<11", "hidden")
        if pd.notna(mine.pigmentary_rate):
            assert mine.pigmentary_rate == exact.pigmentary_rate
            assert exact.sessions_with_pigmentary_ae >= 11 or exact.sessions_with_pigmentary_ae == 0
        if pd.notna(mine.odds_ratio):
            assert mine.odds_ratio == exact.odds_ratio
    assert shown.loc[shown["is_reference"], "odds_ratio"].eq(1.0).all()


# --- Who sees what -----------------------------------------------------------------------------


def test_a_manager_reads_their_clinics_figures_not_the_chains(warehouse):
    own = mart(
        warehouse,
        "select * from marts.expected_course_outcomes_within(?) where laser_type = 'ALL'"
        " and completion_rate is not null and courses_completed >= 11"
        " and courses - courses_completed >= 11 order by courses desc limit 1",
        [[MANAGER_CLINIC]],
    ).iloc[0]
    chain = cell(
        warehouse,
        "laser_type = 'ALL' and skin_type = ? and primary_concern = ?",
        [own.skin_type, own.primary_concern],
    )
    assert own.courses < chain.courses
    page = open_page(PAGE, role=users.MANAGER, clinics=(MANAGER_CLINIC,))
    choose(page, own.skin_type, own.primary_concern)
    shown = figures(page)
    assert shown.courses == str(own.courses) != str(chain.courses)
    for rate in RATES:
        assert pd.isna(shown[rate]) or shown[rate] == own[rate], rate
    assert shown.completion_rate == own.completion_rate != chain.completion_rate
    said = sentences(page)
    assert f"based on {own.courses:,} finished courses" in said["Finishing the course"]

    comfort = mart(
        warehouse,
        "select * from marts.comfort_by_numbing_cream_within(?) where laser_type = 'ALL'"
        " and skin_type = ?",
        [[MANAGER_CLINIC], own.skin_type],
    ).iloc[0]
    pain = shown_table(page, "mean_pain_with_cream").iloc[0]
    assert pain.sessions_with_cream == str(comfort.sessions_with_cream)
    assert pain.mean_pain_with_cream == comfort.mean_pain_with_cream
    recorded = mart(
        warehouse,
        "select contraindication, cast(sum(consultations) as bigint) as n"
        " from marts.consultation_contraindications"
        " where clinic_id = ? and skin_type = ? and primary_concern = ? group by 1",
        [MANAGER_CLINIC, own.skin_type, own.primary_concern],
    ).set_index("contraindication")["n"]
    listed = shown_table(page, "decided_proceed").set_index("contraindication")["consultations"]
    assert sorted(listed.index) == sorted(recorded.index)
    for contraindication, n in recorded.items():
        assert listed[contraindication] in (str(n) if n >= 11 else "<11", "hidden")
    captions = " ".join(caption.value for caption in page.caption)
    assert f"Your clinics' ({MANAGER_CLINIC}) record only" in captions


def test_the_page_view_is_recorded_with_the_patient_chosen(warehouse):
    page = open_page(PAGE, role=users.ANALYST, name="consultation-analyst")
    [concern] = mart(
        warehouse, "select max(primary_concern) from marts.expected_course_outcomes"
    ).iloc[0]
    page.selectbox(key="consultation_skin_type").select("IV").run()
    page.selectbox(key="consultation_concern").select(concern).run()
    page.number_input(key="consultation_interval").set_value(21).run()
    views = [
        event
        for event in audit.read(warehouse.audit_log)
        if event["user"] == "consultation-analyst" and event["event"] == audit.PAGE
    ]
    assert views[-1]["page"] == "Consultation aid"
    assert views[-1]["filters"] == {
        "skin_type": "IV",
        "concern": concern,
        "laser_type": "ALL",
        "planned_fluence": None,
        "planned_interval": 21,
    }


# --- One band rule -----------------------------------------------------------------------------


def test_the_safety_pages_fluence_bands_are_the_sessions_own(warehouse):
    page = open_page("app_pages/safety.py")
    shown = next(
        frame.value
        for frame in page.dataframe
        if "fluence_band" in frame.value.columns and "ae_session_rate" in frame.value.columns
    )
    sessions = mart(
        warehouse,
        """
        select coalesce(sessions.laser_type, 'unknown') as laser_type,
            case
                when sessions.fluence_j_cm2 is null then 'no fluence recorded'
                when sessions.fluence_band is null then 'no reference range'
                else bands.band_label
            end as fluence_band,
            count(*) as sessions
        from marts.fct_sessions as sessions
        left join reference.dose_response_bands as bands
            on bands.factor = 'fluence' and sessions.fluence_band = bands.band
        group by all
        """,
    )
    expected = sessions.set_index(["laser_type", "fluence_band"])["sessions"]
    listed = shown.set_index(["laser_type", "fluence_band"])["sessions"]
    assert sorted(listed.index) == sorted(expected.index)
    for key, n in expected.items():
        assert listed[key] in (str(n) if n >= 11 else "<11", "hidden"), key
    for _, bands in shown.groupby("laser_type"):  # in the seed's order, then those without
        labels = bands["fluence_band"].tolist()
        unbanded = [label for label in labels if label.startswith("no ")]
        assert labels[len(labels) - len(unbanded) :] == unbanded


# --- In words ----------------------------------------------------------------------------------


def test_a_share_and_its_interval_in_words():
    assert words.share_in_words(0.62, 0.51, 0.71) == ("about 6 in 10", "95 % CI 5 to 7 in 10")
    # A small risk in hundreds, not rounded to 0 in 10.
    assert words.share_in_words(0.036, 0.012, 0.09) == ("about 4 in 100", "95 % CI 1 to 9 in 100")
    # A bound outside 15-85 in 100 puts the whole figure in hundreds.
    assert words.share_in_words(0.2, 0.12, 0.3) == ("about 20 in 100", "95 % CI 12 to 30 in 100")
    assert words.share_in_words(0.0, 0.0, 0.07) == ("no", "95 % CI 0 to 7 in 100")
    assert words.share_in_words(0.003, 0.001, 0.01)[0] == "fewer than 1 in 100"
    assert words.share_in_words(1.0, 0.83, 1.0)[0] == "all"
    assert words.share_in_words(0.45) == ("about 5 in 10", None)  # rounds half up
    assert words.share_in_words(0.5, math.nan, math.nan) == ("about 5 in 10", None)


def test_an_expectation_in_words_with_what_it_rests_on():
    said = words.figure_in_words(
        "similar patients improved by half or more on mMASI",
        0.62,
        0.51,
        0.71,
        "143",
        based_on="courses",
        events="89",
    )
    assert said == (
        "About 6 in 10 similar patients improved by half or more on mMASI"
        " (95 % CI 5 to 7 in 10), based on 143 courses."
    )
    statement = "similar patients had a pigmentary side effect"
    assert words.figure_in_words(statement, None, None, None, 7, withheld=True) == (
        "Too few courses (n = 7) to say."
    )
    assert words.figure_in_words(statement, None, None, None, "<11", withheld=True) == (
        "Too few courses (n < 11) to say."
    )
    assert words.figure_in_words(statement, None, None, None, "1234", events="<11") == (
        "Fewer than 11 of 1,234 similar patients had a pigmentary side effect; the exact share"
        " is not shown, to protect patients."
    )
    assert words.figure_in_words(statement, None, None, None, "hidden", events="40") == (
        words.NOT_SHOWN
    )
    assert words.too_few_in_words("0") == "no similar courses in the record yet"
    assert words.too_few_in_words(17, "sessions") == "too few sessions (n = 17) to say"


def test_sessions_in_words():
    assert words.sessions_in_words(6.0, 5.0, 8.0, "151") == (
        "Usually 6 sessions; half of those who completed their course needed between 5 and 8,"
        " based on the completed ones among 151 finished courses."
    )
    assert words.sessions_in_words(5.5, 5.0, 5.0, "40").startswith(
        "Usually 5 or 6 sessions; at least half of those who completed their course needed"
        " exactly 5"
    )
    assert words.sessions_in_words(None, None, None, "25", withheld=True) == (
        "Too few of the 25 finished courses were completed to say."
    )
    assert words.sessions_in_words(None, None, None, "<11", withheld=True) == (
        "Too few finished courses (n < 11) to say."
    )


def test_pain_with_and_without_numbing_cream_in_words():
    comfort = pd.Series(
        {
            "sessions_with_cream": "1378",
            "mean_pain_with_cream": 3.108,
            "sessions_without_cream": "1536",
            "mean_pain_without_cream": 4.982,
            "pain_difference": -1.874,
            "pain_difference_ci_low": -1.977,
            "pain_difference_ci_high": -1.771,
        }
    )
    assert words.pain_in_words(comfort) == (
        "With numbing cream, similar patients rated their pain after a session 3.1 out of 10 on"
        " average (1,378 sessions); without it, 5.0 (1,536 sessions): 1.9 points less with cream"
        " (95 % CI 1.8 to 2.0 points less)."
    )
    crossing = words.pain_difference_in_words(-0.2, -0.6, 0.3)
    assert (
        crossing == "0.2 points less with cream (95 % CI from 0.6 points less to 0.3 points more)"
    )
    assert words.pain_difference_in_words(-1.3, math.nan, math.nan) == (
        "1.3 points less with cream (too few sessions on one side for a 95 % interval)"
    )
    few = comfort.copy()
    few[["mean_pain_with_cream", "pain_difference"]] = math.nan
    few["sessions_with_cream"] = "<11"
    assert words.pain_in_words(few) == (
        "With numbing cream, too few sessions (n < 11) to say; without it, similar patients"
        " rated their pain after a session 5.0 out of 10 on average (1,536 sessions)."
    )


def band(**overrides) -> pd.Series:
    values = {
        "band_label": "7 to 13 days",
        "reference_label": "14 to 27 days",
        "is_reference": False,
        "sessions": "970",
        "odds_ratio": 5.36,
        "odds_ratio_ci_low": 1.1,
        "odds_ratio_ci_high": 26.11,
    }
    return pd.Series({**values, **overrides})


def test_a_raised_risk_in_words_quotes_the_odds_ratio_or_says_why_not():
    planned = "A planned interval of 10 days"
    who = "patients of skin type III treated with the Q-switched Nd:YAG"
    warning = words.raised_risk_in_words(planned, band(), who)
    assert warning.startswith(f"{planned} lies in the band **7 to 13 days**.")
    assert (
        "more often than in the reference band (14 to 27 days): odds ratio 5.36"
        " (95 % CI 1.10 to 26.11), from 970 sessions in the band." in warning
    )
    hidden = words.raised_risk_in_words(planned, band(odds_ratio=math.nan), who)
    assert "odds ratio 5" not in hidden and "the odds ratio is not shown" in hidden
    assert words.band_in_words(planned, band(is_reference=True)).endswith(
        "the reference band the others are compared with."
    )
    assert words.band_in_words(planned, band(odds_ratio=1.2, odds_ratio_ci_low=0.5)).endswith(
        "(14 to 27 days): odds ratio 1.20 (95 % CI 0.50 to 26.11)."
    )


def test_what_a_responder_did_in_words():
    assert words.responder_in_words("relative_reduction", 0.5, "mMASI") == (
        "improved by half or more on mMASI"
    )
    assert words.responder_in_words("relative_reduction", 0.3, "mMASI") == (
        "improved by 30% or more on mMASI"
    )
    assert words.responder_in_words("end_score_at_most", 2.0, "the GAIS") == (
        "ended the course scoring 2 or better on the GAIS"
    )


def test_the_page_opens_on_the_most_common_patient_of_the_record(warehouse):
    """A provider's first view has figures: the skin type and concern with the most finished
    courses, not the first of each list (which may have none)."""
    [(skin_type, concern)] = mart(
        warehouse,
        "select skin_type, primary_concern from marts.expected_course_outcomes"
        " where laser_type = 'ALL' order by courses desc limit 1",
    ).itertuples(index=False)
    page = open_page(PAGE)
    assert page.selectbox(key="consultation_skin_type").value == skin_type
    assert page.selectbox(key="consultation_concern").value == concern
