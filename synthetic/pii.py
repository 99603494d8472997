"""Fake identities: names, contact details, dates of birth, postcodes (vectorised).

Names are distinctive (at least four letters, not English words or codes) so that a substring
scan of the warehouse for them is meaningful. Provider surnames come from a pool disjoint from
the patient pools, because provider display names are allowed in the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

# fmt: off
FEMALE_FIRST: dict[str, tuple[str, ...]] = {
    "east_asia": (
        "Haruka", "Sakura", "Ayumi", "Natsuki", "Jiwoo", "Seoyeon", "Minji", "Xiaoling",
        "Meiling", "Huiwen", "Yoshiko", "Chiharu", "Eunji", "Hyejin", "Shufen", "Wanling",
        "Peiying", "Kazumi", "Misaki", "Yeonhee",
    ),
    "south_asia": (
        "Priya", "Ananya", "Kavya", "Deepika", "Lakshmi", "Shreya", "Nandini", "Aishwarya",
        "Farzana", "Nusrat", "Tahmina", "Sanjana", "Meenakshi", "Ishita", "Rukhsana",
        "Thilini", "Nirosha", "Swathi", "Pavithra", "Zainab",
    ),
    "northern_europe": (
        "Ingrid", "Astrid", "Sigrid", "Linnea", "Saoirse", "Siobhan", "Aoife", "Niamh",
        "Eilidh", "Solveig", "Ragnhild", "Kirsten", "Mette", "Annika", "Gunilla", "Brigitta",
        "Wilhelmina", "Philippa", "Imogen", "Henrietta",
    ),
    "us_urban": (
        "Latoya", "Keisha", "Marisol", "Yesenia", "Brianna", "Tamika", "Shanice", "Guadalupe",
        "Lakisha", "Ximena", "Dayanara", "Jazmine", "Makayla", "Esperanza", "Nayeli",
        "Tatiana", "Rosalind", "Marguerite", "Delphine", "Antonella",
    ),
}
MALE_FIRST: dict[str, tuple[str, ...]] = {
    "east_asia": ("Hiroshi", "Takeshi", "Minjun", "Jiahao", "Kenji", "Seungwoo", "Zhiwei"),
    "south_asia": ("Vikram", "Rahul", "Arjun", "Imran", "Tanvir", "Dilshan", "Siddharth"),
    "northern_europe": ("Magnus", "Declan", "Oskar", "Henrik", "Torsten", "Padraig", "Alasdair"),
    "us_urban": ("Tyrone", "Marcus", "Jamal", "Santiago", "Dashawn", "Joaquin", "Everett"),
}
LAST: dict[str, tuple[str, ...]] = {
    "east_asia": (
        "Tanaka", "Nakamura", "Watanabe", "Takahashi", "Kobayashi", "Yamamoto", "Matsumoto",
        "Inoue", "Kimura", "Hayashi", "Shimizu", "Yamazaki", "Fujita", "Okamoto", "Huang",
        "Zhou", "Leong", "Cheong", "Tsang", "Kwok", "Choi", "Jeong", "Yoon", "Teoh",
    ),
    "south_asia": (
        "Sharma", "Verma", "Iyer", "Reddy", "Nair", "Patel", "Gupta", "Mehta", "Chatterjee",
        "Banerjee", "Krishnan", "Subramanian", "Menon", "Pillai", "Desai", "Joshi", "Kulkarni",
        "Chowdhury", "Rahman", "Siddiqui", "Qureshi", "Jayawardena", "Perera", "Fernando",
    ),
    "northern_europe": (
        "Johansson", "Lindqvist", "Andersen", "Nilsson", "Eriksson", "Larsen", "Halvorsen",
        "Virtanen", "Korhonen", "Murphy", "Gallagher", "Thornton", "Whitfield", "Ashworth",
        "Pemberton", "Sandberg", "Bergstrom", "Haugland", "Kilbride", "Fairweather",
    ),
    "us_urban": (
        "Rodriguez", "Hernandez", "Washington", "Jefferson", "Okafor", "Adeyemi", "Castillo",
        "Morales", "Robinson", "Fitzgerald", "Kowalski", "Nguyen", "Abernathy", "Delgado",
        "Mbeki", "Villanueva", "Oyelaran", "Szymanski", "Gutierrez", "Ellsworth",
    ),
}
# Provider surnames: disjoint from every patient pool (provider names may reach the warehouse).
PROVIDER_LAST = (
    "Albrecht", "Beaumont", "Castellanos", "Dashwood", "Everhart", "Falkenberg", "Grimaldi",
    "Hawthorne", "Ishikawa", "Jovanovic", "Kristensen", "Lachapelle", "Montague", "Novakova",
    "Ostrander", "Prescott", "Quintero", "Rasmussen", "Sorensen", "Takeda", "Umberto",
    "Vandermeer", "Wakefield", "Yamaguchi", "Zielinski", "Acheson", "Bhattacharya",
    "Carmichael", "Drummond", "Esterhazy",
)
PROVIDER_FIRST = (
    "Adele", "Bernard", "Celeste", "Dominic", "Elodie", "Fabian", "Giselle", "Horatio",
    "Ottilie", "Leopold", "Rosamund", "Quentin", "Severine", "Thaddeus", "Viviane",
)
# fmt: on
EMAIL_DOMAINS = ("example.com", "example.org", "mail.example.net", "inbox.example.com")


@dataclass(frozen=True)
class ContactStyle:
    phone_prefix: str
    phone_groups: tuple[int, ...]  # digits per group after the prefix
    postcode: str  # "digits6", "digits5", "uk"


CONTACT: dict[str, ContactStyle] = {
    "east_asia": ContactStyle("+65 9", (3, 4), "digits6"),
    "south_asia": ContactStyle("+91 98", (3, 5), "digits6"),
    "northern_europe": ContactStyle("+44 7", (3, 6), "uk"),
    "us_urban": ContactStyle("+1 646-", (3, 4), "digits5"),
}
UK_AREAS = ("SW", "NW", "EC", "WC", "SE", "N", "E", "W", "EH", "BS", "LS", "M")
UK_LETTERS = "ABDEFGHJLNPQRSTUWXY"


def _digits(rng: np.random.Generator, n: int, width: int) -> pl.Series:
    values = rng.integers(0, 10**width, n)
    return pl.Series(values).cast(pl.String).str.zfill(width)


def _pick(rng: np.random.Generator, pool: tuple[str, ...], n: int) -> pl.Series:
    return pl.Series(np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)], dtype=pl.String)


def identities(
    rng: np.random.Generator, n: int, pool: str, serial: np.ndarray, sex: np.ndarray
) -> pl.DataFrame:
    """Names, email, phone and postcode for `n` patients of one region.

    `serial` (unique within the clinic) goes into the email so every address is distinct;
    `sex` ("F", "M", "X" or "") picks the first-name pool.
    """
    female = _pick(rng, FEMALE_FIRST[pool], n)
    male = _pick(rng, MALE_FIRST[pool], n)
    first = pl.Series(np.where(sex == "M", male.to_numpy(), female.to_numpy()), dtype=pl.String)
    last = _pick(rng, LAST[pool], n)
    domain = _pick(rng, EMAIL_DOMAINS, n)
    style = CONTACT[pool]
    phone_parts = [pl.lit(style.phone_prefix)]
    for i, width in enumerate(style.phone_groups):
        if i:
            phone_parts.append(pl.lit(" "))
        phone_parts.append(pl.lit(_digits(rng, n, width)))
    frame = pl.DataFrame({"first_name": first, "last_name": last, "_domain": domain})
    frame = frame.with_columns(
        email=pl.concat_str(
            pl.col("first_name").str.to_lowercase(),
            pl.lit("."),
            pl.col("last_name").str.to_lowercase(),
            pl.lit("."),
            pl.lit(pl.Series(serial).cast(pl.String)),
            pl.lit("@"),
            pl.col("_domain"),
        ),
        phone=pl.concat_str(phone_parts),
        postcode=_postcodes(rng, n, style.postcode),
    )
    return frame.drop("_domain")


def _postcodes(rng: np.random.Generator, n: int, kind: str) -> pl.Series:
    if kind == "digits6":
        return _digits(rng, n, 6)
    if kind == "digits5":
        return _digits(rng, n, 5)
    letters = np.array(list(UK_LETTERS), dtype=object)
    frame = pl.DataFrame(
        {
            "area": _pick(rng, UK_AREAS, n),
            "district": pl.Series(rng.integers(1, 20, n)).cast(pl.String),
            "sector": pl.Series(rng.integers(0, 10, n)).cast(pl.String),
            "u1": pl.Series(letters[rng.integers(0, len(letters), n)], dtype=pl.String),
            "u2": pl.Series(letters[rng.integers(0, len(letters), n)], dtype=pl.String),
        }
    )
    return frame.select(
        pl.concat_str("area", "district", pl.lit(" "), "sector", "u1", "u2")
    ).to_series()


def provider_names(rng: np.random.Generator, n: int, offset: int) -> list[str]:
    """Display names for `n` providers (deterministic, distinct within a clinic)."""
    lasts = rng.permutation(len(PROVIDER_LAST))[:n]
    firsts = rng.integers(0, len(PROVIDER_FIRST), n)
    return [
        f"{PROVIDER_FIRST[f]} {PROVIDER_LAST[(last + offset) % len(PROVIDER_LAST)]}"
        for f, last in zip(firsts, lasts, strict=True)
    ]


def all_patient_names() -> set[str]:
    """Every first and last name a patient can have (for leak scans)."""
    names: set[str] = set()
    for pools in (FEMALE_FIRST, MALE_FIRST, LAST):
        for pool in pools.values():
            names.update(pool)
    return names
