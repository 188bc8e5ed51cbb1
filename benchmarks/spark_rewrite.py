"""One Spark 3.5 ``rewrite_data_files`` call on an icehouse lake, in a process of its own.

    python benchmarks/spark_rewrite.py --home /tmp/lake --strategy sort
    python benchmarks/spark_rewrite.py --home /tmp/lake --strategy sort --catalog rest

``benchmarks/maintain.py`` runs it once per strategy on a fresh copy of its table. With
``--catalog jdbc`` Spark opens icehouse's own SQLite catalog through Iceberg's JDBC
catalog, so its JVM must start after the copy is made and must be gone before the next
copy replaces the file. With ``--catalog rest`` the lake is served (``icehouse serve``,
in this process, tokens required) and the rewrite is ``icehouse maintain compact
--engine spark``: icehouse plans and holds the lease, Spark rewrites through the REST
catalog. Prints one JSON line: the session start and the call, timed apart.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SQLITE_JDBC = Path("/usr/share/java/sqlite-jdbc.jar")
RUNTIME_JAR = "iceberg-spark-runtime-3.5_2.12-1.10.2.jar"
SORT = "customer_id, requested_at"


def runtime_jar() -> Path:
    """The Iceberg runtime shipped inside ``snowpark-connect-deps-iceberg`` 1.0.2."""
    import snowpark_connect_deps_iceberg

    root = Path(snowpark_connect_deps_iceberg.__file__).parent
    found = sorted(root.rglob(RUNTIME_JAR))
    if not found:
        raise FileNotFoundError(f"{RUNTIME_JAR} not found under {root}")
    return found[0]


@contextmanager
def served(home: Path) -> Iterator[tuple[str, str]]:
    """``home`` served on a free loopback port with tokens required, its ``[maintain]``
    pointing Spark at it with a new admin principal's credential; yields the URL and
    the credential."""
    import uvicorn

    from icehouse.lake import Lake
    from icehouse.server import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Lake.open(home) as lake:
        admin = lake.principals.create(f"bench-{port}", admin=True)
        uri = f"http://127.0.0.1:{port}"
        credential = f"{admin.client_id}:{admin.client_secret}"
        config = home / "icehouse.toml"
        config.write_text(
            config.read_text()
            + f'\n[maintain]\nspark-catalog-uri = "{uri}"\nspark-credential = "{credential}"\n'
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(lake, allow_anonymous=False), port=port, log_level="error")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            yield uri, credential
        finally:
            server.should_exit = True
            thread.join()


def through_rest(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    """``maintain compact --engine spark`` on the served home: the session is started
    first (as the process's own, which the compaction then uses) and, as with the JDBC
    catalog, warmed up by one count through the catalog, and timed apart."""
    from pyspark.sql import SparkSession

    from icehouse.lake import Lake
    from icehouse.maintain.spark_session import CATALOG, SparkCatalog, SparkSettings, spark_session

    started = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("icehouse-maintain-benchmark")
        .config("spark.jars", str(runtime_jar()))
        .config(
            "spark.sql.extensions",
            "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        )
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    with served(home) as (uri, credential), Lake.open(home) as lake:
        spark_session(SparkSettings(), SparkCatalog(CATALOG, uri, credential))
        spark.sql(f"SELECT count(*) FROM {CATALOG}.{args.table}").collect()  # warm up
        session_seconds = time.perf_counter() - started
        options: dict[str, Any] = {"sort": SORT} if args.strategy == "sort" else {}
        started = time.perf_counter()
        result = lake.maintenance.compact(
            args.table, args.strategy, engine="spark", **options
        ).to_dict()
        call_seconds = time.perf_counter() - started
    spark.stop()
    result.pop("groups")
    return {
        "spark": spark.version,
        "session_seconds": session_seconds,
        "call_seconds": call_seconds,
        "result": result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--strategy", choices=["binpack", "sort"], required=True)
    parser.add_argument("--table", default="demo.requests")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--catalog", choices=["jdbc", "rest"], default="jdbc")
    args = parser.parse_args()
    home = args.home.resolve()
    # The driver's heap is fixed when its JVM starts, i.e. from the submit arguments.
    os.environ["PYSPARK_SUBMIT_ARGS"] = f"--driver-memory {args.driver_memory} pyspark-shell"
    if args.catalog == "rest":
        print(json.dumps(through_rest(args, home), default=str))
        return
    from pyspark.sql import SparkSession

    catalog = "spark.sql.catalog.icehouse"
    started = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("icehouse-maintain-benchmark")
        .config("spark.jars", f"{runtime_jar()},{SQLITE_JDBC}")
        .config(
            "spark.sql.extensions",
            "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        )
        .config(catalog, "org.apache.iceberg.spark.SparkCatalog")
        .config(f"{catalog}.type", "jdbc")
        .config(f"{catalog}.uri", f"jdbc:sqlite:{home / 'state.db'}")
        .config(f"{catalog}.warehouse", f"file:{home / 'warehouse'}")
        .config(f"{catalog}.jdbc.init-catalog-tables", "false")
        .config(f"{catalog}.cache-enabled", "false")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sql(f"SELECT count(*) FROM icehouse.{args.table}").collect()  # catalog reachable
    session_seconds = time.perf_counter() - started
    options = "strategy => 'binpack'"
    if args.strategy == "sort":
        options = f"strategy => 'sort', sort_order => '{SORT}'"
    started = time.perf_counter()
    rows = spark.sql(
        f"CALL icehouse.system.rewrite_data_files(table => '{args.table}', {options})"
    ).collect()
    call_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "spark": spark.version,
                "session_seconds": session_seconds,
                "call_seconds": call_seconds,
                "result": rows[0].asDict() if rows else {},
            },
            default=str,
        )
    )
    spark.stop()


if __name__ == "__main__":
    main()
