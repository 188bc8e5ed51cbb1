"""What ``govern.authz.authorize`` asks the lake for a principal that is not an
administrator: the current policy (cached on the lake, reloaded when its version
moves) and where a named table, view or namespace is (a table by its UUID).

Kept apart from ``governance.py`` and free of module-level imports of PyIceberg, so that
every governed call can make one without loading anything: an administrator's decision
never asks it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from icehouse.govern.objects import SecurableKind
from icehouse.govern.policy import Policy
from icehouse.govern.records import ObjectPath, mount_of

if TYPE_CHECKING:
    from icehouse.lake import Lake
    from icehouse.tables.identity import Identity


class LakeScope:
    """``authz.Scope`` for one lake and one call: what it reads (the policy, the tables
    it locates) is kept for the rest of the call, which decides and then acts on the
    same table."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._policy: Policy | None = None
        self._version: int | None = None
        self.found: dict[str, Identity] = {}
        """Tables and views located so far, by dotted name."""

    def policy(self) -> Policy:
        if self._policy is None:
            self._policy = self._lake._policies.current(self._lake._engine, self._version)
        return self._policy

    def version(self) -> int:
        """The policy version this scope decides at, read once (its policy's, once
        read): what is kept by version (the mounts, ``MountCache``) is current at it."""
        if self._policy is not None:
            return self._policy.version
        if self._version is None:
            from icehouse.govern.store import read_version

            self._version = read_version(self._lake._engine)
        return self._version

    def serves(self, lake: Lake) -> bool:
        """Whether this scope reads the state database ``lake`` reads (any of its
        views)."""
        return self._lake._engine is lake._engine

    def sharing_policy(self, lake: Lake) -> LakeScope:
        """A scope for ``lake`` that decides with this one's policy and version, and
        locates tables afresh: a call hands out the table as it loaded it after its
        check, and a table dropped and created again since then is another table."""
        scope = LakeScope(lake)
        scope._policy, scope._version = self._policy, self._version
        return scope

    def locate(self, kind: SecurableKind, name: str) -> ObjectPath | None:
        """Where the object called ``name`` is; None when there is no such table or view
        (a namespace is named by its path, so it is always located)."""
        *namespace, last = name.split(".")
        if kind is SecurableKind.NAMESPACE:
            return ObjectPath(tuple(name.split(".")), name=name, kind=kind)
        if not namespace:
            return None
        known = self.found.get(name)
        if known is not None:
            if mount_of(known.uuid) is not None:
                return mounted_path(known)
            return ObjectPath(tuple(namespace), known.uuid, name, kind)
        from icehouse.errors import NotFound
        from icehouse.lake.catalogs import mounted_identity
        from icehouse.tables.identity import view_identity

        try:
            mounted = mounted_identity(self._lake, name) if len(namespace) == 2 else None
            if mounted is not None:
                self.found[name] = mounted
                return mounted_path(mounted)
            if kind is SecurableKind.VIEW:
                found = view_identity(self._lake._catalog, tuple(namespace), last)
            else:  # one row read: the table's identity is kept by its metadata file
                named = self._lake._uuids.named(self._lake._catalog, tuple(namespace), last)
                if named is None or named.view:
                    return None
                found = named
        except NotFound:
            return None
        self.found[name] = found
        return ObjectPath(tuple(namespace), found.uuid, name, kind)

    def namespace_of(self, uuid: str) -> tuple[str, ...] | None:
        """The namespace table or view ``uuid`` is in now; None when it was dropped."""
        found = locate_uuid(self._lake, uuid)
        return None if found is None else found.namespace


def call_scope(lake: Lake) -> LakeScope:
    """A scope for a decision the governed call running now makes inside, once it
    knows what it hands out (``rest_access``): at the version its check decided at, so
    that one call reads the policy version once. Outside a call, a scope of its own."""
    from icehouse.lake.governed import current_scope

    checked = current_scope()
    if checked is None or not checked.serves(lake):
        return LakeScope(lake)
    return checked.sharing_policy(lake)


def visible(
    lake: Lake, kind: SecurableKind, names: list[str], scope: LakeScope | None = None
) -> list[str]:
    """The ``names`` (dotted, of objects of ``kind``) that the lake's principal may
    describe: lists are open to anyone and show each principal only its part. ``scope``:
    one that has located the objects already (``scope.found``)."""
    if lake.principal.admin:
        return names
    scope = scope or LakeScope(lake)
    policy = scope.policy()
    shown = []
    for name in names:
        path = scope.locate(kind, name)
        if path is not None and policy.may_describe(lake.principal.name, path, scope.namespace_of):
            shown.append(name)
    return shown


def record_owner(lake: Lake, kind: SecurableKind, uuid: str) -> None:
    """The lake's principal created the table or view ``uuid``: it owns it (every
    privilege on it, with grant option; a view runs with its rights)."""
    from icehouse.govern.store import record_owner as record

    record(lake._engine, kind, uuid, lake.principal.name)


def locate_uuid(lake: Lake, uuid: str) -> ObjectPath | None:
    """Where the table or view ``uuid`` (or a mounted table's key) is now; None when it
    was dropped. A mounted table is looked for only in its producer, never in this
    lake's catalog; while the producer does not answer, it is placed at the top of its
    mount, so that what was granted on it stands until the producer says otherwise."""
    from icehouse.errors import CatalogUnavailable

    mount = mount_of(uuid)
    if mount is not None:
        from icehouse.lake.catalogs import locate_mounted

        try:
            mounted = locate_mounted(lake, uuid)
        except CatalogUnavailable:
            return ObjectPath((mount,), uuid, kind=SecurableKind.TABLE, catalog=mount)
        return None if mounted is None else mounted_path(mounted)
    found = lake._uuids.locate(lake._catalog, uuid)
    if found is None:
        return None
    kind = SecurableKind.VIEW if found.view else SecurableKind.TABLE
    return ObjectPath(found.namespace, found.uuid, found.dotted, kind)


def mounted_path(found: Identity) -> ObjectPath:
    """Where a mounted table is, for a decision: under its mount's catalog."""
    return ObjectPath(
        found.namespace, found.uuid, found.dotted, SecurableKind.TABLE, catalog=found.namespace[0]
    )
