"""The consultation aid's figures in words a patient understands: a share as "about 6 in 10"
with its 95 % interval, sessions as "usually 6", pain with and without numbing cream, an odds
ratio; and what to say instead of a figure that rests on too few courses, or that is left out to
protect patients. Pure functions over the values dashboards/data.py hands out (suppressed: a
count is text there, `<11`, `hidden` or the number)."""

from __future__ import annotations

import math

import pandas as pd

from dashboards.disclosure import COMPLEMENT, SMALL

# A share is said in tens when it and its interval lie between 15 and 85 in 100 (each rounds to
# 2-8 in 10); otherwise in hundreds, so that a small risk is not rounded to "0 in 10".
TENS_FROM, TENS_TO = 0.15, 0.85
NOT_SHOWN = "Not shown, to protect patients: it would reveal a number under 11."


def given(value: object) -> bool:
    """Whether a figure has a value (not None, not NaN)."""
    return value is not None and not pd.isna(value)


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


def count_in_words(count: object) -> str:
    """A count as shown: `1,378`, `<11`, `hidden`."""
    text = "" if not given(count) else str(count)
    if text.isdigit():
        return f"{int(text):,}"
    if isinstance(count, int | float) and given(count):
        return f"{int(count):,}"
    return text


def _as_number(count: object) -> int | None:
    """A count's number, or None where it is shown as `<11` or `hidden`."""
    text = count_in_words(count).replace(",", "")
    return int(text) if text.isdigit() else None


def _share(rate: float, per: int) -> str:
    if rate == 0:
        return "no"
    if rate == 1:
        return "all"
    if rate * per < 0.5:
        return f"fewer than 1 in {per}"
    if rate * per >= per - 0.5:
        return f"more than {per - 1} in {per}"
    return f"about {_half_up(rate * per)} in {per}"


def share_in_words(
    rate: float, low: float | None = None, high: float | None = None
) -> tuple[str, str | None]:
    """A share and its 95 % interval: (0.62, 0.51, 0.71) -> ("about 6 in 10", "95 % CI 5 to 7
    in 10"); in hundreds when the share or a bound lies outside 15-85 in 100. No interval when
    no bounds are given."""
    bounds = [value for value in (low, high) if given(value)]
    per = 10 if all(TENS_FROM <= value <= TENS_TO for value in (rate, *bounds)) else 100
    if len(bounds) < 2:
        return _share(rate, per), None
    return _share(rate, per), f"95 % CI {_half_up(low * per)} to {_half_up(high * per)} in {per}"


def too_few_in_words(count: object, unit: str = "courses") -> str:
    """What to say instead of a figure resting on too few: 'too few courses (n = 7) to say',
    'too few courses (n < 11) to say' for a count shown as `<11`."""
    text = count_in_words(count)
    if text == SMALL:
        return f"too few {unit} (n < 11) to say"
    if text == COMPLEMENT or text == "":
        return "not shown, to protect patients"
    if text == "0":
        return f"no similar {unit} in the record yet"
    return f"too few {unit} (n = {text}) to say"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def figure_in_words(
    statement: str,
    rate: float | None,
    low: float | None,
    high: float | None,
    count: object,
    based_on: str = "courses",
    events: object = None,
    withheld: bool = False,
    unit: str = "courses",
) -> str:
    """One expectation as a sentence: 'About 6 in 10 similar patients improved by half or more
    on mMASI (95 % CI 5 to 7 in 10), based on 143 courses.' `statement` says who did what
    ('similar patients improved ...'), `count` the courses it rests on (`based_on` names
    them), `events` its numerator as shown. `withheld`: the mart gives no figure (too few
    `unit`); a figure left out by small-cell suppression says so."""
    if withheld:
        return _sentence(too_few_in_words(count, unit))
    if not given(rate):
        if count_in_words(events) == SMALL and _as_number(count):
            return (
                f"Fewer than 11 of {count_in_words(count)} {statement}; the exact share is not "
                "shown, to protect patients."
            )
        return NOT_SHOWN
    share, interval = share_in_words(rate, low, high)
    shown_interval = f" ({interval})" if interval else ""
    return _sentence(
        f"{share} {statement}{shown_interval}, based on {count_in_words(count)} {based_on}"
    )


def _sessions(value: float) -> str:
    """A number of sessions as said: 6, or '5 or 6' for a median between two courses."""
    if value % 1 == 0.5:
        return f"{math.floor(value)} or {math.ceil(value)}"
    return str(_half_up(value))


