"""Contract of the dependency internals icehouse relies on (``tables/_compat.py``).

Each test names the internal, what icehouse expects of it and who uses it, so that a
PyIceberg or DuckDB upgrade that removes or changes one fails here with a message that
says what to fix, rather than somewhere in a query.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import duckdb
import pyiceberg
import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo, GreaterThan
from pyiceberg.manifest import DataFile, DataFileContent
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField

from icehouse.tables import _compat

VERSIONS = f"pyiceberg {pyiceberg.__version__}, duckdb {duckdb.__version__}"


def _parameters(function: Callable[..., Any]) -> list[str]:
    return [p for p in inspect.signature(function).parameters if p != "self"]


def _expect_parameters(label: str, function: Callable[..., Any], expected: list[str]) -> None:
    found = _parameters(function)
    assert found[: len(expected)] == expected, (
        f"{label} changed under {VERSIONS}: icehouse calls it with {expected}, it now takes "
        f"{found}. Adapt tables/_compat.py and its users (see its docstring)."
    )


SIGNATURES: list[tuple[str, Callable[..., Any], list[str]]] = [
    (
        "pyiceberg.expressions.visitors._InclusiveMetricsEvaluator",
        _compat.InclusiveMetricsEvaluator.__init__,
        ["schema", "expr", "case_sensitive", "include_empty_files"],
    ),
    (
        "_InclusiveMetricsEvaluator.eval (tables/scan.py, tables/row_groups.py)",
        _compat.InclusiveMetricsEvaluator.eval,
        ["file"],
    ),
    (
        "pyiceberg.io.pyarrow.ArrowScan (tables/scan.read_tasks, tables/overwrite.py)",
        _compat.ArrowScan.__init__,
        ["table_metadata", "io", "projected_schema", "row_filter"],
    ),
    ("ArrowScan.to_table", _compat.ArrowScan.to_table, ["tasks"]),
    (
        "pyiceberg.io.pyarrow.StatsAggregator (tables/row_groups.py)",
        _compat.StatsAggregator.__init__,
        ["iceberg_type", "physical_type_string"],
    ),
    (
        "pyiceberg.table.delete_file_index.DeleteFileIndex.add_delete_file (tables/scan.py)",
        _compat.DeleteFileIndex.add_delete_file,
        ["manifest_entry", "partition_key"],
    ),
    (
        "DeleteFileIndex.for_data_file (tables/scan.py)",
        _compat.DeleteFileIndex.for_data_file,
        ["seq_num", "data_file", "partition_key"],
    ),
    (
        "pyiceberg.table.update.update_table_metadata (tables/history.py)",
        _compat.update_table_metadata,
        ["base_metadata", "updates"],
    ),
    (
        "pyiceberg.io.pyarrow.compute_statistics_plan (tables/writer.py)",
        _compat.compute_statistics_plan,
        ["schema", "table_properties"],
    ),
    (
        "pyiceberg.io.pyarrow.data_file_statistics_from_parquet_metadata (tables/writer.py)",
        _compat.data_file_statistics_from_parquet_metadata,
        ["parquet_metadata", "stats_columns", "parquet_column_mapping"],
    ),
    (
        "pyiceberg.io.pyarrow.parquet_path_to_id_mapping (tables/writer.py)",
        _compat.parquet_path_to_id_mapping,
        ["schema"],
    ),
    (
        "SqlCatalog._convert_orm_to_iceberg (overridden by tables/catalog.LakeCatalog)",
        SqlCatalog._convert_orm_to_iceberg,
        ["orm_table"],
    ),
    (
        "SqlCatalog._load_file_io (called by tables/catalog.LakeCatalog)",
        SqlCatalog._load_file_io,
        ["properties", "location"],
    ),
]


@pytest.mark.parametrize(
    ("label", "function", "expected"), SIGNATURES, ids=[label for label, _, _ in SIGNATURES]
)
def test_each_internal_still_takes_what_icehouse_passes(
    label: str, function: Callable[..., Any], expected: list[str]
) -> None:
    _expect_parameters(label, function, expected)


def test_the_catalog_methods_icehouse_overrides_still_exist() -> None:
    missing = [name for name in _compat.SQL_CATALOG_OVERRIDES if not hasattr(SqlCatalog, name)]
    assert not missing, (
        f"SqlCatalog no longer has {missing} under {VERSIONS}: tables/catalog.LakeCatalog "
        "caches parsed metadata by overriding them; rework the cache."
    )


def test_the_rest_catalog_members_a_mount_uses_still_exist() -> None:
    members = {*dir(RestCatalog), *RestCatalog.__annotations__}
    missing = [name for name in _compat.REST_CATALOG_INTERNALS if name not in members]
    assert not missing, (
        f"RestCatalog no longer has {missing} under {VERSIONS}: tables/_compat.load_rest_table "
        "loads a mounted producer's tables with If-None-Match through them; rework it."
    )


def test_the_metrics_evaluator_still_prunes_on_bounds() -> None:
    """Scan planning drops a file when this says no row can match."""
    schema = Schema(NestedField(1, "id", LongType(), required=True))
    data_file = DataFile.from_args(
        content=DataFileContent.DATA,
        record_count=10,
        value_counts={1: 10},
        null_value_counts={1: 0},
        nan_value_counts={},
        lower_bounds={1: (1).to_bytes(8, "little")},
        upper_bounds={1: (5).to_bytes(8, "little")},
    )
    evaluator = _compat.InclusiveMetricsEvaluator(schema, GreaterThan("id", 7), True)
    assert evaluator.eval(data_file) is False, f"metrics no longer prune under {VERSIONS}"
    evaluator = _compat.InclusiveMetricsEvaluator(schema, EqualTo("id", 3), True)
    assert evaluator.eval(data_file) is True


def test_the_stats_aggregator_still_serialises_bounds() -> None:
    aggregator = _compat.StatsAggregator(LongType(), "INT64")
    aggregator.update_min(3)
    aggregator.update_max(9)
    assert (aggregator.min_as_bytes(), aggregator.max_as_bytes()) == (
        (3).to_bytes(8, "little"),
        (9).to_bytes(8, "little"),
    ), f"StatsAggregator's bounds changed under {VERSIONS} (tables/row_groups.py)"


def _where(sql: str) -> dict[str, Any]:
    conn = duckdb.connect()
    parsed = _compat.serialize_sql(conn, sql)
    assert not parsed.get("error"), parsed
    return parsed["statements"][0]["node"]


def test_duckdbs_parse_tree_still_has_the_shape_the_filter_translator_reads() -> None:
    """``tables/filters.py`` reads these node names and fields of json_serialize_sql."""
    node = _where(
        "SELECT * FROM a.e x WHERE x.id = 1 AND (id IN (1, 2) OR id IS NULL) "
        "AND NOT (id <> DATE '2024-06-01') AND id NOT IN (3)"
    )
    expected = (
        f"DuckDB's json_serialize_sql changed shape under {VERSIONS}; adapt tables/filters.py"
    )
    assert node["type"] == "SELECT_NODE", expected
    source = node["from_table"]
    assert (source["type"], source["schema_name"], source["table_name"], source["alias"]) == (
        "BASE_TABLE",
        "a",
        "e",
        "x",
    ), expected
    where = node["where_clause"]
    assert (where["class"], where["type"]) == ("CONJUNCTION", "CONJUNCTION_AND"), expected
    equal, either, negated, not_in = where["children"]
    assert equal["type"] == "COMPARE_EQUAL" and equal["left"]["column_names"] == ["x", "id"]
    assert equal["right"]["class"] == "CONSTANT" and equal["right"]["value"]["value"] == 1
    assert equal["right"]["value"]["type"]["id"] == "INTEGER", expected
    assert either["type"] == "CONJUNCTION_OR", expected
    assert [c["type"] for c in either["children"]] == ["COMPARE_IN", "OPERATOR_IS_NULL"]
    cast = negated["children"][0]["right"] if negated["type"] == "OPERATOR_NOT" else None
    if cast is None:  # DuckDB folds NOT (a <> b) into a = b
        cast = negated["right"]
    assert cast["class"] == "CAST" and cast["cast_type"]["id"] == "DATE", expected
    assert not_in["type"] == "COMPARE_NOT_IN", expected


def test_duckdb_still_renders_a_term_back_as_sql() -> None:
    """Errors name the untranslatable term as SQL (``render_expression``)."""
    conn = duckdb.connect()
    where = _where("SELECT * FROM a.e WHERE lower(country) = 'de'")["where_clause"]
    assert _compat.render_expression(conn, where) == "lower(country) = 'de'", (
        f"json_deserialize_sql changed under {VERSIONS}; adapt tables/_compat.render_expression"
    )
