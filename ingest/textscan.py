"""Byte-level looks at a text landing file (CSV, JSONL) before a parser reads it.

Both read the file in blocks, never whole:

- `sniff` reads the first few KiB and says when the file is not UTF-8 text at all (UTF-16,
  binary), so the reason names the encoding instead of a parser's confusion;
- `scan_records` finds where every record ends (newlines outside quoted fields, the way
  DuckDB's reader splits a strict CSV), which records are blank (DuckDB skips them but
  counts them in its line numbers) and which are longer than the record limit (DuckDB fails
  the whole file on those, or silently drops one longer than its read buffer).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SNIFF_BYTES = 8 << 10
BLOCK_BYTES = 4 << 20  # numpy temporaries take ~40 times a block
QUOTE_RUN_BYTES = 64 << 10
NEWLINE, CARRIAGE_RETURN, SPACE, QUOTE, COMMA = 10, 13, 32, 34, 44
FIELD_ENDS = (COMMA, NEWLINE, CARRIAGE_RETURN)  # a quote after one of these opens a field
SPACES_LOOKED_PAST = 16
# A share of undecodable or control characters above this in the first KiB is not text.
BINARY_SHARE = 0.3


@dataclass(frozen=True)
class NotText:
    """Why a file is not UTF-8 text: `code` for the reason, `message` for people."""

    code: str
    message: str


def sniff(path: Path) -> NotText | None:
    """What the start of the file says about its encoding; None when it looks like UTF-8."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        order = "little" if head[0] == 0xFF else "big"
        return NotText("not_utf8", f"not UTF-8: looks like UTF-16 ({order}-endian, with BOM)")
    if b"\0" not in head:
        return _binary_unless_text(head)
    # UTF-16 text without a BOM: ASCII characters leave a NUL in every other byte.
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if max(even, odd) >= len(head) * 0.4 and min(even, odd) * 10 <= max(even, odd):
        order = "little" if odd > even else "big"
        return NotText("not_utf8", f"not UTF-8: looks like UTF-16 ({order}-endian, no BOM)")
    # A stray NUL in a text export (a broken identifier) is the record's problem, not the file's.
    return _binary_unless_text(head)


def _binary_unless_text(head: bytes) -> NotText | None:
    # The last 3 bytes may be a character cut by the sniff window, not an error.
    text = head[: len(head) - 3 if len(head) == SNIFF_BYTES else None].decode(
        "utf-8", errors="replace"
    )
    odd = sum(1 for char in text if char == "\ufffd" or (char < " " and char not in "\t\r\n\f"))
    if text and odd / len(text) > BINARY_SHARE:
        return NotText(
            "unreadable_file", "binary content (mostly control or non-UTF-8 bytes), not text"
        )
    return None


@dataclass(frozen=True)
class RecordScan:
    """Where a text file's records are. Records are numbered from 0 (a CSV's header)."""

    records: int
    first_end: int  # byte offset just past the first record's newline (or the file's end)
    oversized: list[tuple[int, int, int]]  # (number, start, end) of records over the limit
    blank_runs: np.ndarray  # (first number, length) of each run of consecutive blank records

    def numbers(self, count: int, first: int) -> np.ndarray:
        """The numbers of the first `count` non-blank records from record `first` on."""
        wanted = np.arange(count, dtype=np.int64)
        runs = self.blank_runs[self.blank_runs[:, 0] >= first]
        if not len(runs):
            return wanted + first
        blanks_before = np.concatenate(([0], np.cumsum(runs[:, 1])))
        # Non-blank records between `first` and each run: a wanted record past it shifts.
        nonblank_before = runs[:, 0] - first - blanks_before[:-1]
        passed = np.searchsorted(nonblank_before, wanted, side="right")
        return wanted + first + blanks_before[passed]


@dataclass
class _State:
    """The scan's state between blocks."""

    inside: int = 0  # 1 inside a quoted field
    start: int = 0  # byte offset where the current record starts
    number: int = 0  # the current record's number
    before: int = NEWLINE  # the byte before the current block (a file starts a field)


