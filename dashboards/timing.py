"""How long each page's data takes to load: `python -m dashboards.timing DATA_DIR` prints JSON.

Each page of the app's navigation runs for real (Streamlit's AppTest, no browser), signed in as
an admin (who sees every page; registered in the data dir's users file with a random password),
first visit and then warm visits; the time spent inside `data.read` (the warehouse queries and
the cache) is the page's data-load time (for the SQL console: its catalog, read by the sandbox
process).
`toning bench` runs this in its own process and reports it.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboards import access, data, navigation, sql_sandbox
from toning import config, users

APP = Path(__file__).resolve().parent / "app.py"
WARM_VISITS = 5
BENCH_USER = "bench-admin"


def page_files() -> list[str]:
    """The pages in the app's navigation, in order."""
    return [page.script for page in navigation.PAGES]


def timed(function, spent: list[float]):
    """`function`, adding the seconds each call takes to `spent`."""

    def timed_function(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    return timed_function


def time_pages(warm_visits: int = WARM_VISITS) -> dict[str, dict[str, float]]:
    spent: list[float] = []
    data.read = timed(data.read, spent)
    sql_sandbox.describe_marts = timed(sql_sandbox.describe_marts, spent)
    users_file = config.data_dir().users_file
    if BENCH_USER not in users.load(users_file):
        users.add(users_file, BENCH_USER, users.ADMIN, (), users.new_password())
    app = AppTest.from_file(str(APP), default_timeout=300)
    for key, value in access.session_of(BENCH_USER).items():
        app.session_state[key] = value
    timings = {}
    for page in page_files():
        visits = []
        for _ in range(1 + warm_visits):
            spent.clear()
            app.switch_page(page).run()
            visits.append(sum(spent) * 1000)
        warm = sorted(visits[1:])
        timings[Path(page).stem] = {
            "first_visit_ms": round(visits[0], 1),
            "warm_p50_ms": round(statistics.median(warm), 1),
            "warm_p95_ms": round(warm[max(0, round(0.95 * len(warm)) - 1)], 1),
            "raised": bool(app.exception),
        }
    return timings


if __name__ == "__main__":
    os.environ["TONING_DATA_DIR"] = sys.argv[1]
    print(json.dumps(time_pages()))
