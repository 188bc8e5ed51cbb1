"""Check ``icehouse.toml`` as a whole, and say what is wrong the way a person fixes it.

A setting that is checked only when it is used fails late and far from its cause (a
``commit_interval`` that cannot be read failed when the first file arrived). So the
whole file is validated when a home is opened, and each problem is reported with its
key path (``sources.shop.glob``), its line in the file, and the closest valid key or the
valid choices; pydantic's own wording never reaches the user.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

SECTIONS = ("lake", "storage", "ingest", "maintain", "sources")
LAKE_KEYS = ("state_url", "warehouse")
STORAGE_KEYS = (
    "s3.endpoint",
    "s3.region",
    "s3.access-key-id",
    "s3.secret-access-key",
    "s3.session-token",
    "s3.path-style-access",
    "s3.force-virtual-addressing",
    "s3.resolve-region",
    "s3.anonymous",
    "s3.role-arn",
    "s3.role-session-name",
    "s3.proxy-uri",
    "s3.connect-timeout",
    "s3.request-timeout",
    "s3.retry-strategy-impl",
    "py-io-impl",
)
"""The ``[storage]`` keys: PyIceberg's FileIO properties that icehouse passes on. A key
outside them would be ignored without a word (``s3.secret-key`` for
``s3.secret-access-key``), leaving the store to refuse the lake's keys far from the
cause, so each is named in the README and anything else is refused on open."""
_HEADER = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")


def line_of(text: str, table: Sequence[str], key: str | None = None) -> int | None:
    """The line (1-based) of ``key`` in table ``table`` (or of the table's header), as a
    person wrote it: ``[sources.shop]`` then ``glob = ...``; an inline table
    ``columns = { ... }`` or a dotted key counts for the keys inside it."""
    wanted = ".".join(table)
    current = ""
    header_line = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            current = _unquote_path(header.group(1))
            if header_line is None and (current == wanted or current.startswith(wanted + ".")):
                header_line = number
            continue
        found = _KEY.match(line)
        if not found or key is None:
            continue
        full = f"{current}.{_unquote(found.group(1))}" if current else _unquote(found.group(1))
        target = f"{wanted}.{key}" if wanted else key
        if full == target or target.startswith(full + "."):
            return number
    return header_line


def _unquote(name: str) -> str:
    return name[1:-1] if name[:1] in "\"'" else name


def _unquote_path(path: str) -> str:
    return ".".join(_unquote(part.strip()) for part in path.split("."))


def by_line(problems: list[str]) -> list[str]:
    """Problems in the order of the file (those without a line last)."""
    found = [re.match(r"line (\d+): ", p) for p in problems]
    return [
        p
        for _, p in sorted(
            zip(found, problems, strict=True),
            key=lambda f: (f[0] is None, int(f[0].group(1)) if f[0] else 0),
        )
    ]


def where(text: str, table: Sequence[str], key: str | None) -> str:
    """``line N: `` where the key (or its table) is written, else nothing."""
    line = line_of(text, table, key)
    return f"line {line}: " if line else ""


def closest(name: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'glob'?)`` when a choice is close to ``name``, else ``""``."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_sections(raw: dict[str, Any], *, text: str) -> list[str]:
    """Problems with top-level sections and ``[lake]`` keys (the rest is typed models)."""
    problems = []
    for section, value in raw.items():
        if section not in SECTIONS:
            problems.append(
                f"{where(text, (section,), None)}unknown section [{section}]"
                f"{closest(section, SECTIONS)}; the sections are "
                + ", ".join(f"[{s}]" for s in SECTIONS)
            )
        elif not isinstance(value, dict):
            problems.append(f"{where(text, (), section)}{section} must be a [table]")
    for key in raw.get("lake", {}) if isinstance(raw.get("lake"), dict) else {}:
        if key not in LAKE_KEYS:
            problems.append(
                f"{where(text, ('lake',), key)}unknown key lake.{key}"
                f"{closest(key, LAKE_KEYS)}; valid keys: {', '.join(LAKE_KEYS)}"
            )
    storage = raw.get("storage")
    for key in _flat_keys(storage) if isinstance(storage, dict) else []:
        if key not in STORAGE_KEYS:
            problems.append(
                f"{where(text, ('storage',), key)}unknown key storage.{key}"
                f"{closest(key, STORAGE_KEYS)}; valid keys: {', '.join(STORAGE_KEYS)}"
            )
    return problems


def _flat_keys(table: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of a table (bare ``s3.endpoint = ...`` is a nested table in TOML)."""
    keys: list[str] = []
    for key, value in table.items():
        if isinstance(value, dict):
            keys.extend(_flat_keys(value, f"{prefix}{key}."))
        else:
            keys.append(f"{prefix}{key}")
    return keys


def describe(
    exc: ValidationError,
    *,
    model: type[BaseModel],
    prefix: Sequence[str],
    text: str,
) -> list[str]:
    """Each error of ``exc`` (raised validating ``model`` at ``prefix``) as one line."""
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        key_path = ".".join([*prefix, *loc])
        table, key = [*prefix, *loc[:-1]], loc[-1] if loc else None
        place = where(text, table, key)
        lines.append(f"{place}{_explain(error, key_path, _fields_at(model, loc[:-1]))}")
    return lines


def _fields_at(model: type[BaseModel], loc: Sequence[str]) -> list[str]:
    """The valid keys of the table at ``loc`` inside ``model`` (for suggestions)."""
    current: Any = model
    key_next = False  # the part after a dict-valued field is a name of the user's
    for part in loc:
        if key_next:
            key_next = False
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        if get_origin(annotation) is dict:
            current, key_next = get_args(annotation)[1], True
        else:
            models = [a for a in get_args(annotation) if hasattr(a, "model_fields")]
            current = models[0] if models else annotation
    return [name for name in getattr(current, "model_fields", {}) if name != "name"]


def _explain(error: Any, key_path: str, fields: list[str]) -> str:
    kind = error["type"]
    name = key_path.rsplit(".", 1)[-1]
    value = error.get("input")
    if kind == "extra_forbidden":
        valid = f"; valid keys: {', '.join(fields)}" if fields else ""
        return f"unknown key {key_path}{closest(name, fields)}{valid}"
    if kind == "missing":
        return f"{key_path} is required"
    if kind in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        return f"{key_path} = {value!r} is not one of {expected}"
    if kind == "value_error":
        message = str(error.get("ctx", {}).get("error") or error["msg"])
        return f"{key_path}: {message.removeprefix('Value error, ')}"
    described = {
        "string_type": "a string",
        "int_parsing": "a whole number",
        "int_type": "a whole number",
        "float_parsing": "a number",
        "float_type": "a number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "dict_type": "a table",
        "list_type": "a list",
    }.get(kind)
    if described:
        return f"{key_path} = {value!r} must be {described}"
    return f"{key_path} = {value!r}: {error['msg']}"
