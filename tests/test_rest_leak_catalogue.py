"""The leak catalogue on the REST catalog: in each situation (``tests/rest_leaks.py``: the
catalogue's, those across tenants, and a mounted table with a row filter) the principal
loads, lists and commits through the Iceberg REST routes, and is handed nothing its
grants hide: no metadata, file, location, UUID or column name of a table it may not
read whole, no cell anywhere; a commit it may not make changes nothing. What its grants
do allow (describing, listing, loading a view, querying through the query API) still
works, and a principal granted a whole table is handed it.

One served lake per module (``rest``), one more where every situation's principal also
holds INSERT, DELETE and ALTER on its table (``writers``): there a commit is refused for
what it would be answered (the table's metadata), not for a missing privilege."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pyiceberg.manifest import ManifestFile, write_manifest_list

from icehouse.client.wire import QUERY_PATH
from tests.governed_fixtures import SCHEMA
from tests.leak_situations import Situation, batch
from tests.rest_leaks import (
    MOUNT,
    MOUNTED,
    MOUNTED_SITUATION,
    SCRATCH,
    SEPARATOR,
    WHOLE,
    Rest,
    rest_tables,
    rest_views,
    served_catalogue,
    table_path,
)
from tests.test_query_deletes import append_rows


@pytest.fixture(scope="module")
def rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rest]:
    with served_catalogue(tmp_path_factory.mktemp("rest-leaks")) as running:
        yield running


@pytest.fixture(scope="module")
def writers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rest]:
    with served_catalogue(tmp_path_factory.mktemp("rest-leaks-writers"), writes=True) as running:
        yield running


SITUATIONS = [
    "no grant",
    "column excluded",
    "row filter",
    "two filters on one table",
    "grant revoked",
    "tag changed after grant",
    "role membership removed",
    "table renamed",
    "column renamed",
    "time travel",
    "view over a filtered table",
    "link to a table not granted",
    "link to a filtered table",
    "another tenant's share before the re-grant",
    "a re-grant beyond the grant option",
    "a re-grant after the share was revoked",
    "another tenant's objects",
    "a mounted table with a row filter",
]


def _mounted(case: Situation) -> bool:
    return case.table.startswith(f"{MOUNT}.")


def _split(name: str) -> tuple[str, str]:
    namespace, _, last = name.rpartition(".")
    return namespace, last


def _lake_namespaces(case: Situation) -> list[list[str]]:
    """The top-level namespaces of the lake's own catalog the principal may describe."""
    named = rest_tables(case) | rest_views(case)
    return sorted([_split(n)[0]] for n in named if not n.startswith(f"{MOUNT}."))


@dataclass(frozen=True)
class Read:
    """A request, and what the principal must be answered: the status, and for a 200
    what the body holds (``listed``: a listing's names)."""

    method: str
    path: str
    status: int
    listed: list[Any] | None = None
    key: str = ""
    headers: tuple[tuple[str, str], ...] = ()


def _load(case: Situation, rest: Rest) -> Read:
    return Read("GET", table_path(case.table), 403)


def _load_refs(case: Situation, rest: Rest) -> Read:
    return Read("GET", table_path(case.table) + "?snapshots=refs", 403)


def _load_unchanged(case: Situation, rest: Rest) -> Read:
    """With the ETag the table's owner was answered: a 304 would say the version."""
    etag = rest.send(rest.admin, "GET", table_path(case.table)).headers.get("ETag", '"none"')
    return Read("GET", table_path(case.table), 403, headers=(("If-None-Match", etag),))


def _load_other(case: Situation, rest: Rest) -> Read:
    """The other names of what it may not read (the table behind a view or a link, a
    table's old name), else the table as the administrator names it."""
    other = case.others[0] if case.others else case.real
    return Read("GET", table_path(other), 403)


def _head(case: Situation, rest: Rest) -> Read:
    if _mounted(case):  # HEAD is not served on a mount's prefix
        return Read("HEAD", table_path(case.table), 404)
    return Read("HEAD", table_path(case.table), 204 if case.table in rest_tables(case) else 403)


