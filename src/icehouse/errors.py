"""The one exception tree of icehouse.

Every error a user can cause or meet is an ``IcehouseError``; anything else that escapes
is a bug and keeps its traceback. Each class carries an HTTP ``status`` and an Iceberg
REST ``error_type`` so that the CLI, the REST server and the Python API report the same
thing the same way.

    IcehouseError
    ├── NotAuthenticated              401  no token, or one expired, revoked or unknown
    ├── Forbidden                     403  the principal may not do this
    │   └── GrantNotHeld              a grant of what the granter does not hold with grant option
    ├── NotFound                      404
    │   ├── HomeNotFound
    │   ├── NoSuchTable
    │   ├── NoSuchNamespace
    │   ├── NoSuchView
    │   ├── NoSuchSource
    │   ├── LandingNotFound           a source's landing folder does not exist
    │   ├── NoSuchQuarantineRecord
    │   ├── NoSuchPrincipal
    │   ├── NoSuchRole
    │   ├── NoSuchTag
    │   ├── NoSuchDataFilter
    │   ├── NoSuchTenant
│   ├── NoSuchMount               no producer catalog mounted under that name
    │   ├── NoSuchLink                no resource link of that name
    │   └── NoSuchGrant               a revoke of a grant no one made
    ├── Conflict                      409
    │   ├── TableAlreadyExists
    │   ├── ViewAlreadyExists         a view or a table already has the name
    │   ├── NamespaceAlreadyExists
    │   ├── NamespaceNotEmpty         a namespace that still holds tables cannot be dropped
    │   ├── SourceAlreadyExists
    │   ├── PrincipalAlreadyExists
    │   ├── RoleAlreadyExists
    │   ├── TagAlreadyExists
    │   ├── DataFilterAlreadyExists
    │   ├── TenantAlreadyExists
    │   ├── TenantNotEmpty            a tenant that still has principals or roles
│   ├── MountNameTaken            a mount or a top-level namespace already has the name
    │   ├── LinkNameTaken             a link, table or view already has the name
    │   ├── CommitConflict
    │   │   ├── CommitRaced           ``main`` moved while a commit was written (retryable)
    │   │   └── RewriteConflict       a rewrite's input files changed under it
    │   ├── MaintenanceBusy           another maintainer holds the lease
    │   ├── TableInUse                sources write to it, or ingestion has batches open on it
    │   ├── SourceInUse               ingestion has batches of the source open
    │   └── CopiedHome                the state database belongs to another home (cp -a)
    ├── InvalidInput                  400
    │   ├── InvalidConfig
    │   ├── InvalidSchema
    │   ├── InvalidPartitionSpec
    │   ├── InvalidSortOrder
    │   ├── InvalidDuration
    │   ├── InvalidMapping
    │   ├── QueryError
    │   │   ├── EqualityDeletesUnsupported
    │   │   ├── MountedTableReadOnly  SQL that would change a mounted table
    │   │   └── GovernanceSyntaxError  a GRANT, CREATE ROLE... that does not parse
    │   ├── FilterNotTranslatable     a WHERE term with no exact Iceberg expression
    │   ├── InvalidCredential         a client credential that is malformed or kept unsafely
    │   ├── ConfirmationRequired      a destructive command with no one to confirm it
    │   ├── SetupFailed               ``icehouse init`` could not use the database or storage given
    │   ├── ConflictingProperties     422  keys both removed and set in one update
    │   ├── IdempotencyKeyReused      422  an Idempotency-Key sent with a different request
    │   ├── RoleCycle                 a role made a member of itself, directly or not
    │   ├── InvalidGrant              a privilege that means nothing on that kind of object
    │   ├── InvalidTagValue           a tag value its key does not allow
    │   └── UnsafeMaintenance         e.g. an orphan safety age below one hour
    │       └── OutsideWarehouse      a table whose files are not under this home's warehouse
    ├── MountReadOnly                 501  a commit to a table of a mounted catalog
    ├── InputFileError                422  a source file that cannot be read as a whole
    │   └── UnreadableFile
    ├── ServiceUnavailable            503  a service icehouse depends on does not answer now
    │   ├── StateDatabaseUnavailable
    │   ├── StorageUnavailable
    │   ├── ServerUnavailable         an icehouse server a client connects to
    │   └── CatalogUnavailable        a mounted producer catalog
    ├── SparkUnavailable              503  Spark cannot run a rewrite (not installed, not reachable)
    ├── SparkRewriteFailed            500  Spark's rewrite_data_files failed
    ├── StateError                    500  the state database is not what this version expects
    │   └── SealedSecretUnreadable    a stored secret the home's key file does not open
    ├── CommitUncertain               500  a commit reported as failed may have landed (not retried)
    └── ProofFailed                   500  a rewrite's output differs from its input (not committed)
"""

