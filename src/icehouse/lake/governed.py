"""The check in front of every public ``Lake`` method: ``@governed(action, on=...)``
asks ``govern.authz.authorize`` for the lake's principal before the method runs.

A method without it is found by the test that walks every public method of ``Lake``
and of its groups, so a new method cannot forget the check.

Every decision is also recorded in the audit trail (``govern/audit.py``): a denial
always, before the refusal is raised; an allowance only for the outermost governed call
(the one the caller made: the methods it calls on the way are part of it, and recording
them would multiply a request's records without saying more). Outside a server request,
the outermost call writes the trail when it returns or raises.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from icehouse.errors import Forbidden
from icehouse.govern.audit import AuditTrail, current_trail, trail_scope
from icehouse.govern.authz import Principal, Resource, authorize
from icehouse.lake.authz_scope import LakeScope

P = ParamSpec("P")
R = TypeVar("R")

ACTION_ATTRIBUTE = "__icehouse_action__"
"""Set on every governed method, naming its action (read by the enumeration test)."""

_DEPTH: ContextVar[int] = ContextVar("icehouse_governed_depth", default=0)
"""How many governed calls this context is inside of (0: none)."""

_CALL_MEMO: ContextVar[dict[Any, Any] | None] = ContextVar("icehouse_call_memo", default=None)
"""What the outermost governed call read once for all of its decisions and its work
(``call_memo``); None outside any governed call."""


_SCOPE: ContextVar[LakeScope | None] = ContextVar("icehouse_governed_scope", default=None)
"""The scope the governed call running now (at any depth) was checked with, for the
decisions it makes inside (``current_scope``); None outside any governed call."""


def current_scope() -> LakeScope | None:
    """The scope the innermost governed call this context is in was checked with, so
    that the decisions it makes inside, and what it reads by policy version, read that
    version once: a call decides at the version current at its first decision (each
    call, nested ones too, starts a scope of its own, so a call made after a change
    sees it). None outside a call."""
    return _SCOPE.get()


def call_memo() -> dict[Any, Any] | None:
    """A dict that lives as long as the outermost governed call this context is in (its
    check included), for what must be read once per call: a mounted table, which the
    check, the access decision and the answer would otherwise each ask its producer
    for, and which must be the same version for all three. None outside a call."""
    return _CALL_MEMO.get()


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
            lake: Any = getattr(args[0], "_lake", args[0])
            name = ""
            if names:
                given = signature.bind(*args, **kwargs).arguments
                name = ".".join(_name(given.get(n)) for n in names if given.get(n) is not None)
            resource = Resource(kind, name)
            trail = current_trail()
            if trail is not None:
                return _decided(trail, lake, action, resource, method, args, kwargs)
            trail = AuditTrail()
            with trail_scope(trail):
                try:
                    return _decided(trail, lake, action, resource, method, args, kwargs)
                finally:
                    if trail.pending:
                        lake._write_audit(trail)

        setattr(checked, ACTION_ATTRIBUTE, action)
        return checked

    return decorate


def _decided(
    trail: AuditTrail,
    lake: Any,
    action: str,
    resource: Resource,
    method: Callable[..., R],
    args: Any,
    kwargs: Any,
) -> R:
    """Authorise, record the decision, and run ``method`` one level deeper."""
    depth = _DEPTH.get()
    memo = _CALL_MEMO.set({}) if depth == 0 else None
    scope = LakeScope(lake)
    checked = _SCOPE.set(scope)
    try:
        principal: Principal = lake.principal
        try:
            authorize(principal, action, resource, scope)
        except Forbidden as exc:
            trail.decision(principal, action, resource, denied=exc.message)
            raise
        if depth == 0:
            trail.decision(principal, action, resource, denied=None)
        token = _DEPTH.set(depth + 1)
        try:
            return method(*args, **kwargs)
        finally:
            _DEPTH.reset(token)
    finally:
        _SCOPE.reset(checked)
        if memo is not None:
            _CALL_MEMO.reset(memo)


def _name(value: Any) -> str:
    """A namespace tuple as ``a.b``; a table's ``(namespace, name)`` as ``a.b.t``; a
    list of names as ``a,b``; anything with a ``dotted`` name as that name."""
    if isinstance(value, tuple):
        return ".".join(_name(part) for part in value)
    if isinstance(value, list):
        return ",".join(_name(part) for part in value)
    dotted = getattr(value, "dotted", None)  # a table's change in a multi-table commit
    return dotted if isinstance(dotted, str) else str(value)
