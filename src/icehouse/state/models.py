"""Tables of the one state database (besides PyIceberg's own catalog tables).

Times are stored as UNIX epoch seconds (float) so that SQLite and PostgreSQL sort and
compare them the same way; the CLI renders them as ISO 8601 with an offset.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

schema_version = Table(
    "icehouse_schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", Float, nullable=False),
)

# The ingestion ledger and work queue in one: a row per (source, path, fingerprint).
# state: pending -> claimed -> committed | quarantined | duplicate | recopied | changed
files = Table(
    "ingest_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("path", Text, nullable=False),
    Column("fingerprint", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime", Float, nullable=False),
    Column("content_hash", String(64)),
    Column("state", String(20), nullable=False),
    Column("batch_id", String(64)),
    Column("discovered_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("rows", BigInteger),
    Column("bad_rows", BigInteger),
    Column("error", Text),
    # v2: a replay of quarantined lines: JSON list of the line numbers to take again.
    Column("replay_lines", Text),
    # v4: how this version of the path was delivered: "new", "append" (a plain
    # line-oriented file that grew: only ``start_offset`` onward was ingested), "recopy"
    # (same path, same content as its committed version), "change" (anything else).
    Column("delivery", String(20)),
    Column("start_offset", BigInteger),
    UniqueConstraint("source", "path", "fingerprint", name="uq_ingest_files_identity"),
)
Index("ix_ingest_files_state", files.c.state, files.c.source)
Index("ix_ingest_files_hash", files.c.source, files.c.content_hash)
Index("ix_ingest_files_batch", files.c.batch_id)

# v4: who ingests a content into a table. The first batch to insert (scope, hash) owns
# the content; another batch meeting the same content waits while the owner's batch is
# open or written, treats it as a duplicate once that batch committed, and takes it over
# when it aborted. ``scope`` is the table: content is ingested once per table.
contents = Table(
    "ingest_contents",
    metadata,
    Column("scope", String(400), primary_key=True),
    Column("content_hash", String(64), primary_key=True),
    Column("file_id", Integer, nullable=False),
    Column("batch_id", String(64), nullable=False),
    Column("claimed_at", Float, nullable=False),
)
Index("ix_ingest_contents_batch", contents.c.batch_id)

# A batch: files claimed together, written by a worker, committed by its table's
# committer (with other written batches of the table, in one Iceberg snapshot).
# state: open -> written -> committed; open -> aborted. A written batch records what
# its commit needs: its data files' manifests, counts, newest event per source (JSON),
# the rows it replaces (JSON: file column -> values) and when its oldest file landed.
batches = Table(
    "ingest_batches",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("table_name", String(400), nullable=False),
    Column("writer_id", String(200), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("state", String(20), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("lease_until", Float, nullable=False),
    Column("committed_at", Float),
    Column("snapshot_id", BigInteger),
    Column("rows", BigInteger),
    Column("late_rows", BigInteger),
    Column("bytes_written", BigInteger),
    Column("data_files", Text),
    Column("manifests", Text),
    Column("written_at", Float),
    Column("newest_event", Text),
    Column("replaced", Text),
    Column("oldest_landed", Float),
)
Index("ix_ingest_batches_state", batches.c.state)

# v13: who commits a table's written batches. One process per table holds a renewing
# lease; ``term`` grows by one on every takeover, so that a log line or a snapshot tells
# which tenure committed.
committers = Table(
    "ingest_committers",
    metadata,
    Column("table_name", String(400), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("lease_until", Float, nullable=False),
    Column("term", BigInteger, nullable=False),
)

# Writer slots: a process leases one; its id and sequence number are the high-water
# mark recorded in every snapshot it commits. Slots are reused so that the mark map in
# the snapshot summary stays as small as the number of concurrent writers.
writers = Table(
    "ingest_writers",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("owner", String(200)),
    Column("lease_until", Float, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
)

# Bad input kept with its reason: kind is "line" (one record) or "file" (a whole file).
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("path", Text, nullable=False),
    Column("kind", String(10), nullable=False),
    Column("line", BigInteger),
    Column("raw", Text),
    Column("reason", Text, nullable=False),
    Column("file_id", Integer),
    Column("created_at", Float, nullable=False),
    Column("replayed_at", Float),
    # v2: the ledger row of the replay that takes this record again.
    Column("replayed_by", Integer),
)
Index("ix_quarantine_source", quarantine.c.source, quarantine.c.created_at)

# v3: what each maintenance run did (``icehouse maintain history``). ``summary`` is the
# run's report as JSON (per partition files and bytes before/after, snapshots expired,
# orphans freed, manifests before/after), so new report fields need no migration.
# v4: a run is recorded as ``running`` before it changes anything (``finished_at`` is
# NULL until it ends); ``alive_until`` is pushed forward while it works, so that a run
# whose owner died reads as ``interrupted``; ``committed`` is a JSON list of what it has
# committed (or is about to delete) so far, written as it happens.
# status: running -> ok | partial | failed (interrupted is read, never written by a run)
maintenance_runs = Table(
    "maintenance_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("table_name", String(400), nullable=False),
    Column("action", String(40), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("dry_run", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("owner", String(200)),
    Column("summary", Text, nullable=False),
    Column("error", Text),
    Column("alive_until", Float),
    Column("committed", Text),
)
Index("ix_maintenance_runs_table", maintenance_runs.c.table_name, maintenance_runs.c.started_at)

# v3: one row per table (or ``table|partition``) being maintained, so that maintainers
# on several hosts never rewrite the same thing at once.
maintenance_leases = Table(
    "maintenance_leases",
    metadata,
    Column("key", String(600), primary_key=True),
    Column("owner", String(200)),
    Column("lease_until", Float, nullable=False),
)

# v4: which home this state database belongs to: the warehouse its catalog's tables
# were created under and the home folder that first opened it. A home copied with
# ``cp -a`` carries this row along; opening the copy then finds a different warehouse
# and refuses, instead of letting maintenance delete the original home's files.
home_identity = Table(
    "icehouse_home",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("home", Text, nullable=False),
    Column("warehouse", Text, nullable=False),
    Column("recorded_at", Float, nullable=False),
)

# v6: who may use the lake through the server. A principal (a user or a service) holds
# a client id and the scrypt hash of its secret (``secret_salt``, ``secret_hash``, hex):
# the secret itself is shown once, at creation or rotation, and never stored.
principals = Table(
    "principals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("secret_salt", String(64), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("admin", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("rotated_at", Float),
    # v10: the tenant the principal belongs to (NULL: the server's own).
    Column("tenant", String(200)),
)

# v6: the bearer tokens handed out by ``POST /v1/oauth/tokens``. Only the SHA-256 of a
# token is stored (a token is 256 random bits, so a fast hash cannot be searched back);
# every request looks its token up joined to its principal, so that a revoked token, an
# expired one and one whose principal was deleted stop at once.
tokens = Table(
    "principal_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("principal_id", Integer, nullable=False),
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked", Integer, nullable=False),
)
Index("ix_principal_tokens_principal", tokens.c.principal_id)

# v7: the final answer to each REST request that carried an ``Idempotency-Key``, so that
# a client retrying a commit whose answer it never saw gets that answer, not a second
# commit. ``fingerprint`` identifies the request (route and body); a row is kept until
# ``expires_at``, past the key lifetime the server advertises.
idempotency_keys = Table(
    "rest_idempotency_keys",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)
Index("ix_rest_idempotency_keys_expiry", idempotency_keys.c.expires_at)

# v7: the scan and commit reports engines send to ``POST .../metrics``, as sent
# (``report`` is its JSON), with the fields people filter on pulled out.
catalog_metrics = Table(
    "rest_metrics_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", Float, nullable=False),
    Column("table_name", String(400), nullable=False),
    Column("report_type", String(40), nullable=False),
    Column("snapshot_id", BigInteger),
    Column("operation", String(40)),
    Column("report", Text, nullable=False),
)
Index("ix_rest_metrics_reports_table", catalog_metrics.c.table_name, catalog_metrics.c.received_at)

# v8: governance. Grantees are named (principal and role names are unique); tables are
# keyed by their Iceberg table UUID and columns by (table UUID, field id), so that a
# rename by any client, or a schema change, leaves every grant, tag and filter on the
# object it was given on. ``field_id`` is 0 where the object is not a column (Iceberg
# field ids start at 1), which keeps the unique constraints free of NULLs.
roles = Table(
    "gov_roles",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created_at", Float, nullable=False),
    # v10: the tenant the role belongs to (NULL: the server's own).
    Column("tenant", String(200)),
)

# v8: a principal or a role (``member_kind``) in a role; roles nest, cycles are refused
# when a membership is added.
role_members = Table(
    "gov_role_members",
    metadata,
    Column("role", String(200), primary_key=True),
    Column("member_kind", String(20), primary_key=True),
    Column("member_name", String(200), primary_key=True),
    Column("created_at", Float, nullable=False),
)
Index("ix_gov_role_members_member", role_members.c.member_kind, role_members.c.member_name)

# v8: one privilege on one securable for one grantee, given by ``granted_by``. The key of
# a securable: the catalog's name, a namespace's dotted name, a table's or view's UUID (a
# column adds its ``field_id``), a canonical tag expression, a data filter's id. ``via``
# is the grant through which the granter held the grant option (NULL when the granter is
# an administrator or the object's owner): revoking it revokes this one too, unless the
# granter still holds the option another way.
grants = Table(
    "gov_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("grantee_kind", String(20), nullable=False),
    Column("grantee_name", String(200), nullable=False),
    Column("privilege", String(40), nullable=False),
    Column("securable_kind", String(20), nullable=False),
    Column("securable_key", String(1000), nullable=False),
    Column("field_id", Integer, nullable=False),
    Column("with_grant_option", Integer, nullable=False),
    Column("granted_by", String(200), nullable=False),
    Column("via", Integer),
    Column("created_at", Float, nullable=False),
    UniqueConstraint(
        "grantee_kind",
        "grantee_name",
        "privilege",
        "securable_kind",
        "securable_key",
        "field_id",
        "granted_by",
        name="uq_gov_grants_identity",
    ),
)
Index("ix_gov_grants_grantee", grants.c.grantee_kind, grants.c.grantee_name)
Index("ix_gov_grants_via", grants.c.via)

# v8: a tag key and the values it allows (``allowed_values``: a JSON list).
tag_keys = Table(
    "gov_tag_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("allowed_values", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

# v8: a tag on a namespace (``object_key`` its dotted name), a table (its UUID) or a
# column (its table's UUID and ``field_id``): one value per key and object.
tag_assignments = Table(
    "gov_tag_assignments",
    metadata,
    Column("object_kind", String(20), primary_key=True),
    Column("object_key", String(400), primary_key=True),
    Column("field_id", Integer, primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", String(200), nullable=False),
)
Index("ix_gov_tag_assignments_key", tag_assignments.c.key)

# v8: a named data filter on one table: ``row_filter`` is the predicate as
# ``tables.row_filters.encode_row_filter`` stores it (JSON, columns by field id; NULL:
# every row); ``column_mode`` is ``all``, ``include`` or ``exclude`` the ``field_ids``
# (a JSON list).
data_filters = Table(
    "gov_data_filters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("table_uuid", String(64), nullable=False),
    Column("row_filter", Text),
    Column("column_mode", String(10), nullable=False),
    Column("field_ids", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
)

# v8: who created a table or view (``object_kind``, ``object_key`` its UUID). The owner
# holds every privilege on it with grant option, and a view runs with its owner's rights.
owners = Table(
    "gov_owners",
    metadata,
    Column("object_kind", String(20), primary_key=True),
    Column("object_key", String(64), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
)

# v8: one row, moved by every governance change in the same transaction, so that a
# policy read into memory knows with one cheap SELECT whether it is still current.
policy_version = Table(
    "gov_policy_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

# v9: the audit trail: every authorisation decision (``kind`` ``decision``) and every
# query (``kind`` ``query``: ``statement``, ``tables`` read as a JSON list, ``rows``
# returned, ``seconds`` taken). A request's records are written together, in one
# transaction, before its answer leaves; they stay here only until they are exported
# into the Iceberg table ``icehouse_system.audit`` (whose snapshots name the highest id
# exported), so ``id`` only grows. ``filters`` is a JSON list naming the data filters a
# read went through.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("principal", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("resource", Text, nullable=False),
    Column("allowed", Integer, nullable=False),
    Column("reason", Text),
    Column("filters", Text),
    Column("statement", Text),
    Column("tables", Text),
    Column("rows", BigInteger),
    Column("seconds", Float),
    # v10: the tenant of the principal (NULL: the server's own).
    Column("tenant", String(200)),
    # SQLite would otherwise hand out the ids of deleted rows again, once the export
    # emptied the table: the export would take the new records for exported ones.
    sqlite_autoincrement=True,
)

# v10: tenants (accounts): groups of principals and roles with administrators of their
# own. A principal or role whose ``tenant`` is NULL is the server's; the server's
# administrators (``principals.admin``) create tenants. Grants to a tenant
# (``grantee_kind`` ``tenant``) are shares: its administrators re-grant them inside it.
tenants = Table(
    "gov_tenants",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created_at", Float, nullable=False),
)

# v10: the administrators of each tenant (principals of that tenant).
tenant_admins = Table(
    "gov_tenant_admins",
    metadata,
    Column("tenant", String(200), primary_key=True),
    Column("principal", String(200), primary_key=True),
    Column("created_at", Float, nullable=False),
)

# v11: producer catalogs mounted into this one (federation): another Iceberg REST
# catalog or a SQL catalog, whose namespaces appear under the mount's name. ``secret``
# holds what the server connects with (the REST credential, or the SQL URL when it
# carries a password), sealed with the home's key file (``state/secrets.py``): a copy
# of this database alone opens none of them. ``uri`` is fit to print.
mounts = Table(
    "fed_mounts",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("type", String(10), nullable=False),
    Column("uri", Text, nullable=False),
    Column("warehouse", Text),
    Column("secret", Text),
    Column("created_at", Float, nullable=False),
)

# v12: resource links: ``namespace.name`` standing for a table elsewhere (``target``,
# ``namespace.table``; ``target_catalog`` empty for this lake's own, else a mount's
# name). A link is a name only: it holds no grant and is resolved at each query under
# the reader's own grants on the target, by name, so a dropped target is simply gone.
links = Table(
    "gov_links",
    metadata,
    Column("namespace", String(200), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("target_catalog", String(200), nullable=False),
    Column("target", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
)