from __future__ import annotations

from typing import Literal


class IcehouseError(Exception):
    """Root of every error icehouse raises on purpose."""

    status: int = 500
    error_type: str = "IcehouseException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAuthenticated(IcehouseError):
    """The request carries no usable credential: a client gets a token from
    ``POST /v1/oauth/tokens`` with its client id and secret, then sends it as a bearer."""

    status = 401
    error_type = "NotAuthorizedException"


class Forbidden(IcehouseError):
    """The principal is known but may not perform ``action`` on ``resource``."""

    status = 403
    error_type = "ForbiddenException"

    def __init__(self, message: str, *, principal: str, action: str, resource: str) -> None:
        super().__init__(message)
        self.principal = principal
        self.action = action
        self.resource = resource


class GrantNotHeld(Forbidden):
    """A grant (or revoke) of what the granter neither holds with grant option nor may
    manage (MANAGE_GRANTS on the catalog)."""


class NotFound(IcehouseError):
    status = 404
    error_type = "NotFoundException"


class HomeNotFound(NotFound):
    """No lake home where one was expected; the message says how to make one."""

    def __init__(self, message: str, *, home: str) -> None:
        super().__init__(message)
        self.home = home


class NoSuchTable(NotFound):
    error_type = "NoSuchTableException"

    def __init__(self, message: str, *, table: str) -> None:
        super().__init__(message)
        self.table = table


class NoSuchNamespace(NotFound):
    error_type = "NoSuchNamespaceException"

    def __init__(self, message: str, *, namespace: str) -> None:
        super().__init__(message)
        self.namespace = namespace


class NoSuchView(NotFound):
    error_type = "NoSuchViewException"

    def __init__(self, message: str, *, view: str) -> None:
        super().__init__(message)
        self.view = view


class NoSuchSource(NotFound):
    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class LandingNotFound(NotFound):
    """A source's landing folder does not exist (a typo, or a path resolved elsewhere)."""

    def __init__(self, message: str, *, source: str, location: str) -> None:
        super().__init__(message)
        self.source = source
        self.location = location


class NoSuchQuarantineRecord(NotFound):
    def __init__(self, message: str, *, record_id: int) -> None:
        super().__init__(message)
        self.record_id = record_id


class NoSuchPrincipal(NotFound):
    def __init__(self, message: str, *, principal: str) -> None:
        super().__init__(message)
        self.principal = principal


class NoSuchRole(NotFound):
    def __init__(self, message: str, *, role: str) -> None:
        super().__init__(message)
        self.role = role


class NoSuchTag(NotFound):
    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class NoSuchDataFilter(NotFound):
    def __init__(self, message: str, *, data_filter: str) -> None:
        super().__init__(message)
        self.data_filter = data_filter


class NoSuchTenant(NotFound):
    def __init__(self, message: str, *, tenant: str) -> None:
        super().__init__(message)
        self.tenant = tenant


class NoSuchMount(NotFound):
    def __init__(self, message: str, *, mount: str) -> None:
        super().__init__(message)
        self.mount = mount


class NoSuchLink(NotFound):
    def __init__(self, message: str, *, link: str) -> None:
        super().__init__(message)
        self.link = link


class NoSuchGrant(NotFound):
    """A revoke that matches no grant (of this granter, unless it manages grants)."""

    def __init__(self, message: str, *, grantee: str, securable: str) -> None:
        super().__init__(message)
        self.grantee = grantee
        self.securable = securable


class Conflict(IcehouseError):
    status = 409
    error_type = "AlreadyExistsException"


class TableAlreadyExists(Conflict):
    def __init__(self, message: str, *, table: str) -> None:
        super().__init__(message)
        self.table = table


class ViewAlreadyExists(Conflict):
    """A view or a table already has the name: in a namespace, the two share names."""

    def __init__(self, message: str, *, view: str) -> None:
        super().__init__(message)
        self.view = view


