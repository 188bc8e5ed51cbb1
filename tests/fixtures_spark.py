"""A SparkSession connected to a served lake as Iceberg's REST catalog, for tests that
drive Spark 3.5 against ``icehouse serve``.

The session is built by docs/spark.md's snippet as printed, with the server's address
and a principal's credential put in, so that the docs connect as the tests do. It needs
``pip install -e '.[spark]'`` and a Java 17; without them the test is skipped (failed
under ``CI=true``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import service_unavailable

DOC = Path(__file__).resolve().parents[1] / "docs" / "spark.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
CATALOG = "lake"
"""The name docs/spark.md gives the served catalog: ``lake.web.hits`` in Spark's SQL is
``web.hits`` in icehouse's."""


def require_spark() -> None:
    """Skip the test (fail it in CI) with the line that installs what is missing."""
    missing = [
        name
        for name in ("pyspark", "snowpark_connect_deps_iceberg")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        service_unavailable(
            f"{' and '.join(missing)} not installed: pip install -e '.[spark]' to run Spark"
        )
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        service_unavailable(
            "no Java for Spark: install a Java 17 runtime (apt-get install openjdk-17-jre-headless)"
        )


@contextmanager
def spark_session(uri: str, credential: str, warehouse: Path) -> Iterator[Any]:
    """A SparkSession whose catalog ``lake`` is the server at ``uri``, signed in with
    ``credential`` (``CLIENT_ID:CLIENT_SECRET``); ``warehouse`` is Spark's own, left
    unused. Its JVM ends with the block.

    A 1 GB driver, two shuffle partitions and no UI keep it to two small cores; they
    are given as submit arguments, which the snippet's own settings leave alone."""
    require_spark()
    (snippet,) = PYTHON_BLOCK.findall(DOC.read_text(encoding="utf-8"))
    snippet = snippet.replace("http://127.0.0.1:8181", uri).replace(
        "CLIENT_ID:CLIENT_SECRET", credential
    )
    settings = {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.sql.warehouse.dir": str(warehouse),
    }
    submit = " ".join(f"--conf {key}={value}" for key, value in settings.items())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYSPARK_SUBMIT_ARGS", f"--driver-memory 1g {submit} pyspark-shell")
        built: dict[str, Any] = {}
        exec(snippet, built)
    session = built["spark"]
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        stop_with_its_jvm(session)


def stop_with_its_jvm(session: Any) -> None:
    """``stop()`` ends Spark but leaves its JVM running, holding its heap for the rest of
    the test run: close the stdin pipe that pyspark's launcher gives the JVM to watch
    (pyspark ends it this way when Python exits) and wait for it to go."""
    from pyspark import SparkContext

    session.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    gateway.proc.stdin.close()
    gateway.proc.wait(timeout=60)
    SparkContext._gateway = None  # a later session launches a JVM of its own
    SparkContext._jvm = None


def run(spark: Any, sql: str) -> list[dict[str, Any]]:
    """The rows of ``sql`` in Spark, each as a dict."""
    return [row.asDict() for row in spark.sql(sql).collect()]
