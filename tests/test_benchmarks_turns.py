"""The benchmarks' turn-taking: callers compared on a shared machine take turns at each
query, and a caller's figures beside the baseline's cancel a drift of the machine.

``benchmarks/governed.py`` and ``benchmarks/mesh.py`` judge their goals on these
figures, so a wrong pairing or a warm-up round counted would move a verdict.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

COMMON = Path(__file__).resolve().parents[1] / "benchmarks" / "common.py"
QUERIES = ["Q1", "Q2", "Q3"]
CALLERS = ["baseline", "plain", "filtered"]


@pytest.fixture(scope="module")
def common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_common", COMMON)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def asked_in_order(common: ModuleType, seed: int) -> list[tuple[int, str, str]]:
    """(call number, query, caller) of every statement asked in 2 warm-up and 3 timed
    rounds, answering each with its call number."""
    asked: list[tuple[int, str, str]] = []

    def ask(query: str, who: str) -> int:
        asked.append((len(asked), query, who))
        return len(asked) - 1

    common.take_turns(QUERIES, CALLERS, ask, lambda: None, warmup=2, runs=3, seed=seed)
    return asked


def test_each_round_asks_every_query_once_as_each_caller_back_to_back(
    common: ModuleType,
) -> None:
    asked = asked_in_order(common, seed=13)
    assert Counter((query, who) for _, query, who in asked) == {
        (query, who): 5 for query in QUERIES for who in CALLERS
    }
    turns = [asked[i : i + len(CALLERS)] for i in range(0, len(asked), len(CALLERS))]
    assert [[q for _, q, _ in turn] for turn in turns] == [
        [query] * len(CALLERS) for _ in range(5) for query in QUERIES
    ]


def test_the_order_of_the_callers_is_shuffled_per_round_and_query_by_the_seed(
    common: ModuleType,
) -> None:
    def orders(seed: int) -> list[tuple[str, ...]]:
        asked = asked_in_order(common, seed)
        return [
            tuple(who for _, _, who in asked[i : i + len(CALLERS)])
            for i in range(0, len(asked), len(CALLERS))
        ]

    assert len(set(orders(13))) > 1
    assert {order[0] for order in orders(13)} == set(CALLERS)
    assert orders(13) == orders(13)
    assert orders(13) != orders(14)


def test_warm_up_rounds_are_not_counted_and_the_last_answer_is_kept(
    common: ModuleType,
) -> None:
    ticks = iter(range(1000))
    turns = common.take_turns(
        QUERIES,
        CALLERS,
        lambda query, who: f"{query} as {who}",
        lambda: float(next(ticks)),  # each statement uses one second of CPU
        warmup=2,
        runs=3,
        seed=13,
    )
    assert turns.runs == 3
    assert {key: len(seconds) for key, seconds in turns.seconds.items()} == {
        (query, who): 3 for query in QUERIES for who in CALLERS
    }
    assert turns.answers["Q2", "plain"] == "Q2 as plain"
    compared = turns.compare("Q2", "plain", "baseline")
    assert compared.cpu_s == pytest.approx(1.0)


def test_the_paired_ratio_cancels_a_drift_that_the_ratio_of_medians_keeps(
    common: ModuleType,
) -> None:
    """Round 3 ran on a machine slowed for both callers, and round 2's ``plain`` run was
    an outlier: the ratio of the medians counts both against ``plain``, the paired
    ratio neither."""
    turns = common.Turns(3)
    turns.seconds["Q1", "baseline"] = [1.0, 1.0, 2.0]
    turns.seconds["Q1", "plain"] = [1.1, 2.2, 2.2]
    turns.cpu["Q1", "plain"] = 0.03
    compared = turns.compare("Q1", "plain", "baseline")
    assert compared.median_s == pytest.approx(2.2)
    assert compared.ratio == pytest.approx(2.2)
    assert compared.paired == pytest.approx(1.1)
    assert compared.cpu_s == pytest.approx(0.01)
    assert turns.compare("Q1", "baseline", "baseline").paired == pytest.approx(1.0)
    assert turns.compare("Q1", "baseline", "baseline").cpu_s is None
