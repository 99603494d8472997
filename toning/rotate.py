"""`toning rotate-key`: a new pseudonymisation key, every patient keyed again under it, with no
history lost.

The rotation is a `refresh --full` under a new key (toning/rebuild.py): every archived file is
replayed into a new lake and identity store keyed with it, the warehouse is built from scratch,
and the stores and the key file replace the ones in use together, just before the publish. It
does not re-key the lake in place: the lake keeps only the pseudonym of a patient whose patient
record has not arrived (a session before its patient file, a quarantined row), so only the
archive can give such a patient the pseudonym the new key gives them when their record comes.

It does not need the old key, so it is also the way back from a lost one. Like any `--full`, it
loads the landing folder's new files after the archive's, and fails changing nothing: a file
missing from the archive, a failed build, the quality gate. The kept versions of the warehouse
are removed once it publishes: their pseudonyms are the old key's, and a rollback to one would
show patient keys that the identity store no longer knows.
"""

from __future__ import annotations

import os
from pathlib import Path

from ingest.pseudonymise import SECRET_ENV
from toning.config import DataDir
from toning.dbt import DBT_PROJECT_DIR
from toning.refresh import Progress, RefreshError, RefreshResult, run_refresh


def rotate_key(
    landing: Path,
    data: DataDir,
    progress: Progress = lambda _: None,
    dbt_project: Path = DBT_PROJECT_DIR,
) -> RefreshResult:
    """Rebuild the lake, the identity store and the warehouse under a new key, which replaces
    the key file; the published warehouse's kept versions are removed."""
    if os.environ.get(SECRET_ENV):
        raise RefreshError(
            f"the pseudonymisation key comes from ${SECRET_ENV}, which rotate-key cannot change:"
            f" run rotate-key without ${SECRET_ENV} (it writes the new key to {data.key_file},"
            f" where the refresh reads it when ${SECRET_ENV} is unset), then either keep that"
            f" file or move its content into ${SECRET_ENV} and delete it"
        )
    result = run_refresh(
        landing, data, full=True, progress=progress, dbt_project=dbt_project, keep=0, new_key=True
    )
    progress(
        f"rotate-key: the lake, the identity store and the warehouse are keyed with the new key"
        f" in {data.key_file}; back it up now, and destroy the backups of the old one"
    )
    return result
