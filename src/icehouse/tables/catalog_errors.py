"""PyIceberg's catalog exceptions, translated once into icehouse's.

Namespace and table operations of the catalog (create, drop, rename, register, commit)
raise PyIceberg's exceptions; callers above ``tables/`` see only icehouse's, whose HTTP
status and Iceberg error type the REST server reports as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.exceptions import ValidationError as IcebergValidationError

from icehouse.errors import (
    CommitRaced,
    InvalidInput,
    NamespaceAlreadyExists,
    NamespaceNotEmpty,
    NoSuchNamespace,
    NoSuchTable,
    TableAlreadyExists,
)

M = TypeVar("M", bound=BaseModel)


def dotted(parts: str | tuple[str, ...]) -> str:
    """A namespace or table identifier as people write it: ``logs.events`` (a name
    given as a string already is)."""
    return parts if isinstance(parts, str) else ".".join(parts)


@contextmanager
def catalog_errors(*, namespace: tuple[str, ...], table: str | None = None) -> Iterator[None]:
    """Raise icehouse's error for PyIceberg's inside the block, naming what it was about.

    Raises:
        NoSuchNamespace, NoSuchTable, NamespaceAlreadyExists, NamespaceNotEmpty,
        TableAlreadyExists, CommitRaced (a failed requirement or a lost race: nothing
        landed), InvalidInput (metadata, an update or a payload PyIceberg refused).
    """
    ns = dotted(namespace)
    name = f"{ns}.{table}" if table else ns
    try:
        yield
    except NoSuchNamespaceError as exc:
        raise NoSuchNamespace(f"namespace {ns!r} does not exist", namespace=ns) from exc
    except NoSuchTableError as exc:
        raise NoSuchTable(f"table {name!r} does not exist", table=name) from exc
    except NamespaceAlreadyExistsError as exc:
        raise NamespaceAlreadyExists(f"namespace {ns!r} already exists", namespace=ns) from exc
    except NamespaceNotEmptyError as exc:
        raise NamespaceNotEmpty(
            f"namespace {ns!r} still holds tables; drop them first ({exc})", namespace=ns
        ) from exc
    except TableAlreadyExistsError as exc:
        raise TableAlreadyExists(f"table {name!r} already exists", table=name) from exc
    except CommitFailedException as exc:
        raise CommitRaced(
            f"{name}: commit refused ({exc}); reload the table and retry", table=name
        ) from exc
    except (PydanticValidationError, IcebergValidationError) as exc:
        raise InvalidInput(f"{name}: {exc}") from exc


def parsed(model: type[M], document: Any, *, subject: str) -> M:
    """``document``, Iceberg JSON a client sent (a schema, a spec, a commit), as
    PyIceberg's ``model``.

    PyIceberg's own validators raise ``TypeError`` for a value of the wrong type in an
    otherwise well-formed document (a field's ``write-default`` that does not fit its
    type), and pydantic lets that through unwrapped: it is the client's mistake all the
    same.

    Raises: InvalidInput (naming ``subject`` and what did not parse)."""
    try:
        return model.model_validate(document)
    except (PydanticValidationError, IcebergValidationError, ValueError, TypeError) as exc:
        raise InvalidInput(f"{subject}: not a valid {model.__name__}: {exc}") from exc


__all__ = ["catalog_errors", "dotted", "parsed"]
