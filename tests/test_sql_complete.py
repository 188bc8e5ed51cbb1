"""Tab in the SQL shell: what ``candidates`` offers for the text before the cursor, and
Tab pressed at the real prompt (prompt_toolkit's pipe input) against a real lake."""

from __future__ import annotations

import io
import threading
import time

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from icehouse.cli.shell import Shell, prompt_session, run_interactive, table_columns
from icehouse.cli.sql_complete import SqlCompleter, candidates
from tests import fixtures_lake
from tests.fixtures_lake import add_source, event, write_jsonl

home = fixtures_lake.home
lake = fixtures_lake.lake
landing = fixtures_lake.landing
events = fixtures_lake.events

TABLES = {
    "logs.events": ["ts", "id", "country"],
    "demo.requests": ["requested_at", "customer_id", "country"],
}


@pytest.mark.parametrize(
    ("text", "offered"),
    [
        ("SEL", ["SELECT"]),
        ("sel", ["select"]),  # in the case it was typed in
        ("SELECT * FROM logs.", ["logs.events"]),
        ("SELECT * FROM dem", ["demo.requests"]),
        ("SELECT cust", ["customer_id"]),
        ("SELECT c FROM logs.events WHERE c", ["country", "cross", "case", "cast", "count"]),
        ("\\ex", ["\\explain"]),
        ("\\d lo", ["logs.events"]),
        ("\\timing o", []),
        ("SELECT 'it''s' AS zz", []),
    ],
)
def test_tab_offers_keywords_tables_and_the_columns_of_named_tables(text, offered):
    assert candidates(text, TABLES) == offered


@pytest.mark.parametrize(
    ("text", "offered"),
    [
        ("GR", ["GROUP", "GRANT"]),
        ("rev", ["revoke"]),
        ("GRANT SELECT ON TA", ["TABLE", "TAG", "TAGS"]),
        ("GRANT SELECT ON TABLE logs.events TO RO", ["ROLE", "ROLES"]),
        ("grant select on table logs.events to role r with grant op", ["option"]),
        ("GRANT CREATE_", ["CREATE_NAMESPACE", "CREATE_TABLE", "CREATE_VIEW"]),
        ("SHOW GRANTS TO PRIN", ["PRINCIPAL"]),
        ("CREATE DATA FILTER f ON logs.events WHERE country = 'de' EXC", ["EXCLUDING", "EXCEPT"]),
        ("ALTER TABLE logs.events UNS", ["UNSET"]),
        ("SELECT * FROM logs.events WHERE PRIN", []),  # a query is offered no GRANT words
    ],
)
def test_tab_offers_the_words_of_governance_statements_in_them(text, offered):
    assert candidates(text, TABLES) == offered


def test_a_word_typed_out_in_full_is_not_offered_again():
    assert "SELECT" not in candidates("SELECT", TABLES)


def test_tab_at_the_prompt_completes_a_table_name_and_runs_the_statement(
    home, lake, events, landing
):
    add_source(lake, "web", landing)
    write_jsonl(landing / "a.jsonl", [event(i) for i in range(1, 4)])
    lake.ingest()
    out, err = io.StringIO(), io.StringIO()
    completer = SqlCompleter(table_columns(lake))
    assert completer.tables["logs.events"][:2] == ["ts", "id"]
    with create_pipe_input() as keys:
        shell = Shell(lake, Console(file=out, width=200), Console(file=err, width=200))
        session = prompt_session(
            home / ".sql_history", completer=completer, input=keys, output=DummyOutput()
        )

        def type_the_rest_once_completed() -> None:
            """Tab completes in the prompt's event loop: keys sent with it would be read
            first, so the rest is typed once the table name stands in the input."""
            keys.send_text("SELECT count(*) AS n FROM logs.ev\t")
            for _ in range(200):
                if session.default_buffer.text.endswith("logs.events"):
                    break
                time.sleep(0.05)
            keys.send_text(";\n\x04")

        typist = threading.Thread(target=type_the_rest_once_completed)
        typist.start()
        run_interactive(shell, session)
        typist.join()
    assert err.getvalue() == ""
    assert "n\n3\n" in out.getvalue()
