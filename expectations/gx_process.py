"""Great Expectations in a process of its own, beside the ingest.

GX's import (about 2 s of Python) and its pandas validations hold the interpreter's lock: in
the refresh's process they took turns with the ingest's reading thread, which is what a
refresh waits on. Here they run on the other core. One process serves every `SuiteValidator`
of its parent (`expectations.validate`), each a session with a GX context of its own; it
imports GX as soon as it starts and ends when its parent closes the pipe (or dies).

Requests and replies are Python objects over a pair of pipes (`multiprocessing.connection`);
a chunk travels as a polars DataFrame (pickled as Arrow IPC).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import traceback
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import polars as pl

from contract.feeds import FEEDS
from expectations.suites import Rule, suite_rules

DOCS_SITE = "data_docs"
_PEAK = re.compile(r"^VmHWM:\s+(\d+) kB$", re.MULTILINE)

# The nanosecond timestamps pandas holds; a date outside them (year 1 or 9999, a system's "no
# date") is moved to the nearest end, which is as implausible as the date itself.
_NS_EARLIEST = datetime(1678, 1, 1)
_NS_LATEST = datetime(2262, 1, 1)


class _Session:
    """The GX context of one `SuiteValidator`: a suite and a validation definition per feed."""

    def __init__(self, gx, latest: date):
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.latest = latest
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_pandas("landing")
        self.definitions: dict[str, object] = {}

    def broken(self, feed_name: str, frame: pl.DataFrame, label: str) -> list[tuple[int, list]]:
        """(rule number, positions of the rows that break it) for each rule `frame` breaks."""
        result = self._definition(feed_name).run(
            batch_parameters={"dataframe": _for_gx(frame)},
            # The failing rows' positions are all the ingest needs. GX's "index query" is
            # a text listing them again, built by filtering the whole chunk once more for
            # each rule: a tenth of the suites' time on the 1m tier, for nothing.
            result_format={
                "result_format": "COMPLETE",
                "partial_unexpected_count": 20,
                "return_unexpected_index_query": False,
            },
            run_id=self.gx.RunIdentifier(run_name=label, run_time=datetime.now(UTC)),
        )
        broken = []
        for outcome in result.results:
            # A rule that could not be checked must not let its records through unchecked.
            problem = _raised(outcome.exception_info)
            if outcome.success:
                continue
            index = outcome.result.get("unexpected_index_list")
            if problem or not index:
                raise RuntimeError(
                    f"{label}: {outcome.expectation_config.type} on"
                    f" {outcome.expectation_config.kwargs.get('column')} could not name the"
                    f" failing records: {problem or 'no unexpected_index_list'}"
                )
            broken.append((outcome.expectation_config.meta["rule"], list(index)))
        return broken

    def _definition(self, feed_name: str):
        if feed_name not in self.definitions:
            gx = self.gx
            rules = suite_rules(FEEDS[feed_name].name, self.latest)
            expectations = [_expectation(gx, rule, number) for number, rule in enumerate(rules)]
            suite = self.context.suites.add(
                gx.ExpectationSuite(name=feed_name, expectations=expectations)
            )
            asset = self.source.add_dataframe_asset(feed_name)
            batch = asset.add_batch_definition_whole_dataframe("each_landing_file")
            self.definitions[feed_name] = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=feed_name, data=batch, suite=suite)
            )
        return self.definitions[feed_name]

    def build_docs(self, directory: Path) -> Path:
        """Data Docs of this session's validations, replacing the previous ones. Built aside
        first, so a reader never sees half a site."""
        building = directory.with_name(directory.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        self.context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(building),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        try:
            self.context.build_data_docs(site_names=[DOCS_SITE])
        finally:
            self.context.delete_data_docs_site(DOCS_SITE)
        previous = directory.with_name(directory.name + ".previous")
        shutil.rmtree(previous, ignore_errors=True)
        if directory.exists():
            os.replace(directory, previous)
        os.replace(building, directory)
        shutil.rmtree(previous, ignore_errors=True)
        return directory / "index.html"


def _for_gx(chunk: pl.DataFrame):
    """The chunk in pandas, typed so that GX compares whole columns at once: it does so only
    for 64-bit numbers and nanosecond timestamps, and calls Python once per value otherwise
    (three quarters of the expectation suites' time on the 1m tier). Text goes as categories:
    GX copies the rows of the whole frame for each rule's domain, and copying category codes
    is several times cheaper than copying strings (those copies were two fifths of the
    suites' time on the 1m tier)."""
    casts = []
    for name, dtype in chunk.schema.items():
        if dtype == pl.String:
            casts.append(pl.col(name).cast(pl.Categorical))
        elif dtype.is_integer():
            casts.append(pl.col(name).cast(pl.Int64))
        elif dtype.is_float():
            casts.append(pl.col(name).cast(pl.Float64))
        elif dtype == pl.Date or (dtype == pl.Datetime and dtype.time_zone is None):
            casts.append(
                pl.col(name)
                .cast(pl.Datetime("us"))
                .clip(_NS_EARLIEST, _NS_LATEST)
                .cast(pl.Datetime("ns"))
            )
    return chunk.with_columns(casts).to_pandas()


def _raised(info: dict) -> str | None:
    """The exception message in a GX result's exception_info (flat, or per metric)."""
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message"))
    return None


def _expectation(gx, rule: Rule, number: int):
    kind = "".join(part.title() for part in rule.expectation.split("_"))
    return getattr(gx.expectations, kind)(
        column=rule.subject,
        meta={"rule": number, "reason_code": rule.reason_code},
        **rule.options,
    )


def _peak_bytes(reset: bool) -> int | None:
    """This process's peak resident memory (since the last reset), then reset if asked."""
    try:
        found = _PEAK.search(Path("/proc/self/status").read_text())
        if reset:
            Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return int(found[1]) * 1024 if found else None


class _Server:
    """The sessions of this process and the answer to each kind of request."""

    def __init__(self):
        import great_expectations as gx

        self.gx = gx
        self.sessions: dict[int, _Session] = {}

    def session(self, number: int, latest: date) -> _Session:
        if number not in self.sessions:
            self.sessions[number] = _Session(self.gx, latest)
        return self.sessions[number]

    def ready(self, number: int, latest: date) -> None:
        self.session(number, latest)

    def run(self, number: int, latest: date, feed_name: str, frame: pl.DataFrame, label: str):
        return self.session(number, latest).broken(feed_name, frame, label)

    def docs(self, number: int, latest: date, directory: str) -> Path:
        return self.session(number, latest).build_docs(Path(directory))

    def peak(self, reset: bool) -> int | None:
        return _peak_bytes(reset)

    def forget(self, numbers: list[int]) -> None:
        for number in numbers:
            self.sessions.pop(number, None)


_KINDS = ("ready", "run", "docs", "peak", "forget")


def serve(requests: Connection, replies: Connection) -> None:
    """Answer requests, in order, until the parent closes its end: (kind, *arguments) for a
    method of `_Server` named in `_KINDS`. Each reply is ("ok", value) or ("error", message)."""
    server = _Server()
    while True:
        try:
            kind, *args = requests.recv()
        except EOFError:
            return
        try:
            if kind not in _KINDS:
                raise ValueError(f"unknown request {kind!r}")
            value = getattr(server, kind)(*args)
        except Exception as error:  # the parent raises it; this process serves on
            traceback.print_exc(file=sys.stderr)
            replies.send(("error", f"{type(error).__name__}: {error}"))
        else:
            replies.send(("ok", value))


if __name__ == "__main__":
    # A Ctrl+C reaches the whole foreground group: the refresh handles it and closes the pipe,
    # which ends this process quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reading, writing = (int(fd) for fd in sys.argv[1:3])
    serve(Connection(reading, writable=False), Connection(writing, readable=False))
