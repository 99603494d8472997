"""Free-text notes and descriptions that mention the patient by name (so a leak is detectable).

Templates include commas, quotes and line breaks, which a CSV writer must quote.
"""

from __future__ import annotations

import numpy as np
import polars as pl

SESSION_NOTES = (
    "{title} {last} tolerated well, mild erythema at endpoint.",
    "Reviewed aftercare with {first}: SPF 50 daily, no scrubs for 3 days.",
    "{first} {last} asked about downtime, reassured. Next visit as planned.",
    "{title} {last}: slight stinging on cheeks.\nCooled 10 min, settled before leaving.",
    'Patient {first} said "much brighter already", photos taken.',
    "{title} {last} arrived late, shortened session; left side first, then right.",
    "Numbing 30 min. {first} comfortable throughout, pulses as planned.",
)
CONSULTATION_NOTES = (
    "{first} {last} referred by a friend; bothered by {concern} for several years.",
    "{title} {last} wants a more even tone before a family wedding, timeline discussed.",
    "Discussed pigment-change risks with {first}, consent signed.\nPhotos taken, standard light.",
    "{title} {last}: irregular sunscreen use, advised daily SPF 50, review in clinic.",
    'Patient {first} {last} asked "how many sessions?", explained course and maintenance.',
)
DESCRIPTIONS = {
    "expected": (
        "{title} {last} called about redness on both cheeks.",
        "{first} messaged: swelling around the eyes, settling with cold packs.",
        "{title} {last} reports stinging, skin feels tight; advised moisturiser.",
    ),
    "pigmentary": (
        "{first} emailed photos: darker patches on left cheek, seen in clinic.",
        "Noted at review: {first} {last} has lighter spots on the forehead.\nPlan discussed.",
        "{title} {last} worried about blotchy pigment, booked review, treatment paused.",
    ),
    "other": (
        "{title} {last} reports itching and small bumps, advised antihistamine.",
        "{first} {last} phoned: cold sore after the session, started antivirals.",
        "{title} {last}: small blisters on the jawline, dressing applied, doctor informed.",
    ),
}


def _people(patients: pl.DataFrame, index: np.ndarray | pl.Series) -> pl.DataFrame:
    gathered = patients.select("first_name", "last_name", "sex")[np.asarray(index)]
    return gathered.select(
        first=pl.col("first_name"),
        last=pl.col("last_name"),
        title=pl.when(pl.col("sex") == "F")
        .then(pl.lit("Mrs"))
        .when(pl.col("sex") == "M")
        .then(pl.lit("Mr"))
        .otherwise(pl.lit("Mx")),
    )


def _template_expr(template: str) -> pl.Expr:
    """A template with {first}/{last}/{title}/{concern} placeholders as a polars expression."""
    parts: list[pl.Expr] = []
    rest = template
    while "{" in rest:
        before, _, after = rest.partition("{")
        name, _, rest = after.partition("}")
        if before:
            parts.append(pl.lit(before))
        parts.append(pl.col(name))
    if rest:
        parts.append(pl.lit(rest))
    return pl.concat_str(parts)


def _fill(frame: pl.DataFrame, templates: tuple[str, ...], choice: np.ndarray) -> pl.Series:
    frame = frame.with_columns(_t=pl.Series(choice))
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for i in reversed(range(len(templates))):
        expr = pl.when(pl.col("_t") == i).then(_template_expr(templates[i])).otherwise(expr)
    return frame.select(expr.alias("text")).to_series()


def session_notes(
    rng: np.random.Generator, n: int, patients: pl.DataFrame, index: np.ndarray | pl.Series
) -> pl.Series:
    """Notes on about a third of sessions."""
    choice = rng.integers(0, len(SESSION_NOTES), n)
    choice = np.where(rng.random(n) < 0.3, choice, -1)
    return _fill(_people(patients, index), SESSION_NOTES, choice).alias("notes")


def consultation_notes(
    rng: np.random.Generator,
    n: int,
    patients: pl.DataFrame,
    index: np.ndarray,
    concern: np.ndarray,
) -> pl.Series:
    """Notes on most consultations."""
    choice = rng.integers(0, len(CONSULTATION_NOTES), n)
    choice = np.where(rng.random(n) < 0.7, choice, -1)
    people = _people(patients, index).with_columns(
        concern=pl.Series(np.asarray(concern, dtype=object), dtype=pl.String).str.replace_all(
            "_", " "
        )
    )
    return _fill(people, CONSULTATION_NOTES, choice).alias("notes")


def descriptions(
    rng: np.random.Generator, patients: pl.DataFrame, index: np.ndarray, group: np.ndarray
) -> pl.Series:
    """A side-effect description for most events, worded for the effect group."""
    n = len(index)
    templates = DESCRIPTIONS["expected"] + DESCRIPTIONS["pigmentary"] + DESCRIPTIONS["other"]
    offset = np.select([group == "expected", group == "pigmentary"], [0, 3], default=6)
    choice = offset + rng.integers(0, 3, n)
    choice = np.where(rng.random(n) < 0.85, choice, -1)
    return _fill(_people(patients, index), templates, choice).alias("description")
