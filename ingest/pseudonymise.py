"""Patient pseudonyms: HMAC-SHA256 of clinic_id and patient_ref under a secret key.

The key comes from `TONING_SECRET`, or from a key file (mode 0600) created on first use. It is
never logged and never written anywhere else. The HMAC is computed inside DuckDB, vectorised,
from the key's inner and outer pads (RFC 2104), so no per-row Python runs over patient data.
The pads reach DuckDB as bound values of session variables, never in the text of a statement:
DuckDB quotes the statement around an error, and the pads give the key back.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

SECRET_ENV = "TONING_SECRET"
SEPARATOR = "\x1f"  # cannot occur in an id, so (C1, 2X) and (C12, X) never collide
BLOCK_SIZE = 64
# DuckDB session variables holding the pads while a connection keys records (see `bind`).
INNER_PAD = "toning_patient_key_inner_pad"
OUTER_PAD = "toning_patient_key_outer_pad"


@dataclass(frozen=True, repr=False)
class PatientKeyer:
    secret: bytes

    def __repr__(self) -> str:  # the secret must never reach a log
        return "PatientKeyer(<secret>)"

    def key(self, clinic_id: str, patient_ref: str) -> str:
        """The pseudonym of one patient (for tests and the restricted identity store)."""
        message = f"{clinic_id}{SEPARATOR}{patient_ref}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def bind(self, con) -> None:
        """Give the DuckDB connection `con` the key's pads, which `sql()` reads: call it before
        running a statement that uses `sql()` on that connection."""
        block = self.secret
        if len(block) > BLOCK_SIZE:
            block = hashlib.sha256(block).digest()
        block = block.ljust(BLOCK_SIZE, b"\0")
        con.execute(f"set variable {INNER_PAD} = ?", [bytes(b ^ 0x36 for b in block)])
        con.execute(f"set variable {OUTER_PAD} = ?", [bytes(b ^ 0x5C for b in block)])

    def sql(self, clinic_id: str, patient_ref: str) -> str:
        """A DuckDB expression computing `key()` from two VARCHAR column expressions, on a
        connection given the key by `bind()` (without it, every key would be null)."""
        message = f"encode({clinic_id} || chr(31) || {patient_ref})"
        inner = f"unhex(sha256(getvariable('{INNER_PAD}') || {message}))"
        return f"sha256(getvariable('{OUTER_PAD}') || {inner})"


def read_keyer(key_file: Path) -> PatientKeyer | None:
    """The keyer from `TONING_SECRET`, else from `key_file`; None when there is neither."""
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return PatientKeyer(from_env.encode())
    if not key_file.exists():
        return None
    return PatientKeyer(key_file.read_text().strip().encode())


def load_keyer(key_file: Path) -> PatientKeyer:
    """The keyer from `TONING_SECRET`, else from `key_file`, creating it (0600) if missing."""
    keyer = read_keyer(key_file)
    if keyer is None:
        create_key_file(key_file)
        keyer = read_keyer(key_file)
    return keyer


def create_key_file(key_file: Path) -> None:
    """A new random key in a new file, readable by this user only from its first byte, and on
    disk before this returns (a lake keyed with it must never outlive it)."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(32))
        handle.flush()
        os.fsync(handle.fileno())
