"""The synthetic landing zone: reproducible, complete, dirty as the contract says, and carrying
the planted effects that the dashboards are meant to reveal."""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import re
from collections import defaultdict
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from synthetic import generate_landing
from synthetic.codes import (
    CONCERNS,
    CONTRAINDICATIONS,
    EFFECTS,
    FEEDS,
    KEYS,
    TIMEPOINTS,
    TREATMENT_AREAS,
)
from synthetic.params import REGIONS
from synthetic.pii import PROVIDER_FIRST, PROVIDER_LAST, all_patient_names
from synthetic.reference import BRANDS, DEVICE_CATALOGUE

# Every kind of dirt the data contract asks the generator to plant.
CONTRACT_DIRT = {
    "exact_duplicate",
    "correction",
    "voided_session",
    "voided_record",
    "late_arriving_patient",
    "malformed_line",
    "unparseable_date",
    "unparseable_number",
    "out_of_range",
    "unknown_code",
    "header_only_file",
    "empty_file",
    "truncated_gzip",
    "wrong_feed_file",
    "partial_file",
    "redelivered_file",
}
# The family of issue 14: informational columns never reject a record, a small fully rejected
# file is no reason to stop a publish, and hostile exports end as recorded files.
INFORMATIONAL_DIRT = {
    "code_spelling",
    "timepoint_spelling",
    "informational_unknown",
    "list_unknown_item",
    "informational_out_of_range",
    "one_row_unknown_code",
    "one_row_informational_unknown",
    "date_out_of_window",
    "bad_utc_offset",
    "control_character_in_id",
    "duplicate_column_file",
    "xlsx_cover_sheet",
    "utf16_file",
    "unknown_feed_folder",
    "landing_root_file",
}
LOADED_AS_NULL = {
    "informational_unknown",
    "informational_out_of_range",
    "one_row_informational_unknown",
}
LISTS = {
    "secondary_concerns": CONCERNS,
    "treatment_areas": TREATMENT_AREAS,
    "contraindications": CONTRAINDICATIONS,
}
SEX_WORDS = {"female": "F", "male": "M", "other": "X"}
# What a junk record of each kind shows in its line.
JUNK_MARKS = {
    "date_out_of_window": ("2099", "9999"),
    "bad_utc_offset": ("+25:00", "+08:60"),
    "control_character_in_id": ("\x00", "\u200b", "\u202e"),
    "one_row_unknown_code": ("scalp", "dlqi", "diode"),
}
EXPECTS = {
    "loaded",
    "quarantined",
    "duplicate",
    "ignored",
    "file_quarantined",
    "file_duplicate",
    "file_empty",
}
REASONS = {
    None,
    "missing_required",
    "unparseable",
    "out_of_range",
    "unknown_code",
    "malformed_line",
    "missing_columns",
    "unreadable_file",
    "not_utf8",
    "duplicate_columns",
}


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _text(path: Path) -> str:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8-sig")