class NamespaceAlreadyExists(Conflict):
    def __init__(self, message: str, *, namespace: str) -> None:
        super().__init__(message)
        self.namespace = namespace


class NamespaceNotEmpty(Conflict):
    """Dropping a namespace that still holds tables would orphan them: drop them first."""

    error_type = "NamespaceNotEmptyException"

    def __init__(self, message: str, *, namespace: str) -> None:
        super().__init__(message)
        self.namespace = namespace


class SourceAlreadyExists(Conflict):
    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class PrincipalAlreadyExists(Conflict):
    def __init__(self, message: str, *, principal: str) -> None:
        super().__init__(message)
        self.principal = principal


class RoleAlreadyExists(Conflict):
    def __init__(self, message: str, *, role: str) -> None:
        super().__init__(message)
        self.role = role


class TagAlreadyExists(Conflict):
    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class DataFilterAlreadyExists(Conflict):
    def __init__(self, message: str, *, data_filter: str) -> None:
        super().__init__(message)
        self.data_filter = data_filter


class TenantAlreadyExists(Conflict):
    def __init__(self, message: str, *, tenant: str) -> None:
        super().__init__(message)
        self.tenant = tenant


class TenantNotEmpty(Conflict):
    """A tenant is dropped only once its principals and roles are gone, so that dropping
    one never deletes who may log in."""

    def __init__(self, message: str, *, tenant: str) -> None:
        super().__init__(message)
        self.tenant = tenant


class MountNameTaken(Conflict):
    """Mounts and top-level namespaces share one name space, so that ``cdn.t`` always
    means one thing: a mount named like a namespace, or the reverse, is refused."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class LinkNameTaken(Conflict):
    """A link shares its namespace's names with tables and views, so that ``ns.t``
    always means one thing."""

    def __init__(self, message: str, *, link: str) -> None:
        super().__init__(message)
        self.link = link


class CommitConflict(Conflict):
    """A commit lost a race that retrying cannot win (its input changed underneath it)."""

    error_type = "CommitFailedException"

    def __init__(self, message: str, *, table: str) -> None:
        super().__init__(message)
        self.table = table


class CommitRaced(CommitConflict):
    """The catalog refused a commit because the table moved since it was loaded (another
    commit won the compare-and-swap). Nothing of it landed: reload and retry, which
    ``tables.retry.retry_commit`` does. PyIceberg's ``CommitFailedException`` becomes this
    at the ``tables`` boundary, so that no caller depends on PyIceberg's exceptions."""


class RewriteConflict(CommitConflict):
    """A concurrent delete or rewrite removed files a rewrite group read: the group's
    output is deleted and the table is left as it was."""

    def __init__(self, message: str, *, table: str, files: list[str]) -> None:
        super().__init__(message, table=table)
        self.files = files


class MaintenanceBusy(Conflict):
    """Another maintainer holds the lease on this table (or partition)."""

    def __init__(self, message: str, *, table: str, holder: str) -> None:
        super().__init__(message)
        self.table = table
        self.holder = holder


class TableInUse(Conflict):
    """A table cannot be dropped or renamed while sources in ``icehouse.toml`` write to
    it (their next ingest would fail, or recreate nothing) or while ingestion has batches
    open on it (their recovery looks the table up by name)."""

    def __init__(
        self, message: str, *, table: str, sources: list[str], open_batches: list[str]
    ) -> None:
        super().__init__(message)
        self.table = table
        self.sources = sources
        self.open_batches = open_batches


class SourceInUse(Conflict):
    """A source cannot be removed while ingestion has a batch of its files open: the
    worker named in ``holders`` is writing them."""

    def __init__(self, message: str, *, source: str, holders: list[str]) -> None:
        super().__init__(message)
        self.source = source
        self.holders = holders


class CopiedHome(Conflict):
    """This home's state database was made for another home (a copy made with ``cp -a``
    or a moved folder): its catalog's tables live under that home's warehouse, so working
    here could delete that home's files. The message says which home and what to do."""

    def __init__(self, message: str, *, home: str, recorded_home: str, warehouse: str) -> None:
        super().__init__(message)
        self.home = home
        self.recorded_home = recorded_home
        self.warehouse = warehouse


class InvalidInput(IcehouseError):
    status = 400
    error_type = "BadRequestException"