def _through_own_prefix(case: Situation, rest: Rest) -> Read:
    """The table's name under the lake's own prefix (a mounted table's too)."""
    namespace, name = _split(case.table)
    path = f"/icehouse/namespaces/{namespace.replace('.', SEPARATOR)}/tables/{name}"
    return Read("GET", path, 404 if _mounted(case) else 403)


def _view(case: Situation, rest: Rest) -> Read:
    namespace, name = _split(case.table)
    status = 200 if case.table in rest_views(case) else 403
    path = f"/icehouse/namespaces/{namespace.replace('.', SEPARATOR)}/views/{name}"
    return Read("GET", path, status, listed=sorted(case.listed.get(case.table, ())))


def _namespace(case: Situation, rest: Rest) -> Read:
    namespace, _ = _split(case.table)
    path = f"/icehouse/namespaces/{namespace.replace('.', SEPARATOR)}"
    if _mounted(case):  # described, and not a namespace of the lake's own catalog
        return Read("GET", path, 404)
    return Read("GET", path, 200 if namespace.split(".") in _lake_namespaces(case) else 403)


def _namespaces(case: Situation, rest: Rest) -> Read:
    return Read("GET", "/icehouse/namespaces", 200, _lake_namespaces(case), "namespaces")


def _tables(case: Situation, rest: Rest) -> Read:
    namespace, _ = _split(case.real)
    path = f"/icehouse/namespaces/{namespace.replace('.', SEPARATOR)}/tables"
    names = sorted(_split(t)[1] for t in rest_tables(case) if _split(t)[0] == namespace)
    if _mounted(case):
        return Read("GET", f"/{MOUNT}/namespaces/s/tables", 200, names, "identifiers")
    return Read("GET", path, 200, names, "identifiers")


def _views(case: Situation, rest: Rest) -> Read:
    namespace, _ = _split(case.real)
    if _mounted(case):
        namespace = "s1"  # a namespace of the lake: a mount serves no views
    path = f"/icehouse/namespaces/{namespace}/views"
    names = sorted(_split(v)[1] for v in rest_views(case))
    return Read("GET", path, 200, names, "identifiers")


def _mount_namespaces(case: Situation, rest: Rest) -> Read:
    shown = [["s"]] if _mounted(case) else []
    return Read("GET", f"/{MOUNT}/namespaces", 200, shown, "namespaces")


def _mounted_load(case: Situation, rest: Rest) -> Read:
    """The mounted table, on its mount's prefix: handed to no situation's principal
    (the one with a row filter on it included)."""
    return Read("GET", table_path(MOUNTED), 403)


def _mount_tables(case: Situation, rest: Rest) -> Read:
    shown = ["requests"] if _mounted(case) else []
    return Read("GET", f"/{MOUNT}/namespaces/s/tables", 200, shown, "identifiers")


READS: dict[str, Callable[[Situation, Rest], Read]] = {
    "loadTable": _load,
    "loadTable, snapshots=refs": _load_refs,
    "loadTable, If-None-Match of the current version": _load_unchanged,
    "loadTable of another name of the data": _load_other,
    "tableExists (HEAD)": _head,
    "loadTable on the lake's own prefix": _through_own_prefix,
    "loadView": _view,
    "loadNamespace": _namespace,
    "listNamespaces": _namespaces,
    "listTables": _tables,
    "listViews": _views,
    "listNamespaces of the mount": _mount_namespaces,
    "listTables of the mount": _mount_tables,
    "loadTable of the mounted table": _mounted_load,
}


