"""Read one landing file into string columns, one row per record, with per-record rejects.

CSV and JSONL go through DuckDB's reader, which handles quoted newlines, BOM and CRLF and
reports malformed lines with their record number instead of failing the whole file; XLSX and
Parquet go through polars. Gzip is decompressed here first, because a truncated gzip stream must
fail the file, not load the records before the break.

A hostile file costs bounded memory and ends as a reason, never a traceback: content past
`ReadLimits.max_file_bytes` (once inflated) refuses the file, a record past
`ReadLimits.max_record_bytes` is rejected alone, and work files live in a scratch folder that is
removed whatever happens.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import logging
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import fastexcel
import numpy as np
import polars as pl
import pyarrow.parquet as pq

from contract.feeds import Feed
from ingest import textscan

RECORD_NUMBER = "_record_number"
# A sheet column with no value is read as text, which is what the ingest wants; fastexcel's
# warning about it would reach the scheduler's log as noise (Python's last-resort handler).
logging.getLogger("fastexcel").setLevel(logging.ERROR)
FORMATS = ("csv", "jsonl", "parquet", "xlsx")
MIB = 1 << 20
# Stands in for an oversized record in the copy the parser reads, then becomes its reject.
OVERSIZED = "\x1eoversized record\x1e"


@dataclass(frozen=True)
class ReadLimits:
    """What one landing file may cost the reader; past a limit, the file or record is refused.

    `max_file_bytes` bounds a file's content once inflated (gzip, parquet pages, xlsx sheets),
    and with it memory: a batch is held as text, typed and validated at about 23 times its
    size (measured on sessions CSVs: 64 MiB peaked at 1.9 GiB, 128 MiB at 3.4 GiB, so 1 GiB
    would need ~24 GiB). The largest generated file (tier 10m) is ~6 MB and a big clinic's
    full re-export ~35 MB; 128 MiB leaves room for those and fits beside dbt on a small box.
    `max_record_bytes` bounds one CSV record or JSONL line: a session row is ~300 bytes, a long
    free-text note a few KiB; a megabyte is no record, but an export bug.
    """

    max_file_bytes: int = 128 * MIB
    max_record_bytes: int = 1 * MIB


class UnreadableFile(Exception):
    """The file cannot be read as a batch; it is quarantined whole as `<code>: <message>`."""

    def __init__(self, message: str, code: str = "unreadable_file"):
        super().__init__(message)
        self.code = code


@dataclass
class RawBatch:
    """A file's records as trimmed-name string columns, plus records that could not be split."""

    frame: pl.DataFrame
    rejects: pl.DataFrame  # record_number, reason_code, reason
    # Columns that arrived typed (spreadsheet dates, parquet timestamps): already ISO text.
    typed_columns: set[str] = field(default_factory=set)
    nested_survey: bool = False

    @property
    def rows_read(self) -> int:
        return self.frame.height + self.rejects.height


def file_format(path: Path) -> tuple[str, bool] | None:
    """(format, gzipped) from the file name, or None when it is not a landing format."""
    name = path.name.lower()
    gzipped = name.endswith(".gz")
    if gzipped:
        name = name[:-3]
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in FORMATS or (gzipped and suffix not in ("csv", "jsonl")):
        return None
    return suffix, gzipped


def read_batch(
    path: Path, work_dir: Path, feed: Feed | None = None, limits: ReadLimits | None = None
) -> RawBatch:
    """Read a landing file. `feed` says which sheet of a workbook to read and which columns of
    a typed file must have a text form; `work_dir` holds inflated copies while reading."""
    fmt = file_format(path)
    if fmt is None:
        raise UnreadableFile(f"not a landing format: {path.name}")
    suffix, gzipped = fmt
    limits = limits or ReadLimits()
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="read-", dir=work_dir) as scratch:
        if gzipped:
            path = _inflate(path, Path(scratch) / f"inflated.{suffix}", limits.max_file_bytes)
        if path.stat().st_size == 0:
            return RawBatch(_empty_frame(), _no_rejects())
        if suffix in ("csv", "jsonl"):
            _check_size(path.stat().st_size, limits, "is")
            _check_text(path)
            reader = _read_csv if suffix == "csv" else _read_jsonl
            return reader(path, Path(scratch), limits)
        if suffix == "parquet":
            return _read_parquet(path, feed, limits)
        return _read_xlsx(path, feed, limits)