def sessions_in_words(
    median: float | None,
    p25: float | None,
    p75: float | None,
    finished: object,
    withheld: bool = False,
) -> str:
    """Sessions to completion: 'Usually 6 sessions; half of those who completed their course
    needed between 5 and 8, based on the completed ones among 151 finished courses.' The
    completed courses are not counted out loud: with the finished ones they would give the
    dropped-out courses back."""
    if withheld:
        if _as_number(finished):
            return (
                f"Too few of the {count_in_words(finished)} finished courses were completed to say."
            )
        return _sentence(too_few_in_words(finished, "finished courses"))
    if not given(median):
        return NOT_SHOWN
    low, high = _half_up(p25), _half_up(p75)
    spread = (
        f"at least half of those who completed their course needed exactly {low}"
        if low == high
        else f"half of those who completed their course needed between {low} and {high}"
    )
    return (
        f"Usually {_sessions(median)} sessions; {spread}, based on the completed ones among "
        f"{count_in_words(finished)} finished courses."
    )


def _points(value: float) -> str:
    return f"{abs(value):.1f} points {'less' if value < 0 else 'more'}"


def pain_difference_in_words(difference: float, low: float | None, high: float | None) -> str:
    """'1.9 points less with cream (95 % CI 1.8 to 2.0 points less)': with minus without."""
    said = "the same with cream" if difference == 0 else f"{_points(difference)} with cream"
    if not (given(low) and given(high)):
        return f"{said} (too few sessions on one side for a 95 % interval)"
    if high < 0:
        interval = f"{abs(high):.1f} to {abs(low):.1f} points less"
    elif low > 0:
        interval = f"{low:.1f} to {high:.1f} points more"
    else:
        interval = f"from {_points(low)} to {_points(high)}"
    return f"{said} (95 % CI {interval})"


def pain_in_words(comfort: pd.Series) -> str:
    """A comfort_by_numbing_cream row (suppressed) as a sentence: the mean pain after a session
    with numbing cream and without, the sessions behind each, and their difference."""
    sides: list[str] = []
    for side, words in (("with_cream", "with numbing cream"), ("without_cream", "without it")):
        mean, count = comfort[f"mean_pain_{side}"], comfort[f"sessions_{side}"]
        if not given(mean):
            sides.append(f"{words}, {too_few_in_words(count, 'sessions')}")
        elif sides and "rated" in sides[0]:
            sides.append(f"{words}, {mean:.1f} ({count_in_words(count)} sessions)")
        else:
            sides.append(
                f"{words}, similar patients rated their pain after a session {mean:.1f} out of "
                f"10 on average ({count_in_words(count)} sessions)"
            )
    said = "; ".join(sides)
    difference = comfort["pain_difference"]
    if given(difference):
        said += ": " + pain_difference_in_words(
            difference, comfort["pain_difference_ci_low"], comfort["pain_difference_ci_high"]
        )
    return _sentence(said)


def odds_ratio_in_words(odds_ratio: float | None, low: float | None, high: float | None) -> str:
    """'odds ratio 1.99 (95 % CI 1.04 to 3.80)'; empty when the odds ratio is not given."""
    if not given(odds_ratio):
        return ""
    if not (given(low) and given(high)):
        return f"odds ratio {odds_ratio:.2f}"
    return f"odds ratio {odds_ratio:.2f} (95 % CI {low:.2f} to {high:.2f})"


def responder_in_words(rule: str | None, threshold: float | None, instrument: str) -> str:
    """What a responder did, from reference.instruments' rule: 'improved by half or more on
    mMASI'."""
    if rule == "relative_reduction" and given(threshold):
        amount = "half" if threshold == 0.5 else f"{threshold:.0%}"
        return f"improved by {amount} or more on {instrument}"
    if rule == "end_score_at_most" and given(threshold):
        return f"ended the course scoring {threshold:g} or better on {instrument}"
    if rule == "end_score_at_least" and given(threshold):
        return f"ended the course scoring {threshold:g} or more on {instrument}"
    return f"responded on {instrument}"