@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize("situation", SITUATIONS)
def test_no_rest_read_hands_out_what_the_grants_hide(rest: Rest, situation: str, read: str) -> None:
    case = rest.situations[situation]
    expected = READS[read](case, rest)
    where = f"[{situation} / {read}]"

    answer = rest.send(case.credentials, expected.method, expected.path, **dict(expected.headers))

    assert answer.status_code == expected.status, f"{where} {answer.text[:300]}"
    columns = set(expected.listed or ()) if read == "loadView" else set()
    leaked = rest.leaked(case, answer, columns=columns)
    assert not leaked, f"{where} leaked {sorted(leaked)}: {answer.text[:300]}"
    if answer.status_code != 200:
        return
    body = answer.json()
    if read == "loadView":
        fields = body["metadata"]["schemas"][-1]["fields"]
        assert sorted(f["name"] for f in fields) == expected.listed, where
    elif expected.key == "identifiers":
        assert [i["name"] for i in body["identifiers"]] == expected.listed, where
    elif expected.key:
        assert body[expected.key] == expected.listed, where


def _snapshot(table: dict[str, Any], operation: str, **summary: str) -> dict[str, Any]:
    """A snapshot of ``operation`` on the table's current one (never written: the
    commit is refused before anything is read from it)."""
    current = table.get("current-snapshot-id")
    new = int(time.time() * 1000)
    return {
        "action": "add-snapshot",
        "snapshot": {
            "snapshot-id": new,
            "parent-snapshot-id": current,
            "sequence-number": int(table.get("last-sequence-number", 0)) + 1,
            "timestamp-ms": new,
            "manifest-list": f"{table['location']}/metadata/snap-{new}-leak.avro",
            "summary": {"operation": operation, **summary},
            "schema-id": table.get("current-schema-id", 0),
        },
    }


