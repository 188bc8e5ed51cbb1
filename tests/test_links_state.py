"""Resource links in the state database: a version-11 database gains their table, and
links are kept by name, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from icehouse.errors import LinkNameTaken, NoSuchLink
from icehouse.govern import links
from icehouse.state.database import SCHEMA_VERSION, current_version, migrate


def test_a_version_11_database_gains_the_links_table(state_engine: Engine) -> None:
    migrate(state_engine)
    with state_engine.begin() as conn:
        conn.execute(text("DROP TABLE gov_links"))
        conn.execute(text("DELETE FROM icehouse_schema_version"))
        conn.execute(text("INSERT INTO icehouse_schema_version VALUES (11, 0)"))

    assert migrate(state_engine) == SCHEMA_VERSION - 11

    assert current_version(state_engine) == SCHEMA_VERSION
    assert links.list_links(state_engine) == []


def test_links_are_listed_by_name_and_each_name_is_taken_once(state_engine: Engine) -> None:
    migrate(state_engine)
    links.create_link(state_engine, "b.r", "cdn.requests", target_catalog="", created_by="ana")
    links.create_link(state_engine, "a.r", "x.y", target_catalog="prod", created_by="bo")

    with pytest.raises(LinkNameTaken, match=r"link a\.r already exists"):
        links.create_link(state_engine, "a.r", "cdn.requests", target_catalog="", created_by="c")

    listed = [(k.name, k.qualified_target, k.created_by) for k in links.list_links(state_engine)]
    assert listed == [("a.r", "prod.x.y", "bo"), ("b.r", "cdn.requests", "ana")]
    assert [k.name for k in links.list_links(state_engine, "b")] == ["b.r"]
    links.drop_link(state_engine, "a.r")
    with pytest.raises(NoSuchLink, match=r"there is no link a\.r"):
        links.drop_link(state_engine, "a.r")
