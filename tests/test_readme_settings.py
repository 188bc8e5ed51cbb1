"""The README's table of ``[lake]`` and ``[storage]`` keys is the list the loader accepts.

Someone scaling out reads that table, not the code: a key the loader takes that the table
leaves out is a setting nobody finds, and a key the table shows that the loader refuses
breaks the first home written from it. So the table is read here and checked against
the loader both ways: every key it lists opens a home, a key it does not list is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from icehouse.config import CONFIG_FILE, load_config
from icehouse.config_check import LAKE_KEYS, STORAGE_KEYS
from icehouse.errors import InvalidConfig

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(r"^\| `(lake|storage)\.([^`]+)` \| ([^|]+) \| ([^|]+) \|$", re.MULTILINE)


def documented() -> dict[str, list[str]]:
    """Section → the keys the README's table lists for it, in its order."""
    keys: dict[str, list[str]] = {"lake": [], "storage": []}
    for section, key, default, meaning in ROW.findall(README.read_text(encoding="utf-8")):
        assert default.strip() and meaning.strip(), f"{section}.{key} needs a default and a meaning"
        keys[section].append(key)
    return keys


def test_the_readme_lists_every_lake_and_storage_key_the_loader_accepts_and_no_other() -> None:
    listed = documented()
    assert sorted(listed["lake"]) == sorted(LAKE_KEYS)
    assert sorted(listed["storage"]) == sorted(STORAGE_KEYS)
    assert len(listed["storage"]) == len(set(listed["storage"])), "a key listed twice"


def test_a_home_with_every_key_the_readme_lists_opens(tmp_path: Path) -> None:
    listed = documented()
    storage = "".join(f'"{key}" = "x"\n' for key in listed["storage"])
    (tmp_path / CONFIG_FILE).write_text(
        f'[lake]\nstate_url = "sqlite:///s.db"\nwarehouse = "w"\n\n[storage]\n{storage}'
    )
    config = load_config(tmp_path)
    assert sorted(config.storage) == sorted(listed["storage"])
    assert config.state_url == f"sqlite:///{tmp_path / 's.db'}"


def test_a_storage_key_the_readme_does_not_list_is_refused_with_the_closest_one(
    tmp_path: Path,
) -> None:
    (tmp_path / CONFIG_FILE).write_text('[storage]\n"s3.secret-key" = "x"\n')
    with pytest.raises(InvalidConfig) as refused:
        load_config(tmp_path)
    assert refused.value.message.startswith(
        f"{tmp_path / CONFIG_FILE}: line 2: unknown key storage.s3.secret-key "
        "(did you mean 's3.secret-access-key'?); valid keys: s3.endpoint, s3.region, "
    )


def test_a_bare_dotted_storage_key_reads_as_the_quoted_one(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text('[storage]\ns3.endpoint = "http://127.0.0.1:8333"\n')
    assert load_config(tmp_path).storage == {"s3.endpoint": "http://127.0.0.1:8333"}
