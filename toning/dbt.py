"""Run the repository's dbt project as a subprocess.

dbt reads the ingest's lake (attached read-only) and writes every model as a table into a NEW
DuckDB file, which the refresh later publishes by atomic rename. This module only runs dbt:
it never raises because dbt failed (the caller decides what a failure means) and it keeps
dbt's target/ and logs/ out of the repository, under the caller's work directory.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from toning import config, memory

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
OUTPUT_TAIL_LINES = 60
LAKE_ALIAS = "lake"  # profiles.yml attaches the lake under this name


@dataclass(frozen=True)
class DbtResult:
    """What one dbt invocation did."""

    args: tuple[str, ...]
    returncode: int
    elapsed_s: float
    run_results_path: Path  # dbt writes it for build/run/test/seed; it may not exist
    log_path: Path  # dbt's own log (dbt.log, at info level)
    output_tail: str  # the last lines dbt printed, for error messages
    timed_out: bool = False
    peak_rss_bytes: int | None = None  # dbt's peak resident memory

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def catalog_name(database_path: Path) -> str:
    """The name DuckDB (and dbt-duckdb) give a database file: its name up to the first dot."""
    return Path(database_path).name.lstrip(".").split(".")[0]


def dbt_executable() -> Path:
    """The `dbt` installed next to the running interpreter (the project's virtualenv)."""
    executable = Path(sys.executable).parent / "dbt"
    if not executable.exists():
        raise FileNotFoundError(f"dbt is not installed next to {sys.executable}: {executable}")
    return executable


def dbt_environment(*, lake_path: Path, build_path: Path, work_dir: Path) -> dict[str, str]:
    """The environment dbt runs with: the two database paths, and nothing written to the repo."""
    env = dict(os.environ)
    env.update(
        {
            "TONING_LAKE_PATH": str(Path(lake_path).resolve()),
            "TONING_BUILD_PATH": str(Path(build_path).resolve()),
            "DBT_TARGET_PATH": str(Path(work_dir).resolve() / "target"),
            "DBT_LOG_PATH": str(Path(work_dir).resolve() / "logs"),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_USE_COLORS": "false",
            "DBT_VERSION_CHECK": "false",
            # dbt.log without every query's text: debug level costs half a second a build, and
            # a failed node's SQL stays in target/run.
            "DBT_LOG_LEVEL_FILE": "info",
            # profiles.yml hands these to DuckDB: its memory, and where it spills past it.
            "TONING_DBT_MEMORY_LIMIT": config.dbt_memory_limit(Path(lake_path)),
            "TONING_DBT_SPILL_DIR": str(Path(work_dir).resolve() / "spill"),
        }
    )
    return env


def run_dbt(
    args: Sequence[str],
    *,
    lake_path: Path,
    build_path: Path,
    work_dir: Path,
    project_dir: Path = DBT_PROJECT_DIR,
    on_line: Callable[[str], None] | None = None,
    timeout_s: float | None = None,
    extra_env: Mapping[str, str] | None = None,
    started: StartedDbt | None = None,
) -> DbtResult:
    """Run `dbt <args>` against the lake, building into `build_path`, in the `started` process
    if given (its imports done), else in a new one.

    Output (stdout and stderr, merged) is passed line by line to `on_line` if given, and its
    last lines are kept in the result. target/ and logs/ go under `work_dir`. The process runs
    with `work_dir` as its current directory. A `timeout_s` kills dbt and returns a result
    with `timed_out=True`. Never raises because dbt failed; raises FileNotFoundError when dbt
    itself is missing.
    """
    if catalog_name(build_path) == LAKE_ALIAS:
        raise ValueError(f"the build file's name clashes with the attached lake: {build_path}")
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    Path(build_path).resolve().parent.mkdir(parents=True, exist_ok=True)
    project_dir = Path(project_dir).resolve()
    command = [
        str(dbt_executable()),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
    ]
    env = dbt_environment(lake_path=lake_path, build_path=build_path, work_dir=work_dir)
    env.update(extra_env or {})  # another target's settings (toning/spark.py)
    run_results_path = Path(env["DBT_TARGET_PATH"]) / "run_results.json"
    run_results_path.unlink(missing_ok=True)  # never report a previous run's results
    began = time.monotonic()
    if started is None:
        process = _start(command, work_dir, env, stdin=subprocess.DEVNULL)
    else:
        process = started.run(command[1:], work_dir, env)
    returncode, tail, timed_out, peak = _stream(process, on_line, timeout_s)
    elapsed = time.monotonic() - began

    return DbtResult(
        args=tuple(args),
        returncode=returncode,
        elapsed_s=round(elapsed, 3),
        run_results_path=run_results_path,
        log_path=Path(env["DBT_LOG_PATH"]) / "dbt.log",
        output_tail="\n".join(tail),
        timed_out=timed_out,
        peak_rss_bytes=peak,
    )


class StartedDbt:
    """A dbt process started before its command is known (toning/dbt_process.py): Python, dbt
    and its adapter import (about 2 s) while the caller does something else first. Hand it to
    `run_dbt`; leaving the `with` ends it if it was never given a command."""

    def __init__(self) -> None:
        command = [sys.executable, "-m", "toning.dbt_process"]
        self.process = _start(command, Path.cwd(), dict(os.environ), stdin=subprocess.PIPE)

    def run(self, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        """The process, told to run `dbt <args>` in `cwd` with `env`."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"args": args, "env": env, "cwd": str(cwd)}) + "\n")
        self.process.stdin.close()
        return self.process

    def __enter__(self) -> StartedDbt:
        return self

    def __exit__(self, *_exc) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:  # never used
            self.process.kill()
            self.process.communicate()


def _start(command: list[str], cwd: Path, env: dict[str, str], stdin: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
        # dbt stays in the refresh's process group (a Ctrl+C or a scheduler's group kill reaches
        # it), and the kernel kills it when the refresh dies, however it dies.
        preexec_fn=_die_with_parent(os.getpid()),
    )


def _stream(
    process: subprocess.Popen[str],
    on_line: Callable[[str], None] | None,
    timeout_s: float | None,
) -> tuple[int, deque[str], bool, int]:
    """Pass the merged output of dbt's `process` line by line to `on_line`: (exit code, the
    last lines, whether `timeout_s` ran out and it was killed, its peak memory in bytes)."""
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    timed_out = threading.Event()
    with process:

        def kill() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout_s, kill) if timeout_s else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            assert process.stdout is not None
            for raw_line in process.stdout:
                line = raw_line.rstrip("\n")
                tail.append(line)
                if on_line:
                    on_line(line)
            # wait4, not wait: dbt's peak memory comes with its exit status.
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = returncode = os.waitstatus_to_exitcode(status)
        finally:
            if timer:
                timer.cancel()
    return returncode, tail, timed_out.is_set(), memory.child_peak_bytes(usage)


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """What the child runs before it becomes dbt: ask Linux to SIGKILL it when the refresh
    dies (a SIGKILLed refresh cannot stop its children itself, and an orphaned dbt would keep
    the lake and the build file locked). Linux sends it when the *thread* that started dbt
    ends, so run dbt from a thread that outlives it (the refresh runs it from its main thread).
    None where prctl does not exist."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def set_parent_death_signal() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the refresh died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return set_parent_death_signal


# dbt's line for a finished node: "02:10:07  12 of 340 OK created sql table model ..."
NODE_DONE = re.compile(r"^\S+\s+(\d+) of (\d+) (OK|PASS|WARN|ERROR|FAIL|SKIP|NO-OP)\b")


class NodeProgress:
    """An `on_line` for run_dbt that says how far the build is, at most every `every_s`
    seconds (a scheduler's log gets a line now and then, not one per node)."""

    def __init__(self, say: Callable[[str], None], label: str, every_s: float = 10.0):
        self.say = say
        self.label = label
        self.every_s = every_s
        self._last = time.monotonic()
        self._done = 0

    def __call__(self, line: str) -> None:
        finished = NODE_DONE.match(line)
        if not finished:
            return
        self._done += 1  # threads finish nodes out of order: count them, not their numbers
        if time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            self.say(f"{self.label}: {self._done} of {finished[2]} models and tests done")


def dbt_build(
    *,
    lake_path: Path,
    build_path: Path,
    work_dir: Path,
    extra_args: Sequence[str] = (),
    on_line: Callable[[str], None] | None = None,
    timeout_s: float | None = None,
) -> DbtResult:
    """`dbt build` (models, data tests and unit tests) of the whole project."""
    return run_dbt(
        ["build", *extra_args],
        lake_path=lake_path,
        build_path=build_path,
        work_dir=work_dir,
        on_line=on_line,
        timeout_s=timeout_s,
    )