class InvalidNotification(InvalidInput):
    """A storage event notification for a source that cannot be taken: a body that is
    not an S3 event (nor SNS's or MinIO's wrapping of one), or an object outside the
    source's location. The sender is told which, as it would otherwise retry forever."""

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class IdempotencyKeyReused(InvalidInput):
    """A request carried the ``Idempotency-Key`` of a different request: answering it
    with that request's outcome would be wrong, and running it would break the key's
    promise."""

    status = 422
    error_type = "UnprocessableEntityException"

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class RoleCycle(InvalidInput):
    """Role ``role`` would become a member of itself through ``member``."""

    def __init__(self, message: str, *, role: str, member: str) -> None:
        super().__init__(message)
        self.role = role
        self.member = member


class InvalidGrant(InvalidInput):
    def __init__(self, message: str, *, privilege: str, securable: str) -> None:
        super().__init__(message)
        self.privilege = privilege
        self.securable = securable


class InvalidTagValue(InvalidInput):
    def __init__(self, message: str, *, key: str, value: str) -> None:
        super().__init__(message)
        self.key = key
        self.value = value


class InvalidConfig(InvalidInput):
    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


class SetupFailed(InvalidInput):
    """``icehouse init`` could not use the state database or the warehouse it was given.

    ``service`` says which one, ``where`` names it (a database URL with its password
    masked, or a warehouse URI), ``detail`` what it answered and ``left`` what this
    attempt left behind (nothing, or e.g. a bucket it created), so that a failed setup
    never leaves a person guessing what to clean up before trying again."""

    def __init__(
        self,
        *,
        service: Literal["state database", "storage"],
        where: str,
        detail: str,
        left: tuple[str, ...] = (),
    ) -> None:
        kept = "Left behind: " + "; ".join(left) if left else "Nothing was written"
        super().__init__(f"{service} {where}: {detail}. {kept}")
        self.service = service
        self.where = where
        self.detail = detail
        self.left = left

    def leaving(self, left: tuple[str, ...]) -> SetupFailed:
        """The same failure, saying that ``left`` was left behind."""
        return SetupFailed(service=self.service, where=self.where, detail=self.detail, left=left)


class InvalidSchema(InvalidInput):
    pass


class InvalidPartitionSpec(InvalidInput):
    pass


class InvalidSortOrder(InvalidInput):
    pass


class InvalidDuration(InvalidInput):
    pass


class InvalidMapping(InvalidInput):
    def __init__(self, message: str, *, source: str, column: str | None = None) -> None:
        where = f"source {source!r}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message}")
        self.source = source
        self.column = column


class QueryError(InvalidInput):
    def __init__(self, message: str, *, sql: str) -> None:
        super().__init__(message)
        self.sql = sql


class MountedTableReadOnly(QueryError):
    """SQL that would change a table of a mounted catalog: the central lake serves a
    mount read-only, and the producer, which holds the table, decides who changes it."""

    def __init__(self, *, verb: str, table: str, mount: str, sql: str) -> None:
        super().__init__(
            f"{verb} on {table} is refused: catalog {mount} is mounted read-only here; "
            "change its tables through the producer's own catalog",
            sql=sql,
        )
        self.table = table
        self.mount = mount


class EqualityDeletesUnsupported(QueryError):
    """A planned data file has equality delete files, which icehouse cannot apply yet:
    reading the file without them would return deleted rows."""

    def __init__(self, *, table: str, data_file: str, delete_file: str, sql: str) -> None:
        super().__init__(
            f"{table}: data file {data_file} has equality delete file {delete_file}; "
            "equality deletes are not supported yet. Rewrite the table's files with an "
            "engine that applies them (e.g. Spark's rewrite_data_files) and query again",
            sql=sql,
        )
        self.table = table
        self.data_file = data_file
        self.delete_file = delete_file


class GovernanceSyntaxError(QueryError):
    """A statement that begins like a governance statement (``GRANT``, ``CREATE ROLE``,
    ``SHOW GRANTS``...) but does not parse. DuckDB never sees it, so its own error would
    only say that ``GRANT`` is unknown: this one names the character where the statement
    went wrong (``position``, from 0), what was ``expected`` there and what was
    ``found``."""

    def __init__(self, *, sql: str, position: int, expected: str, found: str) -> None:
        line = sql.count("\n", 0, position) + 1
        column = position - (sql.rfind("\n", 0, position) + 1) + 1
        super().__init__(
            f"expected {expected} at line {line}, column {column}, found {found}", sql=sql
        )
        self.position = position
        self.expected = expected
        self.found = found