def _landing_texts(root: Path) -> dict[str, str]:
    """Text of every readable CSV/JSONL landing file (not the broken ones dirt.json lists)."""
    items = json.loads((root / ".truth/dirt.json").read_text())
    broken = {i["file"] for i in items if i["record"] is None and i["expect"] != "loaded"}
    return {
        p.relative_to(root).as_posix(): _text(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and ".truth" not in p.parts
        and p.name.endswith((".csv", ".csv.gz", ".jsonl", ".jsonl.gz"))
        and p.relative_to(root).as_posix() not in broken
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate_landing("tiny", out, seed=42)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_landing("demo", out, seed=7)
    return out


def test_same_seed_gives_identical_bytes(tiny: Path, tmp_path: Path) -> None:
    generate_landing("tiny", tmp_path, seed=42)
    assert _hashes(tmp_path) == _hashes(tiny)


def test_different_seed_gives_different_data(tiny: Path, tmp_path: Path) -> None:
    generate_landing("tiny", tmp_path, seed=43)
    mine = pl.read_parquet(tmp_path / ".truth/clean/patients.parquet")
    other = pl.read_parquet(tiny / ".truth/clean/patients.parquet")
    assert not mine.equals(other)
    assert set(mine["email"]) != set(other["email"])


def test_default_as_of_is_fixed_not_the_wall_clock(tiny: Path) -> None:
    truth = json.loads((tiny / ".truth/truth.json").read_text())
    assert truth["as_of"] == "2026-11-01"
    assert truth["view_date"] == "2026-11-01"


def test_every_feed_folder_gets_data_in_every_format(tiny: Path) -> None:
    for feed in FEEDS:
        files = [p for p in (tiny / feed).iterdir() if p.stat().st_size > 0]
        assert files, feed
    names = [p.name for p in tiny.rglob("*") if p.is_file() and ".truth" not in p.parts]
    for suffix in (".csv", ".csv.gz", ".xlsx", ".parquet", ".jsonl"):
        assert any(n.endswith(suffix) for n in names), suffix
    summary_rows = json.loads((tiny / ".truth/truth.json").read_text())["counts"]
    assert summary_rows["landing_rows"]["sessions"] >= 800


def test_dirt_lists_every_kind_of_the_contract(tiny: Path) -> None:
    items = json.loads((tiny / ".truth/dirt.json").read_text())
    assert {item["kind"] for item in items} >= CONTRACT_DIRT | INFORMATIONAL_DIRT
    for item in items:
        assert item["expect"] in EXPECTS, item
        assert item["reason_code"] in REASONS, item
        assert (tiny / item["file"]).is_file(), item
        folder, _, name = item["file"].rpartition("/")
        assert item["feed"] == (folder or None), item
    quarantined = [i for i in items if i["expect"] == "quarantined"]
    assert {i["reason_code"] for i in quarantined} >= {
        "malformed_line",
        "unparseable",
        "out_of_range",
        "unknown_code",
        "missing_required",
    }
    assert any(i["file"].endswith(".part") and i["expect"] == "ignored" for i in items)


def test_junk_records_are_where_dirt_json_says(tiny: Path) -> None:
    """Each quarantined record number points at a junk record (ids with -X) in its file."""
    items = json.loads((tiny / ".truth/dirt.json").read_text())
    for item in items:
        if item["expect"] != "quarantined" or item["kind"] == "malformed_line":
            continue
        text = _text(tiny / item["file"])
        if item["file"].endswith((".jsonl", ".jsonl.gz")):
            record = text.splitlines()[item["record"] - 1]
        else:
            rows = list(csv.reader(io.StringIO(text, newline="")))
            record = ",".join(rows[item["record"]])  # rows[0] is the header
        assert "-X" in record, item
        marks = JUNK_MARKS.get(item["kind"], ("",))
        assert any(mark in record for mark in marks), item


def test_clean_world_excludes_junk_and_keeps_voided_records(tiny: Path) -> None:
    sessions = pl.read_parquet(tiny / ".truth/clean/sessions.parquet")
    assert not sessions["session_id"].str.contains("-X").any()
    assert sessions["status"].is_in(["completed", "aborted", "voided"]).all()
    assert (sessions["status"] == "voided").sum() >= 1
    assert (sessions["status"] == "aborted").sum() >= 1
    effects = pl.read_parquet(tiny / ".truth/clean/side_effects.parquet")
    assert effects["effect"].is_in(list(EFFECTS)).all()
    assert effects["severity"].is_in(["mild", "moderate", "severe"]).all()


def test_contract_encodings_all_appear(tiny: Path) -> None:
    texts = {k: v for k, v in _landing_texts(tiny).items() if ".csv" in k}
    blob = "\n".join(texts.values())
    roman = "(?:I|II|III|IV|V|VI)"
    field = r"(?:^|,){}(?:,|\r?$)"
    for spelling in (
        roman,
        roman.lower(),
        "[1-6]",
        "Type [1-6]",
        f"type {roman}",
        f"FST {roman}",
        "FST[1-6]",
        f"{roman}-{roman}",
        f"{roman}/{roman}",
        "unknown",
        r"\?",
        "VII",
        "brown",
    ):
        assert re.search(field.format(spelling), blob, re.M), spelling
    for word in ("true", "false", "TRUE", "FALSE", "yes", "no", "y", "n", "1", "0"):
        assert re.search(field.format(word), blob, re.M), word
    assert re.search(r"T\d\d:\d\d:\d\d[+-]\d\d:\d\d", blob)  # with offset
    assert re.search(r"T\d\d:\d\d:\d\dZ", blob)  # UTC
    assert re.search(r"T\d\d:\d\d:\d\d,", blob)  # clinic-local, no offset
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", blob)  # DD/MM/YYYY HH:MM
    assert " J/cm2" in blob and "J/cm²" in blob
    assert re.search(field.format("[23]"), blob, re.M)  # severity as a digit
    decoded = [
        gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b
        for b in ((tiny / name).read_bytes() for name in texts)
    ]
    assert any(b.startswith(b"\xef\xbb\xbf") for b in decoded)
    assert any(b"\r\n" in b for b in decoded)
    assert re.search(r'"[^"]*\n[^"]*"', blob)  # a quoted field with a line break
    headers = [t.splitlines()[0] for t in texts.values()]
    assert any(" Session_Id" in h or "Session_Id " in h for h in headers)
    assert any("serial_no" in h or "Room" in h for h in headers)  # unknown extra column


def test_skin_type_mix_follows_the_region_table(demo: Path) -> None:
    patients = pl.read_parquet(demo / ".truth/clean/patients.parquet")
    clinics = pl.read_parquet(demo / ".truth/clean/clinics.parquet")
    mix = patients.join(clinics.select("clinic_id", "region"), on="clinic_id")
    table = {r.name: r.skin_mix for r in REGIONS}
    for (region,), part in mix.group_by("region"):
        shares = part["truth_fitzpatrick"].value_counts(normalize=True)
        observed = dict(zip(shares["truth_fitzpatrick"], shares["proportion"], strict=True))
        for skin_type, expected in enumerate(table[region], start=1):
            assert abs(observed.get(skin_type, 0.0) - expected) < 0.07, (region, skin_type)


def test_pigmentary_side_effects_more_frequent_in_darker_skin(demo: Path) -> None:
    sessions = pl.read_parquet(demo / ".truth/clean/sessions.parquet").filter(
        (pl.col("status") == "completed") & ~pl.col("voided")
    )
    effects = pl.read_parquet(demo / ".truth/clean/side_effects.parquet").filter(
        pl.col("effect").is_in(
            ["pih", "hypopigmentation", "mottled_hypopigmentation", "rebound_hyperpigmentation"]
        )
        & ~pl.col("voided")
    )
    hit = sessions.with_columns(
        pigmentary=pl.col("session_id").is_in(effects["truth_session_id"].implode()),
        darker=pl.col("truth_fitzpatrick") >= 4,
    )
    rates = dict(hit.group_by("darker").agg(pl.col("pigmentary").mean()).iter_rows())
    assert rates[True] > 1.8 * rates[False]


def test_melasma_needs_maintenance_sooner(demo: Path) -> None:
    courses = pl.read_parquet(demo / ".truth/courses.parquet").filter(
        (pl.col("course_type") == "initial") & (pl.col("status") == "completed")
    )
    # courses followed for a whole year, or with their event inside it
    known = courses.filter(
        (pl.col("maintenance_days") >= 365)
        | (pl.col("maintenance_event") & (pl.col("maintenance_days") < 365))
    ).with_columns(
        needed=pl.col("maintenance_event") & (pl.col("maintenance_days") < 365),
        melasma=pl.col("primary_concern") == "melasma",
    )
    share = dict(known.group_by("melasma").agg(pl.col("needed").mean()).iter_rows())
    assert share[True] > share[False] + 0.1


def test_response_differs_by_concern(demo: Path) -> None:
    courses = pl.read_parquet(demo / ".truth/courses.parquet").filter(
        pl.col("is_responder").is_not_null()
    )
    rate = dict(courses.group_by("primary_concern").agg(pl.col("is_responder").mean()).iter_rows())
    assert rate["pih"] > rate["acne_scars"] + 0.2


def test_daily_extracts_add_files_and_leave_the_base_identical(tmp_path: Path) -> None:
    generate_landing("tiny", tmp_path, seed=5)
    base = {k: v for k, v in _hashes(tmp_path).items() if not k.startswith(".truth")}
    base_sessions = pl.read_parquet(tmp_path / ".truth/clean/sessions.parquet").height
    summary = generate_landing("tiny", tmp_path, seed=5, days=3)
    after = {k: v for k, v in _hashes(tmp_path).items() if not k.startswith(".truth")}
    assert {k: after[k] for k in base} == base
    daily = sorted(set(after) - set(base))
    assert daily
    assert all(re.search(r"_2026-11-0[234]\.", name) for name in daily), daily
    assert any(name.startswith("sessions/") for name in daily)
    truth = json.loads((tmp_path / ".truth/truth.json").read_text())
    assert truth["view_date"] == "2026-11-04"
    assert summary.days == 3
    assert pl.read_parquet(tmp_path / ".truth/clean/sessions.parquet").height > base_sessions


def test_patient_identifiers_are_in_the_landing_files(tiny: Path) -> None:
    """PII must be present in landing, so a scan of the warehouse for it means something."""
    patients = pl.read_parquet(tiny / ".truth/clean/patients.parquet")
    blob = "\n".join(_landing_texts(tiny).values())
    emails = [e for e in patients["email"] if e in blob]
    assert len(emails) >= 0.8 * patients.height
    sessions = pl.read_parquet(tiny / ".truth/clean/sessions.parquet")
    noted = sessions.filter(pl.col("notes").is_not_null()).join(
        patients.select("clinic_id", "patient_ref", "first_name", "last_name"),
        on=["clinic_id", "patient_ref"],
    )
    mentions = noted.filter(
        pl.col("notes").str.contains(pl.col("first_name"), literal=True)
        | pl.col("notes").str.contains(pl.col("last_name"), literal=True)
    )
    assert mentions.height == noted.height > 0
    assert any(name in blob for name in noted["last_name"])


def test_names_cannot_be_mistaken_for_codes_or_provider_names() -> None:
    names = all_patient_names()
    assert all(len(n) >= 4 for n in names)
    assert not names & set(PROVIDER_LAST) and not names & set(PROVIDER_FIRST)
    vocabulary = [
        *CONCERNS,
        *CONTRAINDICATIONS,
        *EFFECTS,
        *TREATMENT_AREAS,
        *BRANDS,
        *(f"{f} {last}" for f in PROVIDER_FIRST for last in PROVIDER_LAST),
        *(r.name for r in REGIONS),
        *(tz for r in REGIONS for tz in r.timezones),
        *(c for r in REGIONS for c in r.cities),
        *(" ".join(d[:2]) for ds in DEVICE_CATALOGUE.values() for d in ds),
        "primary_concern",
        "secondary_concerns",
        "treatment_areas",
        "contraindications",
        "clinical_endpoint",
        "referral_source",
        "mild erythema",
        "dermatologist_referral",
        "instagram",
        "walk_in",
        "returning",
        "patient",
        "provider",
        "clinician",
    ]
    text = " ".join(vocabulary).lower()
    clashes = sorted(n for n in names if n.lower() in text)
    assert not clashes


def _header(name: str) -> str:
    return name.strip().lower()


def _record(root: Path, item: dict) -> dict:
    """The record a dirt item points at, by contract column name (a survey line as parsed)."""
    path = root / item["file"]
    n = item["record"]
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        return json.loads(_text(path).splitlines()[n - 1])
    if path.suffix in (".xlsx", ".parquet"):
        frame = (
            pl.read_excel(path, sheet_name=item["feed"])
            if path.suffix == ".xlsx"
            else pl.read_parquet(path)
        )
        return frame.rename(_header).cast(pl.String).row(n - 1, named=True)
    rows = list(csv.reader(io.StringIO(_text(path), newline="")))
    return dict(zip(map(_header, rows[0]), rows[n], strict=True))


def _clean_records(root: Path, feed: str, record: dict) -> pl.DataFrame:
    """The clean world's records for a landed record (every answer of a survey submission)."""
    clean = pl.read_parquet(root / f".truth/clean/{feed}.parquet")
    if "answers" in record:
        return clean.filter(pl.col("submission_id") == record["submission_id"])
    return clean.filter(pl.all_horizontal(pl.col(k) == record[k] for k in KEYS[feed]))


def _code(raw: str) -> str:
    """This test's own reading of a code: lower case, runs of spaces, hyphens and dots as `_`."""
    code = re.sub(r"[ .\-]+", "_", raw.strip().lower())
    return SEX_WORDS.get(code, code)


def _timepoint(raw: str) -> str:
    """Which timepoint a supplied label means (a rule of thumb, not the generator's table)."""
    label = raw.lower()
    for months in ("12", "6", "3"):
        if re.search(rf"(?<!\d){months}(?!\d)", label):
            return f"follow_up_{months}m"
    if "year" in label:
        return "follow_up_12m"
    if label.startswith("post"):
        return "post_session"
    if label.startswith("end") or label == "eoc":
        return "end_of_course"
    assert label in ("baseline", "pre-treatment"), raw
    return "baseline"


def _held(item: dict) -> str | None:
    """What the warehouse holds for the planted text of an informational dirt item."""
    raw = item["value"]
    if item["kind"] in LOADED_AS_NULL:
        return None
    if item["kind"] == "timepoint_spelling":
        return _timepoint(raw)
    if item["kind"] == "list_unknown_item":
        return ";".join(sorted(c for c in raw.split(";") if c in LISTS[item["column"]]))
    return ";".join(sorted(_code(c) for c in raw.split(";")))


def test_informational_dirt_loads_with_what_the_warehouse_holds(tiny: Path) -> None:
    """Each record with an informational code spelt otherwise, unknown or implausible is in its
    file as dirt.json says, and in the clean world with the canonical code, null, or its list
    without the unknown item; every family is there in the smallest tier."""
    items = [i for i in json.loads((tiny / ".truth/dirt.json").read_text()) if i["column"]]
    families: dict[str, set[str]] = defaultdict(set)
    for item in items:
        assert item["expect"] == "loaded" and item["reason_code"] is None, item
        record = _record(tiny, item)
        assert str(record[item["column"]]) == item["value"], item
        held = _clean_records(tiny, item["feed"], record)[item["column"]].to_list()
        assert held and held == [_held(item)] * len(held), item
        families[item["kind"]].add(item["column"])
    codes = {"role", "channel", "rater", "reported_by", "action", "sex", *LISTS}
    assert families["code_spelling"] == codes
    assert families["informational_unknown"] == codes - {"role", *LISTS} | {"timepoint"}
    assert families["list_unknown_item"] == set(LISTS)
    assert families["informational_out_of_range"] == {"wavelength_nm", "passes", "installed_on"}
    assert families["one_row_informational_unknown"] == {"role", "channel"}
    spelt = [i for i in items if i["kind"] == "timepoint_spelling"]
    assert {_timepoint(i["value"]) for i in spelt} == set(TIMEPOINTS)
    assert any(i["file"].endswith(".jsonl") for i in spelt)
    consultations = pl.read_parquet(tiny / ".truth/clean/consultations.parquet")
    for column in LISTS:
        for value in consultations[column].drop_nulls():
            assert value == ";".join(sorted(value.split(";"))), (column, value)


def test_one_row_files_hold_one_record_with_an_unknown_code(tiny: Path) -> None:
    items = json.loads((tiny / ".truth/dirt.json").read_text())
    one_row = [i for i in items if i["kind"].startswith("one_row_")]
    rejected = {i["feed"] for i in one_row if i["expect"] == "quarantined"}
    assert rejected == {"sessions", "outcomes", "devices"}
    loaded = {i["feed"] for i in one_row if i["expect"] == "loaded"}
    assert loaded == {"providers", "outcomes"}
    for item in one_row:
        assert "_addendum" in item["file"] and item["record"] == 1, item
        rows = list(csv.reader(io.StringIO(_text(tiny / item["file"]), newline="")))
        assert len(rows) == 2, item  # a header and one record
        in_clean = _clean_records(tiny, item["feed"], _record(tiny, item)).height
        assert in_clean == (item["expect"] == "loaded"), item
        if item["expect"] == "quarantined":
            assert item["reason_code"] == "unknown_code", item


def test_hostile_files_are_what_dirt_json_says(tiny: Path) -> None:
    files = {
        i["kind"]: i for i in json.loads((tiny / ".truth/dirt.json").read_text()) if not i["record"]
    }
    text = _text(tiny / files["duplicate_column_file"]["file"])
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    assert [_header(h) for h in header].count("session_id") == 2
    assert rows and all("-X" in row[0] and len(row) == len(header) for row in rows)
    utf16 = (tiny / files["utf16_file"]["file"]).read_bytes()
    assert utf16.startswith(codecs.BOM_UTF16_LE)
    assert utf16.decode("utf-16").startswith("event_id,")
    assert files["unknown_feed_folder"]["feed"] not in FEEDS
    assert files["landing_root_file"]["feed"] is None
    for kind in ("unknown_feed_folder", "landing_root_file"):
        assert files[kind]["expect"] == "ignored"
        assert _text(tiny / files[kind]["file"]).count("\n") > 1
    workbook = files["xlsx_cover_sheet"]["file"]
    sheets = pl.read_excel(tiny / workbook, sheet_id=0)
    assert list(sheets) == ["Cover", "patients"]
    late = [
        i
        for i in json.loads((tiny / ".truth/dirt.json").read_text())
        if i["kind"] == "late_arriving_patient" and i["file"] == workbook
    ]
    assert late and sheets["patients"].height >= len(late)


def test_rejects_unknown_tier_and_too_many_days(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_landing("huge", tmp_path)
    with pytest.raises(ValueError):
        generate_landing("tiny", tmp_path, as_of=date(2026, 11, 1), days=1000)