def _inflate(path: Path, target: Path, limit: int) -> Path:
    """Gunzip into `target`, streaming, and stop as soon as the content passes `limit`."""
    written = 0
    try:
        with gzip.open(path, "rb") as source, open(target, "wb") as out:
            while block := source.read(MIB):
                written += len(block)
                if written > limit:
                    raise UnreadableFile(f"inflates past {limit:,} bytes", code="too_large")
                out.write(block)
    except (EOFError, OSError, zlib.error) as error:
        raise UnreadableFile(f"gzip stream is damaged or truncated ({error})") from error
    return target


def _check_size(size: int, limits: ReadLimits, verb: str) -> None:
    if size > limits.max_file_bytes:
        raise UnreadableFile(
            f"{verb} {size:,} bytes, past the {limits.max_file_bytes:,}-byte limit of one file",
            code="too_large",
        )


def _check_text(path: Path) -> None:
    found = textscan.sniff(path)
    if found is not None:
        raise UnreadableFile(found.message, code=found.code)


def _empty_frame() -> pl.DataFrame:
    return pl.DataFrame(schema={RECORD_NUMBER: pl.Int64})


def _no_rejects() -> pl.DataFrame:
    return pl.DataFrame(
        schema={RECORD_NUMBER: pl.Int64, "reason_code": pl.String, "reason": pl.String}
    )


def _number_records(
    frame: pl.DataFrame, rejects: pl.DataFrame, numbers: np.ndarray
) -> pl.DataFrame:
    """Give accepted rows, in file order, the record `numbers` the rejected records left.

    `numbers` holds one number per record read (accepted or rejected), so what is left after
    taking out the rejected ones always covers the accepted rows.
    """
    taken = rejects[RECORD_NUMBER].to_numpy()
    kept = numbers[~np.isin(numbers, taken)][: frame.height]
    return frame.with_columns(pl.Series(RECORD_NUMBER, kept, dtype=pl.Int64))