class FilterNotTranslatable(InvalidInput):
    """A filter (``--where``, ``DELETE ... WHERE``) holds a term with no exact Iceberg
    expression; ``term`` is that term as SQL. Callers that must not widen or narrow what
    they touch refuse the whole filter rather than drop the term."""

    def __init__(self, message: str, *, term: str) -> None:
        super().__init__(message)
        self.term = term


class InvalidCredential(InvalidInput):
    """A client credential that cannot be used: not ``CLIENT_ID:CLIENT_SECRET``, or a
    credential file that is missing or that other users may read (a secret they could
    copy is refused, as ssh refuses such a private key). ``where`` says where it came
    from: an option, an environment variable or a file's path."""

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


class ConfirmationRequired(InvalidInput):
    """A command that destroys something was not confirmed, and there is no terminal to
    ask on (a script, a pipe): the message names the flag that confirms it."""

    def __init__(self, message: str, *, action: str) -> None:
        super().__init__(message)
        self.action = action


class ConflictingProperties(InvalidInput):
    """One update both removes and sets the same property keys: which should win is
    unknowable, so nothing is changed (the REST spec's 422)."""

    status = 422
    error_type = "UnprocessableEntityException"

    def __init__(self, message: str, *, keys: list[str]) -> None:
        super().__init__(message)
        self.keys = keys


class UnsafeMaintenance(InvalidInput):
    """A maintenance request that could destroy data still in use (the message says why
    and how to insist)."""

    def __init__(self, message: str, *, table: str) -> None:
        super().__init__(f"{table}: {message}")
        self.table = table


class OutsideWarehouse(UnsafeMaintenance):
    """A maintenance command that deletes files refused a table whose location (as this
    home's catalog records it) is not under this home's warehouse: its files may belong
    to another home."""

    def __init__(self, message: str, *, table: str, location: str, warehouse: str) -> None:
        super().__init__(message, table=table)
        self.location = location
        self.warehouse = warehouse


class MountReadOnly(IcehouseError):
    """A mounted catalog is served read-only: a commit goes to its producer, which
    holds the table (and decides who may change it)."""

    status = 501
    error_type = "NotImplementedException"

    def __init__(self, message: str, *, mount: str) -> None:
        super().__init__(message)
        self.mount = mount


class InputFileError(IcehouseError):
    status = 422
    error_type = "UnprocessableEntityException"


