"""Secrets at rest: webhook signing secrets and ATS credentials are stored encrypted, never as plain text.

A copy of the database (a backup, a stolen disk, a Redis dump) then holds nothing that signs webhooks or opens a
company's ATS. The keys are Fernet keys (AES-128-CBC with HMAC-SHA256, from the `cryptography` package) in a key
file only the service user can read, one per line, newest first: it is made on first start like the API key, and
`interview-server secrets rotate` adds a new key, re-encrypts every stored secret with it and drops the old ones.
Values written before sealing existed (plain text) are still read, and sealed the next time they are written or at
the next rotation.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from server.storage.private_files import private_directory, private_file, write_private

PREFIX = "sealed:v1:"


OPENED_KEPT = 1024  # sealed values `open_often` remembers (webhook endpoints' secrets)


class SealError(ValueError):
    """A sealed value that no key in the key file opens (the wrong key file, or a damaged value)."""


class Sealer:
    """Seals and opens secrets with the keys of one key file; the first key seals, every key opens."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("a sealer needs at least one key")
        self.keys = list(keys)
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._opened: dict[str, str] = {}

    @classmethod
    def generate(cls) -> Sealer:
        return cls([Fernet.generate_key()])

    @classmethod
    def from_file(cls, path: Path) -> Sealer:
        """The key file's keys; a file that does not exist yet is made (0600, its directory 0700) with one new key,
        atomically: nodes starting together on a shared file all end up with the one key that was linked in first."""
        if not path.exists():
            private_directory(path.parent)
            draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            write_private(draft, Fernet.generate_key().decode() + "\n")
            try:
                os.link(draft, path)
            except FileExistsError:
                pass  # another node made it first: use theirs
            finally:
                draft.unlink()
        private_file(path)
        keys = [line.strip().encode() for line in path.read_text().splitlines() if line.strip()]
        if not keys:
            raise SealError(f"{path} holds no key: restore it from the backup (without it no stored secret opens)")
        return cls(keys)

    def write(self, path: Path) -> None:
        write_private(path, "".join(key.decode() + "\n" for key in self.keys))

    def seal(self, plain: str) -> str:
        return PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before secrets were sealed
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SealError("a stored secret does not open with the key file's keys (INTERVIEW_SECRETS_KEY_FILE)") from exc

    def open_often(self, stored: str) -> str:
        """`open`, remembered for the values read on every webhook (an endpoint's secrets): a Fernet token opens in tens
        of microseconds, and the dispatcher reads each endpoint with every batch it claims. At most OPENED_KEPT values;
        a token is never reused for another value, so a remembered one stays right until its row changes."""
        opened = self._opened.get(stored)
        if opened is None:
            if len(self._opened) >= OPENED_KEPT:
                self._opened.clear()
            opened = self._opened[stored] = self.open(stored)
        return opened

    def reseal(self, stored: str) -> str:
        """`stored` sealed with the newest key (a plain value sealed for the first time)."""
        if not stored.startswith(PREFIX):
            return self.seal(stored)
        try:
            return PREFIX + self._fernet.rotate(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SealError("a stored secret does not open with the key file's keys (INTERVIEW_SECRETS_KEY_FILE)") from exc
