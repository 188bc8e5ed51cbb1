"""What people type for partition fields, sort orders, schemas and durations."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pyiceberg.table.sorting import NullOrder, SortDirection
from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    TruncateTransform,
    YearTransform,
)
from pyiceberg.types import (
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    TimestamptzType,
)

from icehouse.durations import format_duration, parse_duration
from icehouse.errors import (
    InvalidDuration,
    InvalidPartitionSpec,
    InvalidSchema,
    InvalidSortOrder,
)
from icehouse.tables.grammar import (
    parse_partition_field,
    parse_schema,
    parse_sort_order,
    parse_type,
)

# --- partition fields ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "source", "transform", "name"),
    [
        ("country", "country", IdentityTransform(), "country"),
        ("identity(country)", "country", IdentityTransform(), "country"),
        ("year(requested_at)", "requested_at", YearTransform(), "requested_at_year"),
        ("month(requested_at)", "requested_at", MonthTransform(), "requested_at_month"),
        ("day(requested_at)", "requested_at", DayTransform(), "requested_at_day"),
        ("hour(requested_at)", "requested_at", HourTransform(), "requested_at_hour"),
        ("bucket(16, customer_id)", "customer_id", BucketTransform(16), "customer_id_bucket"),
        ("truncate(4, path)", "path", TruncateTransform(4), "path_trunc"),
    ],
)
def test_every_iceberg_transform_is_read_with_its_conventional_field_name(
    text, source, transform, name
):
    field = parse_partition_field(text)
    assert field.source == source
    assert field.transform == transform
    assert field.name == name


@pytest.mark.parametrize(
    ("alias", "transform"),
    [
        ("years(ts)", YearTransform()),
        ("months(ts)", MonthTransform()),
        ("days(ts)", DayTransform()),
        ("hours(ts)", HourTransform()),
        ("date(ts)", DayTransform()),
        ("date_hour(ts)", HourTransform()),
    ],
)
def test_spark_plural_aliases_mean_the_iceberg_transform(alias, transform):
    assert parse_partition_field(alias).transform == transform
    assert parse_partition_field(alias).source == "ts"


def test_transform_names_ignore_case_and_spacing():
    field = parse_partition_field("  BUCKET ( 8 ,  customer_id )  ")
    assert (field.source, field.transform) == ("customer_id", BucketTransform(8))
    assert parse_partition_field("Day(ts)").transform == DayTransform()


@pytest.mark.parametrize(
    "text",
    [
        "weekday(ts)",  # no such transform
        "bucket(customer_id)",  # bucket without N
        "bucket(0, customer_id)",  # zero buckets
        "bucket(x, customer_id)",  # N not a number
        "truncate(4)",  # no column
        "day(ts, 3)",  # too many arguments
        "day()",  # no column at all
        "two words",  # not an identifier
        "",  # nothing
    ],
)
def test_a_bad_partition_field_is_refused_with_the_list_of_transforms(text):
    with pytest.raises(InvalidPartitionSpec) as caught:
        parse_partition_field(text)
    assert caught.value.message == (
        f"cannot read partition field {text!r}: use a column name or identity(c), year(c), "
        "month(c), day(c), hour(c), bucket(N, c) or truncate(W, c)"
    )


# --- sort orders -----------------------------------------------------------------------


def test_sort_order_reads_directions_and_null_orders():
    fields = parse_sort_order("customer_id, requested_at DESC NULLS LAST, path ASC NULLS LAST")
    assert [(f.source, f.direction, f.null_order) for f in fields] == [
        ("customer_id", SortDirection.ASC, NullOrder.NULLS_FIRST),
        ("requested_at", SortDirection.DESC, NullOrder.NULLS_LAST),
        ("path", SortDirection.ASC, NullOrder.NULLS_LAST),
    ]


def test_sort_nulls_default_first_for_ascending_and_last_for_descending():
    asc, desc, desc_first = parse_sort_order("a asc, b desc, c desc nulls first")
    assert asc.null_order == NullOrder.NULLS_FIRST
    assert desc.null_order == NullOrder.NULLS_LAST
    assert (desc_first.direction, desc_first.null_order) == (
        SortDirection.DESC,
        NullOrder.NULLS_FIRST,
    )


@pytest.mark.parametrize("text", ["customer_id SIDEWAYS", "a, b NULLS MIDDLE", "lower(a)"])
def test_a_bad_sort_term_is_refused_with_the_grammar(text):
    with pytest.raises(InvalidSortOrder) as caught:
        parse_sort_order(text)
    assert "use 'column [ASC|DESC] [NULLS FIRST|NULLS LAST]'" in caught.value.message


def test_an_empty_sort_order_is_refused():
    with pytest.raises(InvalidSortOrder, match="empty sort order: name at least one column"):
        parse_sort_order(" , ")


# --- schemas -----------------------------------------------------------------------------


def test_simple_schema_map_gives_types_ids_and_required_flags():
    schema = parse_schema(
        '{"requested_at": "timestamptz!", "customer_id": "long not null", '
        '"status": "int", "price": "decimal(10, 2)", "path": "string"}'
    )
    assert [(f.field_id, f.name, f.field_type, f.required) for f in schema.fields] == [
        (1, "requested_at", TimestamptzType(), True),
        (2, "customer_id", LongType(), True),
        (3, "status", IntegerType(), False),
        (4, "price", DecimalType(10, 2), False),
        (5, "path", StringType(), False),
    ]


def test_iceberg_schema_json_is_taken_as_is():
    document = {
        "type": "struct",
        "schema-id": 0,
        "fields": [
            {"id": 7, "name": "id", "type": "long", "required": True},
            {"id": 9, "name": "name", "type": "string", "required": False},
        ],
    }
    schema = parse_schema(json.dumps(document))
    assert [(f.field_id, f.name, f.field_type, f.required) for f in schema.fields] == [
        (7, "id", LongType(), True),
        (9, "name", StringType(), False),
    ]
    assert parse_schema(document) == schema


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "schema is not valid JSON"),
        ("[]", "schema must be a JSON object"),
        ("{}", "schema must be a JSON object"),
        ('{"a": 3}', "column 'a': type must be a string, got 3"),
        ('{"a": "varchar2"}', "unknown type 'varchar2'; use one of"),
        ('{"type": "struct", "fields": [{"id": 1}]}', "not a valid Iceberg schema"),
    ],
)
def test_a_bad_schema_is_refused_saying_what_is_wrong(document, message):
    with pytest.raises(InvalidSchema) as caught:
        parse_schema(document)
    assert message in caught.value.message


def test_unknown_type_message_lists_the_known_types():
    with pytest.raises(InvalidSchema) as caught:
        parse_type("money")
    assert caught.value.message == (
        "unknown type 'money'; use one of binary, boolean, date, double, float, int, long, "
        "string, time, timestamp, timestamptz, uuid or decimal(P, S)"
    )


# --- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("250ms", timedelta(milliseconds=250)),
        ("1.5s", timedelta(seconds=1.5)),
        (" 5 m ", timedelta(minutes=5)),
        ("0s", timedelta(0)),
        ("45", timedelta(seconds=45)),
        (3, timedelta(seconds=3)),
    ],
)
def test_durations_are_read_as_people_write_them(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "10 minutes", "5y", "-3s", "", "-5", "inf", "nan"])
def test_a_bad_duration_says_how_to_write_one(text):
    with pytest.raises(InvalidDuration) as caught:
        parse_duration(text)
    assert caught.value.message == (
        f"cannot read duration {text!r}: write a number and a unit, e.g. 30s, 10m, 12h or 7d"
    )


@pytest.mark.parametrize("text", ["30s", "10m", "12h", "7d", "2w", "250ms", "90s"])
def test_formatted_durations_read_back_to_the_same_value(text):
    value = parse_duration(text)
    assert parse_duration(format_duration(value)) == value


def test_format_duration_picks_the_largest_exact_unit():
    assert format_duration(timedelta(hours=48)) == "2d"
    assert format_duration(timedelta(seconds=90)) == "90s"
    assert format_duration(timedelta(milliseconds=1500)) == "1500ms"
