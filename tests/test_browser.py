"""What a person sees in a real browser: every page of the dashboards' navigation, served by
`toning serve` over the demo warehouse and driven by Debian's Chromium through Playwright.

Each page is opened by its URL, checked for raised exceptions and error alerts, and written as a
screenshot to build/test-output/screenshots/ (or $TONING_TEST_OUTPUT/screenshots/).

The helpers below (navigation_page, open_dashboard_page, wait_for_app_run, first_metric_values,
metric_values_by_label, metric_value, choose_in_selectbox) are the machinery for tests of the
pages' filters.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Browser, Locator, Page, WebSocket, expect, sync_playwright
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from dashboards import access, navigation
from dashboards import consultation_words as words
from tests.app_testing import TEST_PASSWORD, register
from tests.test_dashboards import free_port, streamlit_health
from toning import audit
from toning.users import ADMIN, MANAGER

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
TONING = Path(sys.executable).parent / "toning"
CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium, headless as root, offline: no sandbox (root), no GPU, and nothing that phones
# home for updates or first-run pages.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Streamlit scrolls an inner container, so full_page screenshots stop at the viewport: the
# viewport itself is made tall enough (and taller still for a longer page, see fit_viewport).
VIEWPORT = {"width": 1400, "height": 2400}
TALLEST_SCREENSHOT_PX = 12_000
TIMEOUT_MS = 30_000
BROWSER_USER = "browser-admin"
# Pictographs, symbols and dingbats, regional indicators, the emoji variation selector and the
# zero-width joiner: what Debian's Chromium draws as empty boxes without an emoji font.
EMOJI = re.compile("[\U0001f000-\U0001faff\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d]")


# --- The navigation, read from dashboards/navigation.py --------------------------------------


@dataclass(frozen=True)
class DashboardPage:
    """One page of the navigation, as a browser reaches it."""

    script: str  # as in navigation.py, e.g. "app_pages/overview.py"
    title: str
    url_path: str  # "" for the default page, served at "/"
    name: str  # the page's own path segment, also the screenshot's file name


def navigation_pages() -> list[DashboardPage]:
    """Every page an admin sees (every page there is), in the navigation's order."""
    return [
        DashboardPage(
            script=page.script,
            title=page.title,
            url_path="" if page == navigation.DEFAULT else page.name,
            name=page.name,
        )
        for page in navigation.pages_for(ADMIN)
    ]


NAVIGATION = navigation_pages()


def navigation_page(name: str) -> DashboardPage:
    """The page of the navigation whose path segment is `name` (e.g. "data_quality")."""
    [page] = [page for page in NAVIGATION if page.name == name]
    return page


# --- Helpers that drive a Streamlit page ------------------------------------------------------


def wait_for_app_run(tab: Page) -> None:
    """Until the script has run to the end and everything it sent is drawn."""
    tab.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']").wait_for()
    # "initial" until a first run starts, "running" during a run: "notRunning" means done.
    tab.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for()
    tab.get_by_test_id("stStatusWidget").wait_for(state="detached")
    expect(tab.get_by_test_id("stSkeleton")).to_have_count(0)
    # Plotly draws after the run; a chart without its svg yet would be an empty box.
    for chart in tab.get_by_test_id("stPlotlyChart").all():
        chart.locator(".main-svg").first.wait_for(state="attached")


def open_dashboard_page(tab: Page, base_url: str, page: DashboardPage) -> None:
    """Load the page by its URL and wait until it has finished running."""
    tab.goto(f"{base_url}/{page.url_path}")
    wait_for_app_run(tab)
    tab.get_by_role("heading", level=1).first.wait_for(state="visible")


def page_shown_in_sidebar(tab: Page) -> str:
    """The title of the navigation link marked as the current page."""
    current = tab.locator("[data-testid='stSidebarNavLink'][aria-current='page']")
    return current.get_by_test_id("stMarkdownContainer").inner_text().strip()


def sidebar_link_texts(tab: Page) -> list[str]:
    """Every navigation link's text as drawn (icon and title), the collapsed ones included."""
    show_more = tab.get_by_test_id("stSidebarNavViewButton")
    if show_more.is_visible() and "more" in show_more.inner_text().lower():
        show_more.click()
    return [text.strip() for text in tab.get_by_test_id("stSidebarNavLink").all_inner_texts()]


def errors_shown(tab: Page) -> list[str]:
    """What the page shows of raised exceptions and st.error alerts."""
    exceptions = tab.get_by_test_id("stException").all_inner_texts()
    # An exception is drawn inside an error alert of its own: count it once.
    alerts = tab.locator(
        "[data-testid='stAlertContentError']:not([data-testid='stException'] *)"
    ).all_inner_texts()
    return [text.strip() for text in exceptions + alerts]