class UnreadableFile(InputFileError):
    """A source file that cannot be decoded as a whole (truncated stream, junk, vanished)."""

    def __init__(self, message: str, *, path: str, reason: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = reason


class ServiceUnavailable(IcehouseError):
    """The state database or the object store did not answer (refused, reset, shutting
    down, timed out, 5xx). Retrying later may work: long-running commands do so on their
    own (``icehouse.resilience``); one-shot commands end with this one-line error."""

    status = 503
    error_type = "ServiceUnavailableException"
    service = "service"

    def __init__(self, where: str, *, detail: str) -> None:
        super().__init__(
            f"{self.service} {where} is unreachable: {detail}. "
            "Check that it is running and reachable, then retry"
        )
        self.where = where
        self.detail = detail


class StateDatabaseUnavailable(ServiceUnavailable):
    """``where`` is the state database URL with its password masked."""

    service: Literal["state database"] = "state database"


class StorageUnavailable(ServiceUnavailable):
    """``where`` is the object store's endpoint (or the location that was being read)."""

    service: Literal["storage"] = "storage"


class ServerUnavailable(ServiceUnavailable):
    """``where`` is the URL of the icehouse server a client (``icehouse.connect``,
    ``icehouse sql --server``) could not reach or that answered with a 5xx."""

    service: Literal["icehouse server"] = "icehouse server"


class CatalogUnavailable(ServiceUnavailable):
    """``where`` is the mount's name and the producer's URL (``cdn_prod at http://...``):
    a producer that does not answer fails only its own objects."""

    service: Literal["catalog"] = "catalog"


class SparkUnavailable(IcehouseError):
    """Spark could not run a rewrite: pyspark or Java missing, the master or Spark Connect
    server not answering, or the catalog Spark should reach not configured. ``where`` is
    the master or Spark Connect URL; the message ends with how to fix it. Not a
    ``ServiceUnavailable``: retrying on its own does not install pyspark."""

    status = 503
    error_type = "ServiceUnavailableException"

    def __init__(self, where: str, *, detail: str, fix: str) -> None:
        super().__init__(f"Spark {where} is unavailable: {detail}. {fix}")
        self.where = where
        self.detail = detail


class SparkRewriteFailed(IcehouseError):
    """Spark ran ``rewrite_data_files`` and it failed (its first message line is kept);
    nothing was committed unless Spark's own partial progress committed groups."""

    def __init__(self, message: str, *, table: str) -> None:
        super().__init__(message)
        self.table = table


class StateError(IcehouseError):
    pass


class SealedSecretUnreadable(StateError):
    """A secret in the state database (a mount's credential) that the home's key file
    does not open: the key file is missing or belongs to another home."""

    def __init__(self, message: str, *, key_file: str) -> None:
        super().__init__(message)
        self.key_file = key_file


class CommitUncertain(IcehouseError):
    """The catalog reported a conflict, yet re-reading the table could not show that the
    commit did not land (it is there, or the table could not be read). Retrying could
    commit the same change twice, so the caller stops; the files it wrote are kept, and
    ingestion's recovery settles the batch from the table on the next run."""

    error_type = "CommitStateUnknownException"

    def __init__(self, message: str, *, table: str, snapshot_id: int) -> None:
        super().__init__(f"{table}: {message}")
        self.table = table
        self.snapshot_id = snapshot_id


class ProofFailed(IcehouseError):
    """A rewrite group's output did not match its input; nothing was committed and the
    files it wrote were deleted. This is a bug: please report it with the message."""

    def __init__(self, message: str, *, table: str, partition: str) -> None:
        super().__init__(f"{table} [{partition}]: {message}")
        self.table = table
        self.partition = partition


__all__ = [
    "CatalogUnavailable",
    "CommitConflict",
    "CommitRaced",
    "CommitUncertain",
    "ConfirmationRequired",
    "Conflict",
    "ConflictingProperties",
    "CopiedHome",
    "DataFilterAlreadyExists",
    "EqualityDeletesUnsupported",
    "FilterNotTranslatable",
    "Forbidden",
    "GovernanceSyntaxError",
    "GrantNotHeld",
    "HomeNotFound",
    "IcehouseError",
    "IdempotencyKeyReused",
    "InputFileError",
    "InvalidConfig",
    "InvalidCredential",
    "InvalidDuration",
    "InvalidGrant",
    "InvalidInput",
    "InvalidMapping",
    "InvalidNotification",
    "InvalidPartitionSpec",
    "InvalidSchema",
    "InvalidSortOrder",
    "InvalidTagValue",
    "LandingNotFound",
    "LinkNameTaken",
    "MaintenanceBusy",
    "MountNameTaken",
    "MountReadOnly",
    "MountedTableReadOnly",
    "NamespaceAlreadyExists",
    "NamespaceNotEmpty",
    "NoSuchDataFilter",
    "NoSuchGrant",
    "NoSuchLink",
    "NoSuchMount",
    "NoSuchNamespace",
    "NoSuchPrincipal",
    "NoSuchQuarantineRecord",
    "NoSuchRole",
    "NoSuchSource",
    "NoSuchTable",
    "NoSuchTag",
    "NoSuchTenant",
    "NoSuchView",
    "NotAuthenticated",
    "NotFound",
    "OutsideWarehouse",
    "PrincipalAlreadyExists",
    "ProofFailed",
    "QueryError",
    "RewriteConflict",
    "RoleAlreadyExists",
    "RoleCycle",
    "SealedSecretUnreadable",
    "ServerUnavailable",
    "ServiceUnavailable",
    "SetupFailed",
    "SourceAlreadyExists",
    "SourceInUse",
    "SparkRewriteFailed",
    "SparkUnavailable",
    "StateDatabaseUnavailable",
    "StateError",
    "StorageUnavailable",
    "TableAlreadyExists",
    "TableInUse",
    "TagAlreadyExists",
    "TenantAlreadyExists",
    "TenantNotEmpty",
    "UnreadableFile",
    "UnsafeMaintenance",
    "ViewAlreadyExists",
]
