"""Data quality: what the latest refresh found, what changed since, and what was quarantined."""

import pandas as pd
import streamlit as st

from dashboards import data


def downloadable(table: pd.DataFrame, what: str, file_name: str) -> None:
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button(
        f"Download {what} as CSV", table.to_csv(index=False), file_name, mime="text/csv"
    )


st.title("Data quality")

try:
    results = data.quality_results()
    quarantined = data.quarantine_summary()
    set_aside = data.informational_findings()
except data.WarehouseMissing as missing:
    st.warning(str(missing))
    st.stop()

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
    results.to_csv(index=False),
    "data_quality_results.csv",
    mime="text/csv",
)

moved = results[results["change"].isin(["newly failing", "fixed"])]
if not moved.empty:
    st.subheader("Changed since the last check")
    st.dataframe(moved[shown], hide_index=True, width="stretch")

st.subheader("Quarantined records")
st.caption(
    "Records held back at the ingest door, per feed, reason and the expectation they broke. "
    "They are kept in ops.quarantine with their record number; nothing is dropped."
)
downloadable(quarantined, "quarantine counts", "quarantine_counts.csv")

st.subheader("Informational values set aside")
st.caption(
    "Values in columns no metric needs (a supplied timepoint, a channel, a provider's role...) "
    "that could not be read: the record loaded with that value empty, and the value as it "
    "arrived is kept in ops.ingest_findings: the feed and column say which export to fix."
)
if set_aside.empty:
    st.info("Every informational value received so far was readable.")
else:
    downloadable(set_aside, "set-aside counts", "informational_values_set_aside.csv")

docs = data.data_docs_index()
if docs.exists():
    st.caption(
        f"Great Expectations Data Docs of the latest validated landing files: `{docs}` "
        "(open it in a browser on the server)."
    )
