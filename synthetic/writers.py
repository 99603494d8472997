"""File bytes in each landing format, deterministic (same frame → same bytes).

Frames may carry annotation columns: `__raw` (a literal line written instead of the row, for
malformed lines), `__kind`/`__expect`/`__reason` (a planted dirt item on that record),
`__fst_odd` (an unrecognised Fitzpatrick spelling on that record) and `__spelt_kind`/`__spelt_col`/
`__spelt_text` (an informational column written in another spelling, or with a value the ingest
must drop: see informational.py). They are never written.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from datetime import datetime

import polars as pl
import xlsxwriter

# Fixed workbook properties: xlsx files must not carry the wall clock.
XLSX_CREATED = datetime(2026, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class DirtItem:
    kind: str
    feed: str | None  # None for a file outside every feed folder (the landing root)
    file: str
    record: int | None
    expect: str
    reason_code: str | None
    column: str | None = None  # the column the item is about, where it is one column
    value: str | None = None  # the text written in that column

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "feed": self.feed,
            "file": self.file,
            "record": self.record,
            "expect": self.expect,
            "reason_code": self.reason_code,
            "column": self.column,
            "value": self.value,
        }


def data_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if not c.startswith("__")]


def annotations(frame: pl.DataFrame, feed: str, file: str) -> list[DirtItem]:
    """Dirt items of annotated records; `record` is the 1-based data row / line number."""
    items: list[DirtItem] = []
    if "__kind" in frame.columns:
        marked = frame.with_row_index("__n", offset=1).filter(pl.col("__kind").is_not_null())
        for n, kind, expect, reason in marked.select(
            "__n", "__kind", "__expect", "__reason"
        ).iter_rows():
            items.append(DirtItem(kind, feed, file, n, expect, reason))
    if "__fst_odd" in frame.columns:
        odd = frame.with_row_index("__n", offset=1).filter(pl.col("__fst_odd"))
        for (n,) in odd.select("__n").iter_rows():
            items.append(DirtItem("unrecognised_fitzpatrick", feed, file, n, "loaded", None))
    if "__spelt_kind" in frame.columns:
        spelt = frame.with_row_index("__n", offset=1).filter(pl.col("__spelt_kind").is_not_null())
        for n, kind, column, text in spelt.select(
            "__n", "__spelt_kind", "__spelt_col", "__spelt_text"
        ).iter_rows():
            items.append(DirtItem(kind, feed, file, n, "loaded", None, column, text))
    return items


def csv_line(values: list[str | None]) -> str:
    """One CSV record (quoted where needed), for literal lines."""
    out = []
    for v in values:
        v = "" if v is None else v
        if any(ch in v for ch in ',"\n\r'):
            v = '"' + v.replace('"', '""') + '"'
        out.append(v)
    return ",".join(out)


def csv_bytes(
    frame: pl.DataFrame, headers: list[str], *, crlf: bool = False, bom: bool = False
) -> bytes:
    """A CSV file: header, rows, and literal lines where `__raw` is set."""
    eol = "\r\n" if crlf else "\n"
    cols = data_columns(frame)
    body = frame.select(cols)
    parts = [("\ufeff" if bom else "") + ",".join(headers) + eol]
    raw_positions: list[int] = []
    raw_lines: list[str] = []
    if "__raw" in frame.columns:
        raw = frame.with_row_index("__n").filter(pl.col("__raw").is_not_null())
        raw_positions = raw["__n"].to_list()
        raw_lines = raw["__raw"].to_list()
    start = 0
    for pos, line in zip([*raw_positions, body.height], [*raw_lines, None], strict=True):
        if pos > start:
            parts.append(
                body.slice(start, pos - start).write_csv(include_header=False, line_terminator=eol)
            )
        if line is not None:
            parts.append(line + eol)
        start = pos + 1
    return "".join(parts).encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    """Gzip with no timestamp or file name in the header."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def jsonl_bytes(lines: pl.Series) -> bytes:
    if lines.len() == 0:
        return b""
    return ("\n".join(lines.to_list()) + "\n").encode("utf-8")


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.select(data_columns(frame)).write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


def xlsx_bytes(
    frame: pl.DataFrame, headers: list[str], sheet: str, cover: list[str] | None = None
) -> bytes:
    """A workbook with the data on sheet `sheet`, after a text-only `Cover` sheet if given."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    workbook.set_properties({"created": XLSX_CREATED, "author": "clinic export", "title": sheet})
    if cover:
        front = workbook.add_worksheet("Cover")
        for row, line in enumerate(cover):
            front.write_string(row, 0, line)
    body = frame.select(data_columns(frame))
    body.columns = headers
    body.write_excel(workbook, worksheet=sheet, autofilter=False, table_style=None)
    workbook.close()
    return buffer.getvalue()