def first_metric_values(tab: Page) -> list[str]:
    """The value of every st.metric on the page, top to bottom, as drawn (e.g. "14,986")."""
    return [text.strip() for text in tab.get_by_test_id("stMetricValue").all_inner_texts()]


def metric_values_by_label(tab: Page) -> dict[str, str]:
    """{label: value} of every st.metric on the page."""
    labels = [text.strip() for text in tab.get_by_test_id("stMetricLabel").all_inner_texts()]
    return dict(zip(labels, first_metric_values(tab), strict=True))


def metric_value(tab: Page, label: str) -> Locator:
    """The value of the st.metric labelled `label`. After a rerun, check it with expect(), which
    retries: the browser may draw the rerun's elements a moment after the script has finished."""
    metric = tab.get_by_test_id("stMetric").filter(
        has=tab.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    )
    return metric.get_by_test_id("stMetricValue")


# Each tab's Streamlit websocket (a page load opens a new one): the server says on it when a
# script run has finished. The script-state attribute on stApp cannot say so for a quick rerun:
# React may draw "running" and "notRunning" in one go, and the attribute never changes.
_STREAMLIT_SOCKETS: dict[Page, WebSocket] = {}


def follow_streamlit_socket(tab: Page) -> None:
    """Call once per tab, before its first page load, so that choose_in_selectbox can wait for
    the rerun it causes."""

    def remember(socket: WebSocket) -> None:
        if socket.url.endswith("/_stcore/stream"):
            _STREAMLIT_SOCKETS[tab] = socket

    tab.on("websocket", remember)


def is_script_finished(frame: str | bytes) -> bool:
    if isinstance(frame, str):
        return False
    return ForwardMsg.FromString(frame).WhichOneof("type") == "script_finished"


def choose_in_selectbox(tab: Page, label: str, option: str) -> None:
    """Pick `option` in the st.selectbox labelled `label`, as a person would (open the box, click
    the option), and return once the rerun it causes has finished. Its elements may be drawn a
    moment later: check what it changed with expect(), which retries (see metric_value)."""
    selectbox = tab.get_by_test_id("stSelectbox").filter(
        has=tab.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True)
    )
    shown = selectbox.get_by_role("combobox")
    assert shown.input_value() != option, f"{label!r} already shows {option!r}: nothing to rerun"
    socket = _STREAMLIT_SOCKETS.get(tab)
    assert socket, "call follow_streamlit_socket(tab) before the tab's first page load"
    with socket.expect_event("framereceived", predicate=is_script_finished):
        selectbox.click()
        tab.get_by_role("listbox").get_by_role("option", name=option, exact=True).click()
    expect(shown).to_have_value(option)
    wait_for_app_run(tab)


