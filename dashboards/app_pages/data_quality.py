"""Data quality: what the latest refresh found, what changed since, and what was quarantined."""

import streamlit as st

from dashboards import access, data, ui
from dashboards.disclosure import spreadsheet_safe_csv

st.title("Data quality")

open_fatals = data.open_fatal_findings()
if not open_fatals.empty:
    st.error(
        f"**{len(open_fatals)} open fatal finding(s): no refresh publishes until each is dealt "
        "with and acknowledged.** The pages show the last warehouse published before them. "
        "On the server, `toning dq list` shows the command that acknowledges each.",
        icon=":material/block:",
    )
    st.dataframe(open_fatals, hide_index=True, width="stretch")

st.subheader("Latest refreshes")
st.caption(
    "Every refresh of this data folder, newest first, failed ones included: a failed refresh "
    "publishes nothing, and the pages keep showing the last published warehouse."
)
runs = data.run_history()
if runs.empty:
    st.info("No refresh has run on this data folder yet: run `toning refresh`.")
else:
    ui.table(runs, "the refresh history", "refresh_history.csv")

with ui.page_data():
    results = data.quality_results()
    quarantined = data.quarantine_summary()
    set_aside = data.informational_findings()
    fresh = data.freshness()
    received = data.files_received()

if results.empty:
    st.info("No data-quality results yet: they appear after the first refresh.")
    st.stop()

failed = results[results["status"] == "fail"]
st.caption(
    f"Checks of refresh {results['run_id'].iloc[0]}. A failed **fatal** check stops a refresh "
    "from publishing (the last good warehouse stays); a failed **warn** check is published and "
    "listed here. Limits are set in expectations/thresholds.yml."
)
passed, warnings, changed = st.columns(3)
passed.metric("Checks passed", f"{len(results) - len(failed):,} of {len(results):,}")
warnings.metric("Warnings", f"{(failed['severity'] == 'warn').sum():,}")
changed.metric(
    "Changed since their last check",
    f"{results['change'].isin(['newly failing', 'fixed']).sum():,}",
    help="Checks that failed last time and pass now, or the other way round.",
)

st.subheader("Findings")
st.caption(
    "Every failed check. Source gx: an expectation of a feed's suite at the ingest door "
    "(observed = records it quarantined); warehouse: a check on the built warehouse; "
    "dbt: a dbt test."
)
shown = ["severity", "change", "source", "check_name", "subject", "observed", "threshold", "detail"]
st.dataframe(failed[shown], hide_index=True, width="stretch")
st.download_button(
    "Download every result of this refresh as CSV",
    spreadsheet_safe_csv(results),
    "data_quality_results.csv",
    mime="text/csv",
    icon=":material/download:",
    on_click=access.record_download,
    args=("data_quality_results.csv", len(results)),
)

st.subheader("Freshness per clinic and feed")
st.caption(
    "The latest record of each clinic in each dated feed, and how many days it lies behind the "
    "warehouse's as-of date (the latest date in any feed): a clinic whose export stopped falls "
    "behind. The clinic_freshness_days check above warns past its limit."
)
ui.table(fresh, "freshness", "freshness.csv")
st.caption("Files received per feed, and the latest one.")
ui.table(received, "files received", "files_received.csv")

moved = results[results["change"].isin(["newly failing", "fixed"])]
if not moved.empty:
    st.subheader("Changed since the last check")
    st.dataframe(moved[shown], hide_index=True, width="stretch")

st.subheader("Quarantined records")
st.caption(
    "Records held back at the ingest door, per feed, reason and the expectation they broke. "
    "They are kept in ops.quarantine with their record number; nothing is dropped."
)
ui.table(quarantined, "quarantine counts", "quarantine_counts.csv")

st.subheader("Informational values set aside")
st.caption(
    "Values in columns no metric needs (a supplied timepoint, a channel, a provider's role...) "
    "that could not be read: the record loaded with that value empty, and the value as it "
    "arrived is kept in ops.ingest_findings: the feed and column say which export to fix."
)
if set_aside.empty:
    st.info("Every informational value received so far was readable.")
else:
    ui.table(set_aside, "set-aside counts", "informational_values_set_aside.csv")

docs = data.data_docs_index()
if docs.exists():
    st.caption(
        f"Great Expectations Data Docs of the latest validated landing files: `{docs}` "
        "(open it in a browser on the server)."
    )
