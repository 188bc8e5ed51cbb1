"""Client credentials (``CLIENT_ID:CLIENT_SECRET``, from ``icehouse principal create``)
and where a command finds them.

A secret given as a command-line argument shows in ``ps`` and in shell history, so
``icehouse sql --server`` also takes it from ``ICEHOUSE_CREDENTIAL`` or from a file that
only its owner may read.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from icehouse.errors import InvalidCredential

CREDENTIAL_ENV = "ICEHOUSE_CREDENTIAL"


@dataclass(frozen=True)
class Credential:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:  # a traceback or a log line must not print the secret
        return f"Credential(client_id={self.client_id!r}, client_secret=***)"


def parse_credential(text: str, *, where: str) -> Credential:
    """``CLIENT_ID:CLIENT_SECRET`` (the id holds no colon; the secret may).

    Raises: InvalidCredential (no colon, or an empty id or secret)."""
    client_id, found, secret = text.strip().partition(":")
    if not found or not client_id or not secret:
        raise InvalidCredential(
            "a credential is CLIENT_ID:CLIENT_SECRET, as `icehouse principal create` prints them",
            where=where,
        )
    return Credential(client_id, secret)


def read_credential_file(path: Path) -> Credential:
    """The credential a file holds, refused when other users may read the file.

    Raises: InvalidCredential (missing or unreadable file, group or world permissions,
    not ``CLIENT_ID:CLIENT_SECRET``)."""
    try:
        mode = path.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InvalidCredential(
                f"permissions {stat.S_IMODE(mode):04o} are too open: other users could "
                f"read the secret. Run `chmod 600 {path}`",
                where=str(path),
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidCredential(
            f"cannot read the credential file: {exc.strerror or exc}", where=str(path)
        ) from exc
    return parse_credential(text, where=str(path))


def find_credential(
    option: str | None, *, file: Path | None, environ: dict[str, str] | None = None
) -> Credential | None:
    """The credential of the option, else of ``ICEHOUSE_CREDENTIAL``, else of the file;
    None when none is given (anonymous, for a server started with ``--allow-anonymous``).

    Raises: InvalidCredential (naming which of the three was malformed)."""
    env = os.environ if environ is None else environ
    if option is not None:
        return parse_credential(option, where="--credential")
    if env.get(CREDENTIAL_ENV):
        return parse_credential(env[CREDENTIAL_ENV], where=CREDENTIAL_ENV)
    if file is not None:
        return read_credential_file(file)
    return None
