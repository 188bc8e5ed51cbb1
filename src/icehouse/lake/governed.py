"""The check in front of every public ``Lake`` method: ``@governed(action, on=...)``
asks ``govern.authz.authorize`` for the lake's principal before the method runs.

A method without it is found by the test that walks every public method of ``Lake``
and of its groups, so a new method cannot forget the check.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from icehouse.govern.authz import Principal, Resource, authorize
from icehouse.lake.authz_scope import LakeScope

P = ParamSpec("P")
R = TypeVar("R")

ACTION_ATTRIBUTE = "__icehouse_action__"
"""Set on every governed method, naming its action (read by the enumeration test)."""


def governed(
    action: str, *, on: str | tuple[str, ...] = ()
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a method of ``Lake`` or of one of its groups (which hold it as ``_lake``).

    ``action`` is ``<kind>.<verb>`` (``table.create``); ``on`` names the argument (or
    the arguments, joined with dots) that say which resource of that kind: a table
    name, a namespace tuple; without it the resource is the kind as a whole."""
    kind = action.split(".", 1)[0]
    names = (on,) if isinstance(on, str) else on

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            owner: Any = args[0]
            lake = getattr(owner, "_lake", owner)
            principal: Principal = lake.principal
            name = ""
            if names:
                given = signature.bind(*args, **kwargs).arguments
                name = ".".join(_name(given.get(n)) for n in names if given.get(n) is not None)
            authorize(principal, action, Resource(kind, name), LakeScope(lake))
            return method(*args, **kwargs)

        setattr(checked, ACTION_ATTRIBUTE, action)
        return checked

    return decorate


def _name(value: Any) -> str:
    """A namespace tuple as ``a.b``; a table's ``(namespace, name)`` as ``a.b.t``; a
    list of names as ``a,b``."""
    if isinstance(value, tuple):
        return ".".join(_name(part) for part in value)
    if isinstance(value, list):
        return ",".join(_name(part) for part in value)
    return str(value)
