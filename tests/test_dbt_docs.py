"""Analysts read the definitions: dbt docs build offline and describe every model and column."""

from __future__ import annotations

import json
import shutil

import pytest

from toning.dbt import run_dbt


@pytest.fixture(scope="module")
def docs(demo_warehouse, tmp_path_factory) -> tuple[dict, dict]:
    _, data = demo_warehouse
    work = tmp_path_factory.mktemp("docs")
    build = work / "build" / "warehouse.duckdb"
    build.parent.mkdir()
    shutil.copyfile(data.warehouse, build)  # docs read the catalog; never touch the published file
    result = run_dbt(["docs", "generate"], lake_path=data.lake, build_path=build, work_dir=work)
    assert result.ok, result.output_tail
    target = work / "target"
    assert (target / "index.html").stat().st_size > 0
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    return manifest, catalog


def test_every_model_and_every_built_column_is_described(docs):
    manifest, catalog = docs
    undocumented = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        if not node["description"].strip():
            undocumented.append(unique_id)
        built = catalog["nodes"].get(unique_id, {}).get("columns", {})
        assert built, f"{unique_id} is not in the catalog"
        described = {name.lower() for name, c in node["columns"].items() if c["description"]}
        undocumented += [f"{unique_id}.{name}" for name in built if name.lower() not in described]
    assert not undocumented, f"undocumented: {undocumented[:10]}"


def test_the_dashboards_are_declared_as_an_exposure(docs):
    manifest, _ = docs
    [dashboards] = [e for e in manifest["exposures"].values() if e["type"] == "dashboard"]
    assert "model.toning.fct_sessions" in dashboards["depends_on"]["nodes"]
