"""The `dbt` command, started before the refresh knows what to run.

Python, dbt and its DuckDB adapter take about two seconds to import, paid by every build
before its first model. The refresh starts this process when it starts ingesting, so the
import overlaps the ingest (`toning.dbt.StartedDbt`); when the build is due it writes one line
to this process's stdin, the command's arguments, environment and working directory as JSON,
and the process runs it as the `dbt` executable would (same output, same exit code). End of
input instead of a command (the refresh stopped before its build) ends it quietly.
"""

from __future__ import annotations

import json
import os
import sys

import dbt.adapters.duckdb  # noqa: F401  (dbt imports its adapter on the first command)
from dbt.cli.main import cli


def main() -> int:
    line = sys.stdin.readline()
    if not line:
        return 0
    command = json.loads(line)
    os.environ.clear()
    os.environ.update(command["env"])
    os.chdir(command["cwd"])
    sys.argv = ["dbt", *command["args"]]
    return cli()


if __name__ == "__main__":
    sys.exit(main())
