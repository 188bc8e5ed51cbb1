"""``icehouse init``: make a lake home, on a laptop or for workers on many hosts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from icehouse.cli.common import FormatOption, HomeOption, errors_to_exit
from icehouse.cli.output import Format, Output

DEFAULT_S3_REGION = "us-east-1"
"""Written when an endpoint is given without a region: S3-compatible stores (SeaweedFS,
MinIO) accept any region, and without one PyIceberg asks AWS where the bucket lives."""

StateUrlOption = Annotated[
    str | None,
    typer.Option(
        "--state-url",
        metavar="URL",
        help="The state database every worker shares, as a SQLAlchemy URL, e.g. "
        "postgresql+psycopg://icehouse@db.internal:5432/icehouse (a password may come from "
        "PGPASSWORD or ~/.pgpass instead of the URL). Default: sqlite:///state.db in the home.",
        show_default=False,
    ),
]
WarehouseOption = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        metavar="S3_URL|FOLDER",
        help="Where table data lives: s3://BUCKET/PREFIX, e.g. s3://lake/prod (the bucket is "
        "created if missing and the keys may), or a folder. Default: warehouse/ in the home.",
        show_default=False,
    ),
]
S3EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--s3-endpoint",
        metavar="URL",
        help="URL of an S3-compatible store, e.g. http://seaweedfs.internal:8333 or "
        "https://minio.internal:9000. Leave out for AWS S3.",
        show_default=False,
    ),
]
S3RegionOption = Annotated[
    str | None,
    typer.Option(
        "--s3-region",
        metavar="REGION",
        help=f"The bucket's region, e.g. eu-west-1. Default with --s3-endpoint: "
        f"{DEFAULT_S3_REGION}; on AWS, asked of AWS.",
        show_default=False,
    ),
]
S3KeyIdOption = Annotated[
    str | None,
    typer.Option(
        "--s3-access-key-id",
        metavar="KEY_ID",
        envvar="AWS_ACCESS_KEY_ID",
        help="S3 access key id, e.g. AKIAIOSFODNN7EXAMPLE; read from $AWS_ACCESS_KEY_ID "
        "when not given. Written to icehouse.toml only for an s3:// warehouse or an "
        "--s3-endpoint.",
        show_default=False,
    ),
]
S3SecretOption = Annotated[
    str | None,
    typer.Option(
        "--s3-secret-access-key",
        metavar="SECRET",
        envvar="AWS_SECRET_ACCESS_KEY",
        help="S3 secret key; best left in $AWS_SECRET_ACCESS_KEY (read from there when not "
        "given) rather than typed where shell history keeps it. Never printed; the "
        "icehouse.toml holding it is made readable by its owner only.",
        show_default=False,
    ),
]


def init(
    home: HomeOption = None,
    state_url: StateUrlOption = None,
    warehouse: WarehouseOption = None,
    s3_endpoint: S3EndpointOption = None,
    s3_region: S3RegionOption = None,
    s3_access_key_id: S3KeyIdOption = None,
    s3_secret_access_key: S3SecretOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Create a lake home: icehouse.toml, the state database and the warehouse.

    With no options: SQLite and a local folder, for one host. To scale out, name the
    shared database and warehouse, e.g.

        icehouse init --state-url postgresql+psycopg://icehouse@db:5432/icehouse \\
        --warehouse s3://lake/prod --s3-endpoint http://seaweedfs:8333

    Both are checked before the home is kept: the database is connected to and migrated;
    the bucket is created if missing, and a probe object is written, read and deleted
    under the warehouse. If either fails, the error says what failed and what was left
    behind, and no icehouse.toml is kept. An existing home is never changed."""
    from icehouse.config import resolve_home
    from icehouse.lake import Lake

    output = Output(format)
    target = resolve_home(home)
    storage = _storage(warehouse, s3_endpoint, s3_region, s3_access_key_id, s3_secret_access_key)
    with errors_to_exit(output):
        result = Lake.init(target, state_url=state_url, warehouse=warehouse, storage=storage)
    checked = any(v is not None for v in (state_url, warehouse)) or bool(storage)
    data: dict[str, object] = {"home": str(target), "created": result.created}
    if result.created and checked:
        data |= {
            "state_url": result.state_url,
            "warehouse": result.warehouse,
            "created_bucket": result.created_bucket,
        }

    def render(console: Console) -> None:
        if not result.created:
            ignored = " (the settings given were not applied: edit its icehouse.toml)"
            console.print(
                f"{target} is already a lake home; nothing changed{ignored if checked else '.'}"
            )
            return
        if checked:
            console.print(f"Created lake home {target}.")
            console.print(f"  state database {result.state_url}: connected and migrated")
            bucket = f"created bucket {result.created_bucket}; " if result.created_bucket else ""
            console.print(
                f"  warehouse {result.warehouse}: {bucket}wrote, read and deleted a probe object"
            )
            if storage and "s3.secret-access-key" in storage:
                console.print("  icehouse.toml holds the S3 secret key: readable by you only")
            console.print(f"Next: `icehouse table create ... --home {target}`", soft_wrap=True)
            return
        console.print(
            f"Created lake home {target}. Next: `icehouse table create ... --home {target}`"
        )

    output.emit(data, render)


def _storage(
    warehouse: str | None,
    endpoint: str | None,
    region: str | None,
    key_id: str | None,
    secret: str | None,
) -> dict[str, str]:
    """The ``[storage]`` settings to write. Keys (perhaps from the AWS_* environment of
    whoever runs init) are written only for a home that uses S3 at all."""
    uses_s3 = endpoint is not None or (warehouse or "").startswith(("s3://", "s3a://"))
    if not uses_s3:
        return {}
    storage: dict[str, str] = {}
    if endpoint is not None:
        storage["s3.endpoint"] = endpoint
    if region is not None or endpoint is not None:
        storage["s3.region"] = region or DEFAULT_S3_REGION
    if key_id is not None:
        storage["s3.access-key-id"] = key_id
    if secret is not None:
        storage["s3.secret-access-key"] = secret
    return storage