def _landing(table: dict[str, Any], operation: str, **summary: str) -> list[dict[str, Any]]:
    snapshot = _snapshot(table, operation, **summary)
    new = snapshot["snapshot"]["snapshot-id"]
    main = {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": new}
    return [snapshot, main]


def _add_column(table: dict[str, Any]) -> list[dict[str, Any]]:
    schema = table["schemas"][-1]
    field = {"id": table["last-column-id"] + 1, "name": "leak", "type": "string", "required": False}
    added = {**schema, "schema-id": schema["schema-id"] + 1, "fields": [*schema["fields"], field]}
    return [
        {"action": "add-schema", "schema": added, "last-column-id": field["id"]},
        {"action": "set-current-schema", "schema-id": -1},
    ]


def _rollback(table: dict[str, Any]) -> list[dict[str, Any]]:
    first = table["snapshots"][0]["snapshot-id"]
    return [
        {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": first}
    ]


COMMITS: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "append": lambda t: _landing(t, "append", **{"added-data-files": "1", "added-records": "1"}),
    "delete": lambda t: _landing(t, "delete", **{"deleted-data-files": "1"}),
    "overwrite": lambda t: _landing(t, "overwrite", **{"added-records": "1"}),
    "add a column": _add_column,
    "set properties": lambda t: [{"action": "set-properties", "updates": {"leak": "yes"}}],
    "roll back": _rollback,
}
"""Each kind of commit, as updates made from the table's metadata."""


def _targets(case: Situation) -> list[str]:
    """The names a commit is tried on: the situation's, and the table behind it."""
    return list(dict.fromkeys([case.table, case.real]))


def _committed(rest: Rest, case: Situation, kind: str, target: str) -> requests.Response:
    """``kind`` on ``target`` as the principal, alone, or with ``transaction`` in a
    multi-table transaction with a change to ``WHOLE`` (which it may not change)."""
    real = case.real
    metadata = rest.metadata(real)
    updates = COMMITS[kind.removesuffix(" in a transaction")](metadata)
    requirement = {"type": "assert-table-uuid", "uuid": metadata["table-uuid"]}
    if not kind.endswith(" in a transaction"):
        body = {"requirements": [requirement], "updates": updates}
        return rest.send(case.credentials, "POST", table_path(target), body)
    namespace, name = _split(target)
    changes = [
        {"identifier": {"namespace": namespace.split("."), "name": name},
         "requirements": [requirement], "updates": updates},
        {"identifier": {"namespace": ["s0"], "name": "requests"},
         "requirements": [], "updates": COMMITS["set properties"](rest.metadata(WHOLE))},
    ]  # fmt: skip
    prefix = MOUNT if _mounted(case) else "icehouse"
    return rest.send(
        case.credentials, "POST", f"/{prefix}/transactions/commit", {"table-changes": changes}
    )


KINDS = [*COMMITS, *(f"{kind} in a transaction" for kind in ("append", "set properties"))]


def _commit_cases() -> Iterator[Any]:
    for writes in (False, True):
        for situation in SITUATIONS:
            for kind in KINDS:
                yield pytest.param(
                    writes,
                    situation,
                    kind,
                    id=f"{'writer' if writes else 'reader'}-{situation}-{kind}",
                )


@pytest.mark.parametrize(("writes", "situation", "kind"), _commit_cases())
def test_no_commit_changes_or_shows_what_the_grants_hide(
    request: pytest.FixtureRequest, writes: bool, situation: str, kind: str
) -> None:
    catalogue: Rest = request.getfixturevalue("writers" if writes else "rest")
    case = catalogue.situations[situation]
    for target in _targets(case):
        where = f"[{situation} / {kind} on {target}]"
        before = {t: catalogue.metadata_location(t) for t in (case.real, WHOLE)}

        answer = _committed(catalogue, case, kind, target)

        assert answer.status_code in (403, 404), f"{where} {answer.status_code} {answer.text[:300]}"
        leaked = catalogue.leaked(case, answer, columns=set())
        assert not leaked, f"{where} leaked {sorted(leaked)}: {answer.text[:300]}"
        after = {t: catalogue.metadata_location(t) for t in (case.real, WHOLE)}
        assert after == before, f"{where} changed the table"


@pytest.mark.parametrize("situation", SITUATIONS)
def test_the_allowed_part_stays_readable_through_the_query_api(rest: Rest, situation: str) -> None:
    case = rest.situations[situation]
    answer = requests.post(
        rest.served.url(QUERY_PATH),
        json={"sql": case.allowed_sql.format(t=case.table), "format": "json"},
        headers={"Authorization": f"Bearer {rest.token(case.credentials)}"},
        timeout=60,
    )

    if case.allowed is None:
        assert answer.status_code == 400, answer.text
        assert f"table {case.table} not found or not permitted" in answer.json()["error"]["message"]
        return
    assert answer.status_code == 200, answer.text
    body = answer.json()
    names = [column["name"] for column in body["columns"]]
    assert [dict(zip(names, row, strict=True)) for row in body["rows"]] == case.allowed


def test_a_principal_granted_the_whole_table_is_handed_it_and_appends(rest: Rest) -> None:
    loaded = rest.send(rest.whole, "GET", table_path(WHOLE))
    client = rest.served.client(credential=f"{rest.whole.client_id}:{rest.whole.client_secret}")
    table = client.load_table(WHOLE)
    rows = batch([99]).cast(table.schema().as_arrow())

    table.append(rows)

    assert loaded.status_code == 200
    assert loaded.json()["metadata-location"].endswith(".metadata.json")
    ids = table.scan().to_arrow().column("id").to_pylist()
    assert sorted(ids) == [*range(1, 13), 99]


def test_a_principal_granted_the_whole_mounted_table_is_handed_it(rest: Rest) -> None:
    loaded = rest.send(rest.whole, "GET", table_path(MOUNTED))

    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["metadata-location"] == rest.metadata_location(MOUNTED)


def _own_table(rest: Rest, case: Situation, name: str) -> dict[str, Any]:
    """A new table ``scratch.<name>`` of the principal's own, shaped as the situation's;
    its metadata."""
    schema = rest.metadata(case.real)["schemas"][-1]
    body = {"name": name, "schema": schema}
    answer = rest.send(case.credentials, "POST", f"/icehouse/namespaces/{SCRATCH}/tables", body)
    assert answer.status_code == 200, answer.text
    metadata: dict[str, Any] = answer.json()["metadata"]
    return metadata


def _its_manifest_list(rest: Rest, case: Situation, own: dict[str, Any]) -> str:
    """The situation table's current manifest list, as learnt while it was granted."""
    table = rest.iceberg(case.real)
    return str(table.current_snapshot().manifest_list)


def _its_data_files(rest: Rest, case: Situation, own: dict[str, Any]) -> str:
    """A manifest list of the table's own, listing the situation table's manifests
    copied into its own location: every path but the data files' is its own."""
    table = rest.iceberg(case.real)
    io = table.io
    folder = f"{own['location']}/metadata"
    snapshot = int(time.time() * 1000)
    copied = []
    for manifest in table.current_snapshot().manifests(io):
        path = f"{folder}/copied-{Path(manifest.manifest_path).name}"
        with io.new_input(manifest.manifest_path).open() as source:
            content = source.read()
        with io.new_output(path).create(overwrite=True) as target:
            target.write(content)
        fields = {f: getattr(manifest, f) for f in MANIFEST_FIELDS}
        copied.append(ManifestFile.from_args(**fields, manifest_path=path))
    output = io.new_output(f"{folder}/snap-{snapshot}-copied.avro")
    with write_manifest_list(2, output, snapshot, None, 1, "zstandard") as writer:
        writer.add_manifests(copied)
    return str(output.location)


MANIFEST_FIELDS = (
    "manifest_length",
    "partition_spec_id",
    "content",
    "sequence_number",
    "min_sequence_number",
    "added_snapshot_id",
    "added_files_count",
    "existing_files_count",
    "deleted_files_count",
    "added_rows_count",
    "existing_rows_count",
    "deleted_rows_count",
    "partitions",
    "key_metadata",
)
"""What a manifest list says of a manifest, besides its path."""

NAMED: dict[str, Callable[[Rest, Situation, dict[str, Any]], str]] = {
    "its manifest list": _its_manifest_list,
    "its data files in a manifest of the principal's own": _its_data_files,
}
"""How a snapshot of the principal's own table names the situation table's files."""


@pytest.mark.parametrize("named", list(NAMED))
@pytest.mark.parametrize("situation", SITUATIONS)
def test_a_table_of_its_own_cannot_be_made_to_name_the_tables_files(
    writers: Rest, situation: str, named: str
) -> None:
    case = writers.situations[situation]
    name = f"{case.principal}_{list(NAMED).index(named)}"
    own = _own_table(writers, case, name)
    manifest_list = NAMED[named](writers, case, own)
    snapshot = _snapshot(own, "append", **{"added-data-files": "1"})
    snapshot["snapshot"]["manifest-list"] = manifest_list
    main = {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch",
            "snapshot-id": snapshot["snapshot"]["snapshot-id"]}  # fmt: skip
    body = {"requirements": [], "updates": [snapshot, main]}

    answer = writers.send(case.credentials, "POST", table_path(f"{SCRATCH}.{name}"), body)
    read = requests.post(
        writers.served.url(QUERY_PATH),
        json={"sql": f"SELECT * FROM {SCRATCH}.{name}", "format": "json"},
        headers={"Authorization": f"Bearer {writers.token(case.credentials)}"},
        timeout=60,
    )

    assert answer.status_code == 403, answer.text
    assert "which is not this table's" in answer.json()["error"]["message"]
    assert read.status_code == 200 and read.json()["rows"] == [], read.text


def _view_metadata(rest: Rest, case: Situation) -> str:
    """The current metadata file of the view over a filtered table (``s11.eu_view``)."""
    answer = rest.send(rest.admin, "GET", "/icehouse/namespaces/s11/views/eu_view")
    return str(answer.json()["metadata-location"])


REGISTERED: dict[str, tuple[str, Callable[[Rest, Situation], str]]] = {
    "the table's metadata as a table": (
        "register",
        lambda rest, case: rest.metadata_location(case.real),
    ),
    "the view over a filtered table's metadata as a view": ("register-view", _view_metadata),
}
"""What a principal registers as its own: the route, and the metadata file it names."""


@pytest.mark.parametrize("registered", list(REGISTERED))
@pytest.mark.parametrize("situation", SITUATIONS)
def test_registering_anothers_metadata_as_its_own_is_refused(
    writers: Rest, situation: str, registered: str
) -> None:
    """Registering adopts whatever a metadata file names, and answers with it:
    CREATE_TABLE or CREATE_VIEW alone does not allow it."""
    case = writers.situations[situation]
    route, metadata_of = REGISTERED[registered]
    name = f"{case.principal}_adopted_{route.replace('-', '_')}"
    location = metadata_of(writers, case)
    body = {"name": name, "metadata-location": location}

    answer = writers.send(case.credentials, "POST", f"/icehouse/namespaces/{SCRATCH}/{route}", body)

    assert answer.status_code == 403, answer.text
    assert "it needs DATA_LOCATION_ACCESS on the catalog" in answer.json()["error"]["message"]
    leaked = writers.leaked(case, answer, columns=set())
    assert not leaked, f"leaked {sorted(leaked)}: {answer.text[:300]}"
    assert "view-uuid" not in answer.text and "SELECT" not in answer.text
    assert f"{SCRATCH}.{name}" not in writers.lake.tables.list()


PLACES: dict[str, Callable[[str], str]] = {
    "at its location": lambda location: location,
    "inside its data folder": lambda location: f"{location}/data",
}
"""Where, relative to the situation table's location, the principal places a table."""


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("situation", SITUATIONS)
def test_a_table_placed_inside_the_tables_location_is_refused_or_owns_nothing(
    writers: Rest, situation: str, place: str
) -> None:
    """Placed there, it would own the table's files: signed reads of them, snapshots
    naming them. A mounted table's files lie outside the lake's warehouse, where a
    table may be placed but its snapshots name nothing."""
    case = writers.situations[situation]
    name = f"{case.principal}_in_{list(PLACES).index(place)}"
    location = PLACES[place](writers.iceberg(case.real).metadata.location)
    schema = writers.metadata(case.real)["schemas"][-1]
    body = {"name": name, "schema": schema, "location": location}

    made = writers.send(case.credentials, "POST", f"/icehouse/namespaces/{SCRATCH}/tables", body)

    if made.status_code == 403:
        assert "is, or lies inside, another table's location" in made.text
        sent = {
            secret for secret in writers.leaked(case, made, columns=set()) if secret in location
        }
        assert writers.leaked(case, made, columns=set()) == sent  # only what it sent back
        assert f"{SCRATCH}.{name}" not in writers.lake.tables.list()
        return
    assert made.status_code == 200 and case.table == MOUNTED, made.text
    snapshot = _snapshot(made.json()["metadata"], "append", **{"added-data-files": "1"})
    snapshot["snapshot"]["manifest-list"] = _its_manifest_list(writers, case, {})
    main = {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch",
            "snapshot-id": snapshot["snapshot"]["snapshot-id"]}  # fmt: skip
    committed = writers.send(
        case.credentials,
        "POST",
        table_path(f"{SCRATCH}.{name}"),
        {"requirements": [], "updates": [snapshot, main]},
    )
    assert committed.status_code == 403, committed.text
    assert "which is not this table's" in committed.text


@pytest.mark.parametrize("situation", [s for s in SITUATIONS if s != MOUNTED_SITUATION])
def test_a_table_of_its_own_cannot_be_moved_inside_the_tables_location(
    writers: Rest, situation: str
) -> None:
    """(A mounted table's location is no table's of this lake.)"""
    case = writers.situations[situation]
    name = f"{case.principal}_moved"
    own = _own_table(writers, case, name)
    inside = f"{writers.iceberg(case.real).metadata.location}/data"
    body = {"requirements": [], "updates": [{"action": "set-location", "location": inside}]}

    answer = writers.send(case.credentials, "POST", table_path(f"{SCRATCH}.{name}"), body)

    assert answer.status_code == 403, answer.text
    assert "is, or lies inside, another table's location" in answer.text
    assert writers.metadata(f"{SCRATCH}.{name}")["location"] == own["location"]


def _dropped(rest: Rest, name: str) -> tuple[str, str]:
    """Table ``scratch.<name>`` with rows, made by the administrator and dropped without
    purge (its files stay): its location and its last manifest list, as a principal
    that could once read it knows them."""
    dotted = f"{SCRATCH}.{name}"
    rest.lake.tables.create(dotted, schema=SCHEMA)
    append_rows(rest.lake, dotted, batch(range(7001, 7013)))
    table = rest.iceberg(dotted)
    learnt = table.metadata.location, str(table.current_snapshot().manifest_list)
    rest.lake.tables.drop(dotted)
    return learnt


@pytest.mark.parametrize("situation", ["no grant", "grant revoked", MOUNTED_SITUATION])
def test_a_dropped_tables_files_are_not_taken_over_by_recreating_its_name(
    writers: Rest, situation: str
) -> None:
    """A table dropped without purge keeps its files at its location: a table of the
    same name re-created there would own them. It goes to a folder of its own, its
    snapshots may not name the old files, and the old location is refused."""
    case = writers.situations[situation]
    name = f"{case.principal}_dropped"
    old_location, old_manifest_list = _dropped(writers, name)

    own = _own_table(writers, case, name)
    snapshot = _snapshot(own, "append", **{"added-data-files": "1"})
    snapshot["snapshot"]["manifest-list"] = old_manifest_list
    main = {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch",
            "snapshot-id": snapshot["snapshot"]["snapshot-id"]}  # fmt: skip
    body = {"requirements": [], "updates": [snapshot, main]}
    committed = writers.send(case.credentials, "POST", table_path(f"{SCRATCH}.{name}"), body)
    moved = writers.send(
        case.credentials,
        "POST",
        table_path(f"{SCRATCH}.{name}"),
        {"requirements": [], "updates": [{"action": "set-location", "location": old_location}]},
    )
    placed = writers.send(
        case.credentials,
        "POST",
        f"/icehouse/namespaces/{SCRATCH}/tables",
        {"name": f"{name}_again", "schema": own["schemas"][-1], "location": old_location},
    )
    read = requests.post(
        writers.served.url(QUERY_PATH),
        json={"sql": f"SELECT * FROM {SCRATCH}.{name}", "format": "json"},
        headers={"Authorization": f"Bearer {writers.token(case.credentials)}"},
        timeout=60,
    )

    assert committed.status_code == 403, committed.text
    assert "which is not this table's" in committed.json()["error"]["message"]
    assert own["location"].startswith(f"{old_location}-"), own["location"]
    for refused in (moved, placed):
        assert refused.status_code == 403, refused.text
        assert "files already lie at location" in refused.json()["error"]["message"]
    assert writers.metadata(f"{SCRATCH}.{name}")["location"] == own["location"]
    assert read.status_code == 200 and read.json()["rows"] == [], read.text


@pytest.mark.parametrize("situation", SITUATIONS)
def test_the_config_route_tells_only_who_may_describe_a_mount_that_it_exists(
    rest: Rest, situation: str
) -> None:
    """``GET /v1/config?warehouse=<mount>`` names the mount's prefix to a principal that
    may describe it; to any other, it answers as for a name that is no mount."""
    case = rest.situations[situation]

    mounted = rest.send(case.credentials, "GET", f"/config?warehouse={MOUNT}")
    nothing = rest.send(case.credentials, "GET", "/config?warehouse=no_such_mount")

    assert mounted.status_code == nothing.status_code == 200, mounted.text
    if situation == MOUNTED_SITUATION:
        assert mounted.json()["overrides"] == {"prefix": MOUNT}
    else:
        assert mounted.json() == nothing.json()
