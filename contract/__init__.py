"""The landing data contract as code (../shared/DATA_CONTRACT.md): the feeds and their columns,
codes, ranges and the encodings clinics may use. A leaf: it imports nothing of the project, and
the ingest, the expectation suites and the tests all read it. The synthetic generator keeps its
own copy on purpose (a bug shared by both would pass every test); a test compares the two."""