def _rates_said(instrument: str, responder: str) -> dict[str, tuple[str, ...]]:
    """Each share of an expected_course_outcomes cell: its label -> (its column, who did what,
    the count it rests on, those courses named, its numerator, the courses too few of)."""
    measured = f"courses measured on {instrument}"
    return {
        "Finishing the course": (
            "completion_rate",
            "similar patients finished their planned course rather than stopping early",
            "courses",
            "finished courses",
            "courses_completed",
            "courses",
        ),
        "Improvement": (
            "response_rate",
            f"similar patients {responder}",
            "courses_measured",
            f"completed {measured}",
            "responders",
            measured,
        ),
        "Side effects": (
            "course_ae_rate",
            "similar patients had a side effect during their course beyond the expected brief "
            "redness or swelling",
            "courses",
            "courses",
            "courses_with_ae",
            "courses",
        ),
        "Pigmentary side effects": (
            "course_pigmentary_rate",
            "similar patients had a pigmentary side effect (darker or lighter patches) during "
            "their course",
            "courses",
            "courses",
            "courses_with_pigmentary_ae",
            "courses",
        ),
    }


def expectations_in_words(
    shown: pd.Series, withheld: frozenset[str] | set[str], instrument: str
) -> dict[str, str]:
    """Each expectation of an expected_course_outcomes cell (as data.expected_outcomes hands
    it out) as a sentence, by its label: sessions, finishing the course, improvement on
    `instrument` (as it is called to a patient), side effects, pigmentary side effects, and
    maintenance (one figure for all laser types)."""
    responder = responder_in_words(
        shown.get("responder_rule"), shown.get("responder_threshold"), instrument
    )
    said = {
        "Sessions": sessions_in_words(
            shown["sessions_to_completion_median"],
            shown["sessions_to_completion_p25"],
            shown["sessions_to_completion_p75"],
            shown["courses"],
            withheld="sessions_to_completion" in withheld,
        )
    }
    for label, (rate, statement, count, based_on, events, unit) in _rates_said(
        instrument, responder
    ).items():
        said[label] = figure_in_words(
            statement,
            shown[rate],
            shown[f"{rate}_ci_low"],
            shown[f"{rate}_ci_high"],
            shown[count],
            based_on=based_on,
            events=shown[events],
            withheld=rate in withheld,
            unit=unit,
        )
    said["Maintenance"] = figure_in_words(
        "similar patients needed maintenance within 12 months of finishing their first course "
        "(one figure for all laser types together)",
        shown["need_by_12m"],
        None,
        None,
        shown["maintenance_courses"],
        based_on="completed first courses followed up",
        withheld="need_by_12m" in withheld,
        unit="completed first courses",
    )
    return said


def _risk_figures(band: pd.Series) -> str:
    odds = odds_ratio_in_words(
        band["odds_ratio"], band["odds_ratio_ci_low"], band["odds_ratio_ci_high"]
    )
    sessions = count_in_words(band["sessions"])
    if odds:
        return f": {odds}, from {sessions} sessions in the band"
    return (
        f", from {sessions} sessions in the band (the odds ratio is not shown, to protect "
        "patients: it rests on fewer than 11 sessions with such an event)"
    )


def raised_risk_in_words(planned: str, band: pd.Series, who: str) -> str:
    """The warning for a planned value in a band of raised risk (a safety_dose_response row as
    data.dose_response_bands hands it out): 'A planned interval of 10 days lies in the band 7
    to 13 days. In this chain's record, sessions of <who> in that band were followed by a
    pigmentary side effect more often than in the reference band (14 to 27 days): odds ratio
    5.36 (95 % CI 1.10 to 26.11), from 970 sessions in the band. ...'"""
    return (
        f"{planned} lies in the band **{band['band_label']}**. In this chain's record, sessions "
        f"of {who} in that band were followed by a pigmentary side effect more often than in "
        f"the reference band ({band['reference_label']}){_risk_figures(band)}. Many bands are "
        "compared at once: a reason to look at the plan again, not a verdict."
    )


def pooled_risk_in_words(band: pd.Series, skin_type: str) -> str:
    """A band of raised risk over all skin types pooled, where the patient's own skin type does
    not show it."""
    return (
        f"Pooled over all skin types, sessions in the band {band['band_label']} were followed "
        "by a pigmentary side effect more often than in the reference band "
        f"({band['reference_label']}){_risk_figures(band)}; for skin type {skin_type} alone the "
        "record does not show it."
    )


def band_in_words(planned: str, band: pd.Series) -> str:
    """A planned value in a band without a raised risk."""
    if band["is_reference"]:
        return (
            f"{planned} lies in the band {band['band_label']}, the reference band the others "
            "are compared with."
        )
    odds = odds_ratio_in_words(
        band["odds_ratio"], band["odds_ratio_ci_low"], band["odds_ratio_ci_high"]
    )
    return (
        f"{planned} lies in the band {band['band_label']}. The record does not show a raised "
        "risk of pigmentary side effects there compared with the reference band "
        f"({band['reference_label']}){f': {odds}' if odds else ''}."
    )