def scan_records(path: Path, max_record_bytes: int, quoted: bool) -> RecordScan:
    """Split the file into records, one block at a time (numpy, never the whole file).

    `quoted`: double quotes delimit fields whose newlines are content (CSV), with DuckDB's
    rules: a quote opens a field only at its start (elsewhere it is a literal, `5" spot`), and
    inside one a doubled quote is a quote. A file whose lines end in CR alone is split there.
    """
    state = _State()
    oversized: list[tuple[int, int, int]] = []
    blank_runs: list[np.ndarray] = []
    first_end = -1
    offset = 0
    with open(path, "rb") as handle:
        newline = NEWLINE
        for block in _blocks(handle):
            if offset == 0 and b"\n" not in block and b"\r" in block:
                newline = CARRIAGE_RETURN
            data = np.frombuffer(block, np.uint8)
            ends = np.flatnonzero(data == newline)
            if quoted:
                ends = ends[_outside_quotes(data, ends, state)]
            if ends.size:
                before = np.where(ends > 0, data[np.maximum(ends - 1, 0)], state.before)
                crlf = (before == CARRIAGE_RETURN) & (newline == NEWLINE)
                starts = np.concatenate(([state.start], ends[:-1] + offset + 1))
                lengths = ends + offset - starts - crlf
                numbers = state.number + np.arange(ends.size)
                blank_runs.append(_runs(numbers[lengths == 0]))
                for i in np.flatnonzero(lengths > max_record_bytes):
                    oversized.append((int(numbers[i]), int(starts[i]), int(ends[i] + offset)))
                if first_end < 0:
                    first_end = int(ends[0] + offset + 1)
                state.number += ends.size
                state.start = int(ends[-1] + offset + 1)
            offset += len(block)
            state.before = block[-1]
    if state.start < offset:  # a last record without a newline
        if offset - state.start > max_record_bytes:
            oversized.append((state.number, state.start, offset))
        state.number += 1
    return RecordScan(
        state.number,
        first_end if first_end >= 0 else offset,
        oversized,
        np.concatenate([np.empty((0, 2), np.int64), *blank_runs]),
    )


def _blocks(handle) -> Iterator[bytes]:
    """The file in blocks that do not end inside a run of quotes (its length matters)."""
    rest = b""
    while block := rest + handle.read(BLOCK_BYTES):
        rest = b""
        if block.endswith(b'"'):
            tail = handle.read(QUOTE_RUN_BYTES)
            cut = len(tail) - len(tail.lstrip(b'"'))
            block, rest = block + tail[:cut], tail[cut:]
        yield block


def _before_spaces(data: np.ndarray, positions: np.ndarray, before: int) -> np.ndarray:
    """The byte before each position, looking past spaces (DuckDB reads `, "a"` as quoted)."""
    previous = positions - 1
    for _ in range(SPACES_LOOKED_PAST):
        byte = np.where(previous >= 0, data[np.maximum(previous, 0)], before)
        spaces = (byte == SPACE) & (previous >= 0)
        if not spaces.any():
            break
        previous = np.where(spaces, previous - 1, previous)
    return np.where(previous >= 0, data[np.maximum(previous, 0)], before)


def _outside_quotes(data: np.ndarray, newlines: np.ndarray, state: _State) -> np.ndarray:
    """Which newlines of a block are outside quoted fields (and so end a record).

    The state changes only at runs of consecutive quotes; what a run does depends on its
    length's parity and on whether it starts a field (after a comma or a line end):
    odd at a field start toggles (opens, or closes an open field); odd elsewhere leaves
    the field closed (closes it, or is a literal quote); even changes nothing (an empty
    quoted field, or escaped quotes). Composing these per run is a prefix scan.
    """
    quotes = np.flatnonzero(data == QUOTE)
    if not quotes.size:
        return np.full(newlines.size, not state.inside)
    first = np.concatenate(([True], np.diff(quotes) != 1))
    starts = quotes[first]
    odd = np.diff(np.concatenate((np.flatnonzero(first), [quotes.size]))) % 2 == 1
    field_start = np.isin(_before_spaces(data, starts, state.before), FIELD_ENDS)
    toggles = np.cumsum(odd & field_start)
    closes = np.where(odd & ~field_start, np.arange(starts.size), -1)
    last_close = np.maximum.accumulate(closes)
    closed = last_close >= 0
    since = toggles - np.where(closed, toggles[np.maximum(last_close, 0)], 0)
    inside = (np.where(closed, 0, state.inside) + since) % 2
    run = np.searchsorted(starts, newlines) - 1  # the last run before each newline
    at_newline = np.where(run >= 0, inside[np.maximum(run, 0)], state.inside)
    state.inside = int(inside[-1])
    return at_newline == 0


def _runs(numbers: np.ndarray) -> np.ndarray:
    """Sorted record numbers as (first, length) runs: a file of empty lines stays small."""
    if not numbers.size:
        return np.empty((0, 2), np.int64)
    breaks = np.flatnonzero(np.diff(numbers) != 1) + 1
    firsts = np.concatenate(([0], breaks))
    lengths = np.diff(np.concatenate((firsts, [numbers.size])))
    return np.stack([numbers[firsts], lengths], axis=1).astype(np.int64)


def replace_records(
    source: Path, spans: list[tuple[int, int, int]], placeholder: bytes, target: Path
) -> None:
    """Copy `source` to `target` with each (number, start, end) span replaced by
    `placeholder`, streaming: an oversized record never enters memory, and the records
    around it keep their numbers."""
    with open(source, "rb") as reader, open(target, "wb") as writer:
        position = 0
        for _, start, end in spans:
            _copy(reader, writer, start - position)
            writer.write(placeholder)
            reader.seek(end)
            position = end
        shutil.copyfileobj(reader, writer, 1 << 20)


def _copy(reader, writer, size: int) -> None:
    while size > 0:
        chunk = reader.read(min(size, 1 << 20))
        if not chunk:
            return
        writer.write(chunk)
        size -= len(chunk)
