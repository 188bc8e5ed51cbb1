"""Secrets the server must use again (a mounted catalog's credential), sealed before
they enter the state database.

A principal's secret is only ever checked, so the database keeps its hash; a producer's
credential must be sent to the producer, so it has to be recoverable. It is encrypted
(Fernet: AES-128-CBC with an HMAC-SHA256) under a key kept in the home, in a file only
its owner may read (``secrets.key``, mode 0600), never in the database: a dump or
backup of the state database (a PostgreSQL server is often shared and backed up
elsewhere) opens none of them, and the key file is what to guard with the home.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from icehouse.errors import SealedSecretUnreadable

KEY_FILE = "secrets.key"


class SecretBox:
    """Seals and opens secrets with the key file of one home (made on first sealing)."""

    def __init__(self, home: Path) -> None:
        self._path = home / KEY_FILE

    def seal(self, secret: str) -> str:
        """Returns: ``secret`` encrypted, as text fit for a database column."""
        return self._fernet(create=True).encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """Returns: the secret ``seal`` was given.
        Raises: SealedSecretUnreadable (no key file, or another home's)."""
        try:
            return self._fernet(create=False).decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealedSecretUnreadable(
                f"{self._path} does not open the stored secret (it is another home's "
                "key): restore this home's key file, or unmount and mount again",
                key_file=str(self._path),
            ) from None

    def _fernet(self, *, create: bool) -> Fernet:
        if create and not self._path.exists():
            self._make_key()
        try:
            return Fernet(self._path.read_bytes().strip())
        except FileNotFoundError:
            raise SealedSecretUnreadable(
                f"the key file {self._path} is missing, so the stored secrets cannot be "
                "opened: restore it from the home's backup, or unmount and mount again",
                key_file=str(self._path),
            ) from None

    def _make_key(self) -> None:
        """Write a new key beside the file, then link it into place: a process that
        finds the file finds it whole, and of two made at once the first one stays."""
        draft = self._path.with_name(f".{KEY_FILE}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key())
        try:
            os.link(draft, self._path)
        except FileExistsError:
            pass  # another process linked its key first: this one is not used
        finally:
            draft.unlink()
