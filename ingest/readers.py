"""Read one landing file into string columns, one row per record, with per-record rejects.

CSV and JSONL go through DuckDB's reader, which handles quoted newlines, BOM and CRLF and
reports malformed lines with their record number instead of failing the whole file; XLSX and
Parquet go through polars. Gzip is decompressed here first, because a truncated gzip stream must
fail the file, not load the records before the break.
"""

from __future__ import annotations

import gzip
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

RECORD_NUMBER = "_record_number"
FORMATS = ("csv", "jsonl", "parquet", "xlsx")


class UnreadableFile(Exception):
    """The file cannot be read at all; it is quarantined whole with this message."""


@dataclass
class RawBatch:
    """A file's records as trimmed-name string columns, plus records that could not be split."""

    frame: pl.DataFrame
    rejects: pl.DataFrame  # record_number, reason
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


def read_batch(path: Path, work_dir: Path) -> RawBatch:
    fmt = file_format(path)
    if fmt is None:
        raise UnreadableFile(f"not a landing format: {path.name}")
    suffix, gzipped = fmt
    if gzipped:
        path = _gunzip(path, work_dir)
    if path.stat().st_size == 0:
        return RawBatch(
            pl.DataFrame({RECORD_NUMBER: []}, schema={RECORD_NUMBER: pl.Int64}), _no_rejects()
        )
    if suffix == "csv":
        return _read_csv(path)
    if suffix == "jsonl":
        return _read_jsonl(path)
    return _read_typed(path, suffix)


def _gunzip(path: Path, work_dir: Path) -> Path:
    target = work_dir / path.name[:-3]
    try:
        with gzip.open(path, "rb") as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, length=1 << 20)
    except (EOFError, OSError, zlib.error) as error:
        raise UnreadableFile(f"gzip stream is damaged or truncated ({error})") from error
    return target


def _no_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema={RECORD_NUMBER: pl.Int64, "reason": pl.String})


def _number_records(frame: pl.DataFrame, rejects: pl.DataFrame) -> pl.DataFrame:
    """Give accepted rows their record numbers, skipping the numbers of rejected records."""
    total = frame.height + rejects.height
    numbers = pl.Series(RECORD_NUMBER, range(1, total + 1), dtype=pl.Int64)
    kept = numbers.filter(~numbers.is_in(rejects[RECORD_NUMBER].implode()))
    return frame.with_columns(kept)


def _read_csv(path: Path) -> RawBatch:
    con = duckdb.connect()
    try:
        relation = con.sql(
            "select * from read_csv(?, header = true, all_varchar = true, delim = ',',"
            " quote = '\"', escape = '\"', store_rejects = true, auto_detect = true)",
            params=[str(path)],
        )
        frame = relation.pl()
        # One line can break several ways; it is still one rejected record.
        rejects = con.sql(
            "select (line - 1)::bigint as _record_number, 'malformed_line: ' || string_agg("
            " distinct lower(error_type) || ' (' || error_message || ')', '; ') as reason"
            " from reject_errors group by line order by line"
        ).pl()
    except duckdb.Error as error:
        raise UnreadableFile(f"not a readable CSV file ({str(error).splitlines()[0]})") from error
    finally:
        con.close()
    if frame.columns == ["column0"] and frame.height == 0:  # DuckDB's name for "no header"
        frame = pl.DataFrame()
    return RawBatch(_number_records(_normalise_headers(frame), rejects), rejects)


def _read_jsonl(path: Path) -> RawBatch:
    """One JSON object a line. The survey app's nested submissions become one row per answer."""
    con = duckdb.connect()
    try:
        lines = con.sql(
            "select row_number() over () as _record_number, line"
            " from read_csv(?, header = false, columns = {'line': 'VARCHAR'}, delim = chr(31),"
            " quote = '', escape = '', new_line = '\\n')",
            params=[str(path)],
        ).pl()
        lines = lines.filter(pl.col("line").str.strip_chars().fill_null("") != "")
        con.register("lines", lines)
        valid = con.sql(
            "select _record_number, line from lines where case when json_valid(line)"
            " then json_type(line::json) = 'OBJECT' else false end"
        ).pl()
        con.register("valid", valid)
        rejects = lines.join(valid, on=RECORD_NUMBER, how="anti").select(
            RECORD_NUMBER, pl.lit("malformed_line: not a JSON object").alias("reason")
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
            frame = _survey_answers(con)
            nested = True
        else:
            selects = "".join(
                f', coalesce({", ".join(_json_field(k) for k in originals)}) as "{name}"'
                for name, originals in spellings.items()
            )
            frame = con.sql(f"select _record_number{selects} from valid").pl()
            nested = False
    except duckdb.Error as error:
        raise UnreadableFile(f"not a readable JSONL file ({str(error).splitlines()[0]})") from error
    finally:
        con.close()
    return RawBatch(frame, rejects, nested_survey=nested)


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


def _read_typed(path: Path, suffix: str) -> RawBatch:
    try:
        if suffix == "parquet":
            frame = pl.read_parquet(path)
        else:
            frame = pl.read_excel(path, infer_schema_length=None, raise_if_empty=False)
    except Exception as error:  # every engine raises its own error types for a corrupt file
        raise UnreadableFile(
            f"not a readable {suffix} file ({str(error).splitlines()[0]})"
        ) from error
    typed = {name.strip().lower() for name, dtype in frame.schema.items() if dtype.is_temporal()}
    frame = _normalise_headers(
        frame.select(_as_text(pl.col(name), dtype) for name, dtype in frame.schema.items())
    )
    frame = frame.with_row_index(RECORD_NUMBER, offset=1).with_columns(
        pl.col(RECORD_NUMBER).cast(pl.Int64)
    )
    return RawBatch(frame, _no_rejects(), typed_columns=typed)


def _normalise_headers(frame: pl.DataFrame) -> pl.DataFrame:
    """Column names matched case-insensitively after trimming; two spellings of one is an error."""
    names = [name.strip().lower() for name in frame.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UnreadableFile(f"column(s) {', '.join(repeated)} appear more than once in the header")
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
