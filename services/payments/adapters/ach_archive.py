"""The ACH archive: a copy of every NACHA file sent and every return file read, kept
encrypted at rest (AES-256-GCM, key `PAYMENTS_ACH_ARCHIVE_KEY`), owner-only (0600 files in
0700 folders).

A file is stored as `<name>.enc`: a header (`ACHA1` and a random 7-byte nonce prefix), then
chunks of up to 1 MiB, each `length (4 bytes) || ciphertext+tag`, nonce = prefix || chunk
number (4 bytes) || last flag, and the file name as associated data, so a chunk cannot be
moved, dropped, truncated off the end or swapped between files without `read` failing.
Files of millions of entries stream through in constant memory.
"""
from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.files import open_private, private_dir

MAGIC = b"ACHA1"
CHUNK = 1 << 20
SUFFIX = ".enc"


class ArchiveError(ValueError):
    """The archived copy is missing, damaged or was encrypted with another key."""


class AchArchive:
    def __init__(self, directory: Path, secret: str) -> None:
        assert secret
        self.directory = Path(directory)
        self._aead = AESGCM(hashlib.sha256(("ach-archive:" + secret).encode()).digest())

    def path(self, name: str) -> Path:
        if "/" in name or name.startswith(".") or not name:
            raise ArchiveError("not an archive file name")
        return self.directory / (name + SUFFIX)

    def _nonce(self, prefix: bytes, n: int, last: bool) -> bytes:
        return prefix + struct.pack(">IB", n, 1 if last else 0)

    def store_file(self, name: str, source: Path) -> Path:
        """Encrypt `source` into the archive under `name` (written whole, then renamed)."""
        private_dir(self.directory)
        target = self.path(name)
        part = target.with_name(target.name + ".part")
        prefix = os.urandom(7)
        aad = name.encode()
        try:
            with source.open("rb") as src, open_private(part, "wb") as out:
                out.write(MAGIC + prefix)
                n, chunk = 0, src.read(CHUNK)
                while True:
                    following = src.read(CHUNK) if len(chunk) == CHUNK else b""
                    last = not following
                    sealed = self._aead.encrypt(self._nonce(prefix, n, last), chunk, aad)
                    out.write(struct.pack(">I", len(sealed)) + sealed)
                    if last:
                        break
                    n, chunk = n + 1, following
                out.flush()
                os.fsync(out.fileno())
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return target

    def store(self, name: str, raw: bytes) -> Path:
        private_dir(self.directory)
        tmp = self.directory / f".{name}.plain"
        try:
            with open_private(tmp, "wb") as f:
                f.write(raw)
            return self.store_file(name, tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def chunks(self, name: str) -> Iterator[bytes]:
        """The archived file's plaintext, chunk by chunk (each one authenticated)."""
        try:
            f = self.path(name).open("rb")
        except FileNotFoundError:
            raise ArchiveError(f"{name} is not in the archive") from None
        with f:
            head = f.read(len(MAGIC) + 7)
            if head[:len(MAGIC)] != MAGIC:
                raise ArchiveError(f"{name}: not an archive file")
            prefix, aad, n = head[len(MAGIC):], name.encode(), 0
            while True:
                size = f.read(4)
                if len(size) != 4:
                    raise ArchiveError(f"{name}: truncated")
                sealed = f.read(struct.unpack(">I", size)[0])
                last = f.peek(1) == b""
                try:
                    yield self._aead.decrypt(self._nonce(prefix, n, last), sealed, aad)
                except Exception:  # noqa: BLE001 - InvalidTag: wrong key, damaged or cut
                    raise ArchiveError(f"{name}: chunk {n} does not authenticate") from None
                if last:
                    return
                n += 1

    def read(self, name: str) -> bytes:
        return b"".join(self.chunks(name))

    def sha256(self, name: str) -> str:
        sha = hashlib.sha256()
        for chunk in self.chunks(name):
            sha.update(chunk)
        return sha.hexdigest()