def _repeated(names: Iterable[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def _check_header(names: list[str]) -> None:
    """Column names are matched case-insensitively after trimming: two spellings of one name
    would leave one of them silently unread, so the file is refused."""
    repeated = _repeated(names)
    if repeated:
        raise UnreadableFile(
            f"column(s) {', '.join(repeated)} appear more than once in the header",
            code="duplicate_columns",
        )


def _column_name(raw: object) -> str:
    return str(raw).strip().lower()


# --- DuckDB ------------------------------------------------------------------------------

_READER_VIEWS = ("lines", "valid", "cells")


@functools.cache
def _reader_connection() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@contextmanager
def _duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
    """The in-memory DuckDB that reads one file. One connection serves every file (opening one
    costs about 10 ms, which a night of hundreds of small files pays hundreds of times); each
    read starts as on a new one: no reader rejects of an earlier file, no views left behind."""
    con = _reader_connection()
    con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
    try:
        yield con
    finally:
        for view in _READER_VIEWS:
            con.unregister(view)


# --- CSV ---------------------------------------------------------------------------------


def _read_csv(path: Path, scratch: Path, limits: ReadLimits) -> RawBatch:
    scan = textscan.scan_records(path, limits.max_record_bytes, quoted=True)
    names = _csv_header(path, scan, limits)
    if not names:
        return RawBatch(_empty_frame(), _no_rejects())
    _check_header(names)
    # A placeholder row with the header's width keeps the records around it in step.
    placeholder = (OVERSIZED + "," * (len(names) - 1)).encode()
    source = _without_oversized(path, scan, scratch, placeholder)
    frame, rejects = _duckdb_csv(source, len(names), limits)
    frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
    # DuckDB skips blank lines but counts them in its line numbers (one column aside: then a
    # blank line is a record with an empty value).
    numbers = scan.numbers(frame.height + rejects.height, first=1)
    if len(names) == 1:
        numbers = np.arange(1, frame.height + rejects.height + 1, dtype=np.int64)
    frame = _number_records(frame, rejects, numbers)
    if not scan.oversized:  # no placeholders to move
        return RawBatch(frame, rejects)
    return _oversized_to_rejects(frame, rejects, pl.col(names[0]) == OVERSIZED, limits)


def _oversized_to_rejects(
    frame: pl.DataFrame, rejects: pl.DataFrame, placeholder: pl.Expr, limits: ReadLimits
) -> RawBatch:
    """Move the placeholders of oversized records from the rows read to the rejects."""
    is_placeholder = placeholder.fill_null(False)
    oversized = frame.filter(is_placeholder).select(
        RECORD_NUMBER,
        pl.lit("oversized_record").alias("reason_code"),
        pl.lit(_oversized_reason(limits)).alias("reason"),
    )
    return RawBatch(
        frame.filter(~is_placeholder), pl.concat([rejects, oversized]).sort(RECORD_NUMBER)
    )


def _oversized_reason(limits: ReadLimits) -> str:
    return f"oversized_record: longer than the {limits.max_record_bytes:,}-byte limit of one record"


def _csv_header(path: Path, scan: textscan.RecordScan, limits: ReadLimits) -> list[str]:
    """The first record's names, read here: DuckDB would rename a repeated one silently."""
    if scan.oversized and scan.oversized[0][0] == 0:
        raise UnreadableFile(f"the header is longer than {limits.max_record_bytes:,} bytes")
    with open(path, "rb") as handle:
        first = handle.read(scan.first_end).decode("utf-8-sig", errors="replace")
    try:
        fields = next(csv.reader(io.StringIO(first, newline="")), [])
    except csv.Error as error:
        raise UnreadableFile(f"the header is not readable CSV ({error})") from error
    if not any(name.strip() for name in fields):
        return []
    # An empty header cell still holds a column; name it by position, like DuckDB.
    return [_column_name(name) or f"column{i}" for i, name in enumerate(fields)]


def _without_oversized(
    path: Path, scan: textscan.RecordScan, scratch: Path, placeholder: bytes
) -> Path:
    if not scan.oversized:
        return path
    target = scratch / f"records{path.suffix}"
    textscan.replace_records(path, scan.oversized, placeholder, target)
    return target


def _max_line_size(limits: ReadLimits) -> int:
    # Records over the limit were replaced already; DuckDB's own check must not fire first.
    return max(2_000_000, 2 * limits.max_record_bytes)


def _duckdb_csv(path: Path, width: int, limits: ReadLimits) -> tuple[pl.DataFrame, pl.DataFrame]:
    # Positional names: the header was read (and checked) above.
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    with _duckdb() as con:
        try:
            frame = con.sql(
                f"select * from read_csv(?, header = true, columns = {columns},"
                " auto_detect = false, delim = ',', quote = '\"', escape = '\"',"
                f" store_rejects = true, max_line_size = {_max_line_size(limits)})",
                params=[str(path)],
            ).pl()
            rejects = _reader_rejects(con, "line - 1", limits)
        except duckdb.Error as error:
            reason = str(error).splitlines()[0]
            raise UnreadableFile(f"not a readable CSV file ({reason})") from error
    return frame, rejects


def _reader_rejects(con: duckdb.DuckDBPyConnection, number: str, limits: ReadLimits):
    """DuckDB's rejected lines, one row per record, with the most telling reason code.

    One line can break several ways; it is still one rejected record.
    """
    # Most files have none: a count costs a tenth of the query below (a night's hundreds of
    # small files paid it for each).
    if not con.execute("select count(*) from reject_errors").fetchone()[0]:
        return _no_rejects()
    return con.sql(
        f"""
        select
            ({number})::bigint as _record_number,
            case
                when bool_or(error_type = 'LINE SIZE OVER MAXIMUM') then 'oversized_record'
                when bool_or(error_type = 'INVALID ENCODING') then 'invalid_encoding'
                else 'malformed_line'
            end as reason_code,
            case reason_code
                when 'oversized_record' then ?
                when 'invalid_encoding' then 'invalid_encoding: not valid UTF-8'
                -- In a set order: the same file must always be quarantined with the same reason.
                else 'malformed_line: ' || string_agg(
                    distinct lower(error_type) || ' (' || error_message || ')', '; '
                    order by lower(error_type) || ' (' || error_message || ')'
                )
            end as reason
        from reject_errors
        group by line
        order by line
        """,
        params=[_oversized_reason(limits)],
    ).pl()


# --- JSONL -------------------------------------------------------------------------------


def _read_jsonl(path: Path, scratch: Path, limits: ReadLimits) -> RawBatch:
    """One JSON object a line. The survey app's nested submissions become one row per answer."""
    scan = textscan.scan_records(path, limits.max_record_bytes, quoted=False)
    source = _without_oversized(path, scan, scratch, OVERSIZED.encode())
    with _duckdb() as con:
        try:
            lines = con.sql(
                "select line from read_csv(?, header = false, columns = {'line': 'VARCHAR'},"
                " delim = chr(31), quote = '', escape = '', new_line = '\\n',"
                f" store_rejects = true, max_line_size = {_max_line_size(limits)})",
                params=[str(source)],
            ).pl()
            unsplit = _reader_rejects(con, "line", limits)
            # A blank line is a row here, so line numbers are record numbers.
            numbers = np.arange(1, lines.height + unsplit.height + 1, dtype=np.int64)
            lines = _number_records(lines, unsplit, numbers).select(RECORD_NUMBER, "line")
            frame, rejects, nested = _json_records(con, lines, limits)
        except duckdb.Error as error:
            reason = str(error).splitlines()[0]
            raise UnreadableFile(f"not a readable JSONL file ({reason})") from error
    rejects = pl.concat([unsplit, rejects]).sort(RECORD_NUMBER)
    return RawBatch(frame, rejects, nested_survey=nested)


def _json_records(
    con: duckdb.DuckDBPyConnection, lines: pl.DataFrame, limits: ReadLimits
) -> tuple[pl.DataFrame, pl.DataFrame, bool]:
    lines = lines.filter(pl.col("line").str.strip_chars().fill_null("") != "")
    con.register("lines", lines)
    valid = con.sql(
        "select _record_number, line from lines where case when json_valid(line)"
        " then json_type(line::json) = 'OBJECT' else false end"
    ).pl()
    con.register("valid", valid)
    oversized = pl.col("line") == OVERSIZED
    rejects = lines.join(valid, on=RECORD_NUMBER, how="anti").select(
        RECORD_NUMBER,
        pl.when(oversized)
        .then(pl.lit("oversized_record"))
        .otherwise(pl.lit("malformed_line"))
        .alias("reason_code"),
        pl.when(oversized)
        .then(pl.lit(_oversized_reason(limits)))
        .otherwise(pl.lit("malformed_line: not a JSON object"))
        .alias("reason"),
    )
    keys = (
        con.sql("select distinct unnest(json_keys(line)) as key from valid order by key")
        .pl()["key"]
        .to_list()
    )
    spellings: dict[str, list[str]] = {}
    for key in keys:
        if '"' not in key and "'" not in key:
            spellings.setdefault(key.strip().lower(), []).append(key)
    if "answers" in spellings:
        return _survey_answers(con), rejects, True
    selects = "".join(
        f', coalesce({", ".join(_json_field(k) for k in originals)}) as "{name}"'
        for name, originals in spellings.items()
    )
    return con.sql(f"select _record_number{selects} from valid").pl(), rejects, False


def _json_field(key: str) -> str:
    return f"json_extract_string(line, '$.\"{key}\"')"


def _survey_answers(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Flatten survey-app submissions into the clinic-CSV outcome columns, one row per answer.

    A submission without answers still yields one row (with no instrument), so it is counted
    and quarantined for its missing fields rather than silently vanishing.
    """
    return con.sql(
        """
        with submissions as (
            select
                _record_number,
                json_extract_string(line, '$.submission_id') as submission_id,
                json_extract_string(line, '$.clinic.id') as clinic_id,
                json_extract_string(line, '$.clinic.patient_ref') as patient_ref,
                json_extract_string(line, '$.session_id') as session_id,
                json_extract_string(line, '$.timepoint') as timepoint,
                json_extract_string(line, '$.channel') as channel,
                json_extract_string(line, '$.submitted_at') as submitted_at,
                coalesce(
                    try_cast(json_extract(line, '$.answers') as json[]), []::json[]
                ) as answers
            from valid
        ),
        answers as (
            select
                * exclude (answers),
                unnest(case when len(answers) = 0 then [null::json] else answers end) as answer
            from submissions
        )
        select
            _record_number,
            submission_id || ':' || coalesce(json_extract_string(answer, '$.instrument'), '')
                as response_id,
            submission_id,
            clinic_id,
            patient_ref,
            session_id,
            json_extract_string(answer, '$.instrument') as instrument,
            'patient' as rater,
            timepoint,
            json_extract_string(answer, '$.score') as score,
            submitted_at as collected_at,
            channel,
            submitted_at as updated_at
        from answers
        order by _record_number
        """
    ).pl()


# --- Parquet and XLSX: typed cells -------------------------------------------------------


def _read_parquet(path: Path, feed: Feed | None, limits: ReadLimits) -> RawBatch:
    try:
        metadata = pq.read_metadata(path)
        schema = pl.read_parquet_schema(path)
    except Exception as error:  # pyarrow and polars raise their own types for a corrupt file
        raise UnreadableFile(f"not a readable parquet file ({_first_line(error)})") from error
    decoded = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    _check_size(decoded, limits, "decodes to")
    plan = _text_plan(schema, feed)
    if not plan.readable:
        raise UnreadableFile(
            "missing required column(s): every column is nested or binary data outside the"
            " contract",
            code="missing_columns",
        )
    try:
        # Columns with no text form are never decoded at all.
        frame = pl.read_parquet(path, columns=plan.readable, glob=False)
    except Exception as error:
        raise UnreadableFile(f"not a readable parquet file ({_first_line(error)})") from error
    return _typed_batch(frame, plan)


def _read_xlsx(path: Path, feed: Feed | None, limits: ReadLimits) -> RawBatch:
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(entry.file_size for entry in archive.infolist())
        _check_size(inflated, limits, "inflates to")
        workbook = fastexcel.read_excel(str(path))
        headers = {name: _first_row(workbook, name) for name in workbook.sheet_names}
        sheet = _choose_sheet(headers, feed)
        if sheet is None:
            return RawBatch(_empty_frame(), _no_rejects())
        _check_header(headers[sheet])
        frame = pl.read_excel(
            path, sheet_name=sheet, infer_schema_length=None, raise_if_empty=False
        )
    except UnreadableFile:
        raise
    except Exception as error:  # zipfile, calamine and polars raise their own types
        raise UnreadableFile(f"not a readable xlsx file ({_first_line(error)})") from error
    return _typed_batch(frame, _text_plan(frame.schema, feed))


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def _first_row(workbook: fastexcel.ExcelReader, sheet: str) -> list[str]:
    """A sheet's header as written (fastexcel, like polars, skips leading empty rows); the
    reader renames a repeated name, so it is read here, as plain cells."""
    row = workbook.load_sheet(sheet, header_row=None, n_rows=1).to_polars()
    if row.height == 0:
        return []
    return [_column_name(value) for value in row.row(0) if value is not None]


def _choose_sheet(headers: dict[str, list[str]], feed: Feed | None) -> str | None:
    """The sheet holding the feed: the only non-empty one, else the only one with the feed's
    required columns, else the one of those named like the feed. Never a guess."""
    filled = [name for name, header in headers.items() if header]
    if len(filled) <= 1 or feed is None:
        return filled[0] if filled else None
    fitting = [name for name in filled if set(feed.required) <= set(headers[name])]
    if len(fitting) == 1:
        return fitting[0]
    named = [name for name in fitting if name.strip().lower() == feed.name]
    if len(named) == 1:
        return named[0]
    listed = ", ".join(repr(name) for name in (fitting or filled))
    if fitting:
        raise UnreadableFile(
            f"sheets {listed} all have the {feed.name} columns: which one is the batch?",
            code="ambiguous_sheet",
        )
    raise UnreadableFile(
        f"no sheet has the required column(s) of {feed.name} (sheets {listed})",
        code="missing_columns",
    )


@dataclass(frozen=True)
class _TextPlan:
    """How each column of a typed file becomes text."""

    readable: list[str]  # columns to read at all
    text: list[str]  # cast as they are
    joined: list[str]  # lists of a contract list column: `;`-joined, as in CSV
    binary: list[str]  # bytes of a contract column: decoded per value
    dropped: list[str]  # no text form and not in the contract: reported as ignored


def _text_plan(schema: dict[str, pl.DataType], feed: Feed | None) -> _TextPlan:
    """Decide per column. A column outside the contract that has no text form (a list, a
    struct, bytes) is ignored like any unknown column; a contract column that arrives nested
    is a broken export, refused whole (every row would fail the same way)."""
    contract = {column.name: column for column in (feed.columns if feed else ())}
    text, joined, binary, dropped, refused = [], [], [], [], []
    for name, dtype in schema.items():
        column = contract.get(_column_name(name))
        if _has_text_form(dtype):
            text.append(name)
        elif column is None:
            dropped.append(name)
        elif dtype == pl.Binary:
            binary.append(name)
        elif (
            column.type == "list"
            and isinstance(dtype, pl.List | pl.Array)
            and _has_text_form(dtype.inner)
        ):
            joined.append(name)
        else:
            refused.append(f"{name} ({dtype})")
    if refused:
        raise UnreadableFile(
            f"column(s) {', '.join(refused)} have no text form",
            code="unsupported_column",
        )
    return _TextPlan([*text, *joined, *binary], text, joined, binary, dropped)


def _has_text_form(dtype: pl.DataType) -> bool:
    return not (dtype.is_nested() or dtype in (pl.Binary, pl.Object) or dtype == pl.Duration)


def _typed_batch(frame: pl.DataFrame, plan: _TextPlan) -> RawBatch:
    typed = {_column_name(name) for name in plan.text if frame.schema[name].is_temporal()}
    frame = frame.with_row_index(RECORD_NUMBER, offset=1).with_columns(
        pl.col(RECORD_NUMBER).cast(pl.Int64)
    )
    frame, rejects = _decode_binary(frame, plan.binary)
    frame = frame.select(
        RECORD_NUMBER,
        *(_as_text(pl.col(name), frame.schema[name]) for name in plan.text),
        *(pl.col(name).cast(pl.List(pl.String)).list.join(";") for name in plan.joined),
        *(pl.col(name) for name in plan.binary),
        *(pl.lit(None, pl.String).alias(name) for name in plan.dropped),
    )
    return RawBatch(_normalise_headers(frame), rejects, typed_columns=typed)


def _decode_binary(frame: pl.DataFrame, names: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Bytes of contract columns as UTF-8 text; a record with bytes that are not UTF-8 is
    rejected alone, like a CSV line in another encoding."""
    if not names:
        return frame, _no_rejects()
    cells = frame.select(pl.col(name).alias(f"b{i}") for i, name in enumerate(names))
    with _duckdb() as con:
        con.register("cells", cells)
        decoded = con.sql(
            "select "
            + ", ".join(f"try(decode(b{i})) as b{i}" for i in range(len(names)))
            + " from cells"
        ).pl()
    bad = [cells[f"b{i}"].is_not_null() & decoded[f"b{i}"].is_null() for i in range(len(names))]
    which = pl.concat_str(
        [pl.when(flag).then(pl.lit(name)) for flag, name in zip(bad, names, strict=True)],
        separator=", ",
        ignore_nulls=True,
    )
    frame = frame.with_columns(
        *(decoded[f"b{i}"].alias(name) for i, name in enumerate(names)), _which=which
    )
    rejected = pl.col("_which") != ""
    rejects = frame.filter(rejected).select(
        RECORD_NUMBER,
        pl.lit("invalid_encoding").alias("reason_code"),
        ("invalid_encoding: not valid UTF-8 in " + pl.col("_which")).alias("reason"),
    )
    return frame.filter(~rejected).drop("_which"), rejects


def _normalise_headers(frame: pl.DataFrame) -> pl.DataFrame:
    """Column names matched case-insensitively after trimming; two spellings of one is an error."""
    names = [_column_name(name) for name in frame.columns]
    _check_header(names)
    return frame.rename(dict(zip(frame.columns, names, strict=True)))


def _as_text(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Typed cells as the text a clinic would have exported (timestamps in ISO 8601)."""
    if dtype == pl.Date:
        return column.dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        fmt = "%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if dtype.time_zone else "")
        return column.dt.strftime(fmt)
    if dtype == pl.Boolean:
        return column.cast(pl.String).str.to_lowercase()
    return column.cast(pl.String)
