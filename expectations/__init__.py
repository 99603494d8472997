"""The expectation suites (Great Expectations) that stop bad data at the door."""

import sys

# pyspark (installed with the Spark engine's extra) ends the whole process, with exit status 0,
# when its Connect module is imported under a main module without a __file__ (`python -c`,
# pytest-xdist's workers): it takes that for a doctest run (check_dependencies in
# pyspark/sql/connect/utils.py). Great Expectations imports that module whenever pyspark is
# installed, for Spark support the suites never use, so a refresh would stop half-way and report
# success. Marked unimportable, it is skipped (Great Expectations catches the ImportError). Spark
# itself only ever runs in dbt's own process.
sys.modules.setdefault("pyspark.sql.connect", None)