def sign_in(tab: Page, base_url: str, name: str, password: str) -> None:
    """Sign in through the form, as a person would, and wait for the run it causes."""
    tab.goto(base_url)
    wait_for_app_run(tab)
    tab.get_by_label("User name", exact=True).fill(name)
    tab.get_by_label("Password", exact=True).fill(password)
    with _STREAMLIT_SOCKETS[tab].expect_event("framereceived", predicate=is_script_finished):
        tab.get_by_role("button", name="Sign in").click()
    wait_for_app_run(tab)
    # The sign-in cookie is set by a component in its own frame, a moment after the run: a
    # page opened by its address before that would be a new session, not signed in.
    for _ in range(TIMEOUT_MS // 100):
        if any(cookie["name"] == access.COOKIE_NAME for cookie in tab.context.cookies()):
            return
        tab.wait_for_timeout(100)
    pytest.fail("the sign-in cookie was never set")


def fit_viewport(tab: Page) -> None:
    """Make the viewport as tall as the page's scrolling main area, so one screenshot holds it."""
    needed = tab.get_by_test_id("stMain").evaluate("main => main.scrollHeight")
    height = min(max(VIEWPORT["height"], needed), TALLEST_SCREENSHOT_PX)
    tab.set_viewport_size({"width": VIEWPORT["width"], "height": height})


# --- Fixtures: one server, one browser, one tab for the whole module ---------------------------


@pytest.fixture(scope="module")
def screenshots() -> Path:
    output = Path(os.environ.get("TONING_TEST_OUTPUT") or ROOT / "build" / "test-output")
    folder = output / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def serve(command: list[str], port: int, log: Path) -> Iterator[str]:
    """Run a Streamlit server until the caller is done; yields its base URL."""
    with log.open("w") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        if streamlit_health(port) != "ok":
            pytest.fail(f"no Streamlit server on port {port}:\n{log.read_text()[-3000:]}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def dashboards_url(demo_warehouse, screenshots) -> Iterator[str]:
    _, data = demo_warehouse
    register(data, BROWSER_USER, ADMIN)
    port = free_port()
    command = [str(TONING), "serve", "--data-dir", str(data.root), "--port", str(port)]
    yield from serve(command, port, screenshots.parent / "toning-serve.log")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test drives Debian's Chromium. Install it with "
            "`apt-get install -y chromium` (.ci/run does; never `playwright install`).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def tab(browser, dashboards_url) -> Iterator[Page]:
    """One browser tab, signed in as an admin (who sees every page), that every test of this
    module drives in turn: the sign-in cookie keeps it signed in from page to page."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    follow_streamlit_socket(tab)
    sign_in(tab, dashboards_url, BROWSER_USER, TEST_PASSWORD)
    tab.get_by_role("heading", name=NAVIGATION[0].title, level=1).first.wait_for(state="visible")
    yield tab
    _STREAMLIT_SOCKETS.pop(tab, None)
    context.close()


@pytest.fixture
def dashboards(tab, dashboards_url) -> Iterator[tuple[Page, str]]:
    yield tab, dashboards_url
    tab.set_viewport_size(VIEWPORT)  # fit_viewport may have stretched it


def published_rows(data, sql: str) -> list[tuple]:
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


# --- Tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", NAVIGATION, ids=[page.name for page in NAVIGATION])
def test_every_page_opens_without_an_error(dashboards, screenshots, page):
    tab, url = dashboards
    open_dashboard_page(tab, url, page)
    fit_viewport(tab)
    # The screenshot first: when the page is broken, the picture shows how.
    tab.screenshot(path=screenshots / f"{page.name}.png")
    assert page_shown_in_sidebar(tab) == page.title, f"/{page.url_path} is not {page.script}"
    assert errors_shown(tab) == []


def test_the_sidebar_lists_every_page_of_the_navigation(dashboards):
    tab, url = dashboards
    open_dashboard_page(tab, url, NAVIGATION[0])
    titles = [text.splitlines()[-1].strip() for text in sidebar_link_texts(tab)]
    assert titles == [page.title for page in NAVIGATION]


def test_the_sidebar_navigation_shows_no_emoji(dashboards):
    tab, url = dashboards
    open_dashboard_page(tab, url, NAVIGATION[0])
    with_emoji = [text for text in sidebar_link_texts(tab) if EMOJI.search(text)]
    assert with_emoji == [], "emoji are empty boxes in Debian's Chromium: use :material/...:"


def test_the_overview_shows_the_published_counts(dashboards, demo_warehouse):
    tab, url = dashboards
    open_dashboard_page(tab, url, navigation_page("overview"))
    [(sessions, patients)] = published_rows(
        demo_warehouse[1],
        "select count(*), count(distinct patient_key) from marts.fct_sessions",
    )
    metrics = metric_values_by_label(tab)
    assert (metrics["Completed sessions"], metrics["Patients treated"]) == (
        f"{sessions:,}",
        f"{patients:,}",
    )


def test_choosing_an_instrument_changes_the_response_rate(dashboards, demo_warehouse):
    tab, url = dashboards
    open_dashboard_page(tab, url, navigation_page("overview"))
    before = metric_values_by_label(tab)["Response rate"]
    choose_in_selectbox(tab, "Outcome instrument", "mmasi")
    [(rate,)] = published_rows(
        demo_warehouse[1],
        "select avg(case when is_responder then 1.0 else 0.0 end) from marts.fct_course_outcomes"
        " where status = 'completed' and instrument = 'mmasi' and is_responder is not null",
    )
    assert f"{rate:.1%}" != before, "the demo's mmasi rate equals the default instrument's"
    expect(metric_value(tab, "Response rate")).to_have_text(f"{rate:.1%}")


def test_the_data_quality_page_shows_the_latest_checks(dashboards, demo_warehouse):
    tab, url = dashboards
    open_dashboard_page(tab, url, navigation_page("data_quality"))
    [(checks, passed, warnings)] = published_rows(
        demo_warehouse[1],
        "select count(*), count(*) filter (status <> 'fail'),"
        " count(*) filter (status = 'fail' and severity = 'warn')"
        " from ops.dq_results where run_id = (select max(run_id) from ops.dq_results)",
    )
    assert first_metric_values(tab)[:2] == [f"{passed:,} of {checks:,}", f"{warnings:,}"]
    assert metric_values_by_label(tab)["Warnings"] == f"{warnings:,}"


def selectbox_value(tab: Page, label: str) -> str:
    """The option an st.selectbox labelled `label` shows."""
    selectbox = tab.get_by_test_id("stSelectbox").filter(
        has=tab.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True)
    )
    return selectbox.get_by_role("combobox").input_value()


def test_the_consultation_aid_says_what_similar_patients_experienced(
    dashboards, demo_warehouse, screenshots
):
    tab, url = dashboards
    [(skin_type, concern, rate, low, high, measured)] = published_rows(
        demo_warehouse[1],
        "select skin_type, primary_concern, response_rate, response_rate_ci_low,"
        " response_rate_ci_high, courses_measured from marts.expected_course_outcomes"
        " where laser_type = 'ALL' and response_rate is not null and responders >= 11"
        " order by courses_measured desc limit 1",
    )
    open_dashboard_page(tab, url, navigation_page("consultation"))
    for label, option in [("Skin type", skin_type), ("Primary concern", concern.replace("_", " "))]:
        if selectbox_value(tab, label) != option:
            choose_in_selectbox(tab, label, option)
    share, interval = words.share_in_words(rate, low, high)
    improvement = tab.get_by_test_id("stMarkdownContainer").filter(has_text="Improvement.").first
    expect(improvement).to_contain_text(f"{share[:1].upper()}{share[1:]} similar patients")
    expect(improvement).to_contain_text(
        f"({interval}), based on {measured:,} completed courses measured on"
    )
    fit_viewport(tab)
    tab.screenshot(path=screenshots / "consultation-aid.png")
    assert errors_shown(tab) == []


# --- Who sees what ---------------------------------------------------------------------------


@pytest.fixture
def fresh_tab(browser) -> Iterator[Page]:
    """A tab of a browser profile of its own: no sign-in cookie."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    follow_streamlit_socket(tab)
    yield tab
    _STREAMLIT_SOCKETS.pop(tab, None)
    context.close()


def test_a_visitor_who_has_not_signed_in_sees_only_the_sign_in_form(fresh_tab, dashboards_url):
    for page in NAVIGATION:
        open_dashboard_page(fresh_tab, dashboards_url, page)
        # expect() waits out a rerun that redraws the page right after the first run.
        expect(fresh_tab.get_by_role("heading")).to_have_text(["Laser toning outcomes", "Sign in"])
        assert sidebar_link_texts(fresh_tab) == []
        assert first_metric_values(fresh_tab) == []
        assert fresh_tab.get_by_test_id("stDataFrame").count() == 0


def test_a_manager_sees_their_clinic_only_and_signs_out(
    fresh_tab, dashboards_url, demo_warehouse, screenshots
):
    _, data = demo_warehouse
    clinics = dict(published_rows(data, "select clinic_id, clinic_name from marts.dim_clinics"))
    own = min(clinics)
    others = [text for clinic, name in clinics.items() if clinic != own for text in (clinic, name)]
    register(data, "browser-manager", MANAGER, (own,))
    sign_in(fresh_tab, dashboards_url, "browser-manager", TEST_PASSWORD)
    fresh_tab.get_by_role("heading", name="Overview", level=1).first.wait_for(state="visible")
    titles = [text.splitlines()[-1].strip() for text in sidebar_link_texts(fresh_tab)]
    assert titles == [page.title for page in navigation.pages_for(MANAGER)]
    for page in navigation.pages_for(MANAGER):
        open_dashboard_page(fresh_tab, dashboards_url, navigation_page(page.name))
        assert page_shown_in_sidebar(fresh_tab) == page.title  # signed in, on that page
        shown = fresh_tab.get_by_test_id("stMain").inner_text()
        assert not [text for text in others if text in shown], page.name
        if page.name == "maintenance":  # the re-identified worklist, and its download
            fit_viewport(fresh_tab)
            fresh_tab.screenshot(path=screenshots / "maintenance-as-manager.png")
            with fresh_tab.expect_download() as download:
                fresh_tab.get_by_role("button", name="Download the worklist as CSV").click()
            assert download.value.suggested_filename == f"maintenance_due_{own}.csv"
            wait_for_app_run(fresh_tab)
    manager_events = [e for e in audit.read(data.audit_log) if e["user"] == "browser-manager"]
    kinds = {event["event"] for event in manager_events}
    assert {audit.SIGN_IN, audit.PAGE, audit.REIDENTIFIED, audit.DOWNLOAD} <= kinds
    fresh_tab.get_by_role("button", name="Sign out").click()
    fresh_tab.get_by_role("heading", name="Sign in").wait_for(state="visible")
    open_dashboard_page(fresh_tab, dashboards_url, NAVIGATION[0])  # a reload: no cookie left
    assert fresh_tab.get_by_role("heading", name="Sign in").is_visible()
    assert access.COOKIE_NAME not in [cookie["name"] for cookie in fresh_tab.context.cookies()]
